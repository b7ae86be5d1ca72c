package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"sort"
	"strings"
	"text/tabwriter"
	"time"
	"unicode"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
)

// describeOptions is `cloudctl describe`.
type describeOptions struct {
	root          *rootOptions
	labelSelector string
}

func newDescribeOptions(root *rootOptions) *describeOptions { return &describeOptions{root: root} }

func (o *describeOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "describe TYPE [NAME...] | TYPE/NAME...",
		Short: "Show details of resources, with their events",
		Long: `Show a human-readable description of resources: their metadata, what
matters of their spec and status (for a pod: node, IP, containers with
their image, ports, resources and state, conditions, tolerations and node
selector; for a node: conditions, addresses, capacity and allocatable), and
the events that concern them.

Without NAME, every object of the type in the namespace is described.`,
		Example: `  # Describe a pod
  cloudctl describe pod web

  # Describe a node
  cloudctl describe node/node-1

  # Describe every pod labelled app=web
  cloudctl describe pods -l app=web`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args) },
	}
	cmd.Flags().StringVarP(&o.labelSelector, "selector", "l", "", "label selector of the objects to describe, when no NAME is given")
	return cmd
}

func (o *describeOptions) run(ctx context.Context, args []string) error {
	reqs, err := o.root.parseResourceArgs(args)
	if err != nil {
		return err
	}
	if hasNames(reqs) && o.labelSelector != "" {
		return usageErrorf("name cannot be provided when a selector is specified")
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	g := &getOptions{root: o.root, labelSelector: o.labelSelector}
	ns, err := g.listNamespace(reqs)
	if err != nil {
		return err
	}
	failed, first := false, true
	for _, r := range reqs {
		objs, ok := g.fetch(ctx, c, r, ns)
		failed = failed || !ok
		for _, obj := range objs {
			if !first {
				fmt.Fprintln(o.root.out)
			}
			first = false
			if err := o.describe(ctx, c, r.kind, obj); err != nil {
				return err
			}
		}
	}
	if first && !failed {
		g.noResources(reqs, ns)
	}
	if failed {
		return errReported
	}
	return nil
}

// describe writes the description of one object and its events.
func (o *describeOptions) describe(ctx context.Context, c *client.Client, k *api.KindInfo, obj api.Object) error {
	d := newDescriber(o.root.now(), o.root.loc)
	switch v := obj.(type) {
	case *api.Pod:
		d.pod(v)
	case *api.Node:
		d.node(v)
	case *api.Secret:
		d.secret(k, v)
	case *api.PriorityClass:
		d.priorityClass(v)
	case *api.Namespace:
		d.namespace(v)
	case *api.Deployment:
		d.deployment(k, v)
	case *api.ReplicaSet:
		d.replicaSet(k, v)
	case *api.PodDisruptionBudget:
		d.podDisruptionBudget(k, v)
	case *api.HorizontalPodAutoscaler:
		d.horizontalPodAutoscaler(k, v)
	case *api.Hypervisor:
		vms, err := vmsOnHypervisor(ctx, c, v.Name)
		if err != nil {
			fmt.Fprintf(o.root.errOut, "warning: cannot list the VMs on %s: %v\n", objectName(k, obj), err)
		}
		d.hypervisor(k, v, vms)
	default:
		if err := d.generic(k, obj); err != nil {
			return err
		}
	}
	events, err := o.events(ctx, c, k, obj)
	if err != nil {
		fmt.Fprintf(o.root.errOut, "warning: cannot list the events of %s: %v\n", objectName(k, obj), err)
	} else {
		d.events(events)
	}
	return d.flush(o.root.out)
}

// events lists the events about obj, sorted by when they last happened. It
// asks the server to select them by involvedObject.name and, if the server
// does not know that field selector, lists them all and filters here.
func (o *describeOptions) events(ctx context.Context, c *client.Client, k *api.KindInfo, obj api.Object) ([]*api.Event, error) {
	ek, ok := o.root.scheme.Lookup("events")
	if !ok {
		return nil, fmt.Errorf("no events kind in the scheme")
	}
	m := obj.GetObjectMeta()
	opts := client.ListOptions{FieldSelector: "involvedObject.name=" + m.Name}
	items, _, err := c.List(ctx, ek, m.Namespace, opts)
	if client.Code(err) == 400 {
		items, _, err = c.List(ctx, ek, m.Namespace, client.ListOptions{})
	}
	if err != nil {
		return nil, err
	}
	var out []*api.Event
	for _, it := range items {
		e, ok := it.(*api.Event)
		if !ok {
			continue
		}
		ref := e.InvolvedObject
		if ref.Name != m.Name || (ref.Kind != "" && ref.Kind != k.Kind) ||
			(k.Namespaced && ref.Namespace != "" && ref.Namespace != m.Namespace) ||
			(ref.UID != "" && m.UID != "" && ref.UID != m.UID) {
			continue
		}
		out = append(out, e)
	}
	sort.SliceStable(out, func(i, j int) bool { return eventLastSeen(out[i]).Before(eventLastSeen(out[j]).Time) })
	return out, nil
}

// describer builds a description with kubectl's layout: "Key:\tvalue"
// lines aligned by a tab writer, nested levels indented by two spaces.
type describer struct {
	buf bytes.Buffer
	tw  *tabwriter.Writer
	now time.Time
	loc *time.Location
}

func newDescriber(now time.Time, loc *time.Location) *describer {
	d := &describer{now: now, loc: loc}
	d.tw = tabwriter.NewWriter(&d.buf, 0, 8, 2, ' ', 0)
	return d
}

// line writes one line at an indentation level.
func (d *describer) line(level int, format string, args ...any) {
	fmt.Fprintf(d.tw, strings.Repeat("  ", level)+format+"\n", args...)
}

// flush writes the description to w.
func (d *describer) flush(w io.Writer) error {
	if err := d.tw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(d.buf.Bytes())
	return err
}

// time renders a timestamp as kubectl does ("Mon, 02 Jan 2006 15:04:05 -0700").
func (d *describer) time(t api.Time) string {
	if t.IsZero() {
		return "<unset>"
	}
	return t.In(d.loc).Format(time.RFC1123Z)
}

// stringMap writes a map as "Key:\tk=v" with one pair a line, as kubectl
// writes labels.
func (d *describer) stringMap(level int, title string, m map[string]string) {
	if len(m) == 0 {
		d.line(level, "%s:\t<none>", title)
		return
	}
	keys := sortedKeys(m)
	for i, k := range keys {
		if i == 0 {
			d.line(level, "%s:\t%s=%s", title, k, m[k])
			continue
		}
		d.line(level, "\t%s=%s", k, m[k])
	}
}

// resourceList writes amounts of resources, one a line.
func (d *describer) resourceList(level int, title string, l api.ResourceList) {
	if len(l) == 0 {
		return
	}
	d.line(level, "%s:", title)
	for _, k := range sortedKeys(l) {
		d.line(level+1, "%s:\t%s", k, l[k].String())
	}
}

// meta writes the metadata every description starts with.
func (d *describer) meta(k *api.KindInfo, m *api.ObjectMeta) {
	d.line(0, "Name:\t%s", m.Name)
	if k.Namespaced {
		d.line(0, "Namespace:\t%s", m.Namespace)
	}
	d.stringMap(0, "Labels", m.Labels)
	d.stringMap(0, "Annotations", m.Annotations)
	d.line(0, "CreationTimestamp:\t%s", d.time(m.CreationTimestamp))
	if m.DeletionTimestamp != nil {
		d.line(0, "DeletionTimestamp:\t%s", d.time(*m.DeletionTimestamp))
	}
	if len(m.Finalizers) > 0 {
		d.line(0, "Finalizers:\t%s", strings.Join(m.Finalizers, ", "))
	}
}

// events writes the Events table.
func (d *describer) events(events []*api.Event) {
	if len(events) == 0 {
		d.line(0, "Events:\t<none>")
		return
	}
	d.line(0, "Events:")
	d.line(1, "Type\tReason\tAge\tFrom\tMessage")
	d.line(1, "----\t------\t----\t----\t-------")
	for _, e := range events {
		from := e.Source.Component
		if from == "" {
			from = e.ReportingComponent
		}
		d.line(1, "%s\t%s\t%s\t%s\t%s", e.Type, e.Reason, d.eventAge(e), from, strings.TrimSpace(e.Message))
	}
}

// eventAge is "10s", or "2m (x3 over 5m)" for a repeated event.
func (d *describer) eventAge(e *api.Event) string {
	last := age(eventLastSeen(e), d.now)
	if e.Count > 1 && !e.FirstTimestamp.IsZero() {
		return fmt.Sprintf("%s (x%d over %s)", last, e.Count, age(e.FirstTimestamp, d.now))
	}
	return last
}

// generic describes a kind without its own describer: the metadata, then
// spec, status and any other field as nested "Title Case:" lines. Field
// names are title-cased; keys of maps (selectors, labels) are data and
// print as they are.
func (d *describer) generic(k *api.KindInfo, obj api.Object) error {
	d.meta(k, obj.GetObjectMeta())
	data, err := json.Marshal(obj)
	if err != nil {
		return fmt.Errorf("encode %s: %w", k.Kind, err)
	}
	var fields map[string]any
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber() // print 1000000, not 1e+06
	if err := dec.Decode(&fields); err != nil {
		return fmt.Errorf("decode %s: %w", k.Kind, err)
	}
	for _, key := range []string{"apiVersion", "kind", "metadata"} {
		delete(fields, key)
	}
	d.value(0, fields, reflect.TypeOf(obj))
	return nil
}

// value writes a decoded JSON value; t is the Go type it was encoded
// from, which tells struct fields from map keys.
func (d *describer) value(level int, v any, t reflect.Type) {
	t = derefType(t)
	switch v := v.(type) {
	case map[string]any:
		isMap := t != nil && t.Kind() == reflect.Map
		for _, key := range sortedKeys(v) {
			title, ct := key, reflect.Type(nil)
			if isMap {
				ct = t.Elem()
			} else {
				title, ct = titleCase(key), jsonFieldType(t, key)
			}
			switch child := v[key].(type) {
			case map[string]any, []any:
				d.line(level, "%s:", title)
				d.value(level+1, child, ct)
			default:
				d.line(level, "%s:\t%v", title, child)
			}
		}
	case []any:
		var et reflect.Type
		if t != nil && (t.Kind() == reflect.Slice || t.Kind() == reflect.Array) {
			et = t.Elem()
		}
		for _, item := range v {
			if m, ok := item.(map[string]any); ok {
				d.value(level, m, et)
				continue
			}
			d.line(level, "%v", item)
		}
	}
}

// derefType strips pointers.
func derefType(t reflect.Type) reflect.Type {
	for t != nil && t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	return t
}

// jsonFieldType is the type of the field of struct t encoded as name,
// looking into inlined embedded structs; nil when unknown.
func jsonFieldType(t reflect.Type, name string) reflect.Type {
	t = derefType(t)
	if t == nil || t.Kind() != reflect.Struct {
		return nil
	}
	for i := range t.NumField() {
		f := t.Field(i)
		tag, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if tag == name || (tag == "" && f.Name == name) {
			return f.Type
		}
		if f.Anonymous && tag == "" {
			if ft := jsonFieldType(f.Type, name); ft != nil {
				return ft
			}
		}
	}
	return nil
}

// titleCase turns a JSON field name into kubectl's describe title:
// "minSize" becomes "Min Size".
func titleCase(s string) string {
	var b strings.Builder
	for i, r := range s {
		switch {
		case i == 0:
			b.WriteRune(unicode.ToUpper(r))
		case unicode.IsUpper(r) && !unicode.IsUpper(rune(s[i-1])):
			b.WriteByte(' ')
			b.WriteRune(r)
		default:
			b.WriteRune(r)
		}
	}
	return b.String()
}

// sortedKeys returns the keys of a map in order.
func sortedKeys[V any, M ~map[string]V](m M) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
