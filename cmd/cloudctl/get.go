package main

import (
	"context"
	"fmt"
	"sort"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

// getOptions is `cloudctl get`.
type getOptions struct {
	root          *rootOptions
	allNamespaces bool
	labelSelector string
	fieldSelector string
	output        string
	watch         bool
	noHeaders     bool
	showLabels    bool
}

func newGetOptions(root *rootOptions) *getOptions { return &getOptions{root: root} }

func (o *getOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "get TYPE[,TYPE...] [NAME...] | TYPE/NAME...",
		Short: "Display one or many resources",
		Long: `Display one or many resources.

TYPE is any name of a resource type: its kind, singular, plural or short
name, optionally with its API group (pod, pods, po, nodepools,
nodepools.iaas.cloudmgr.dev). Without NAME, every object of the type in the
namespace is listed; -l and --field-selector narrow the list on the server.

Field selectors the server knows: metadata.name and metadata.namespace for
every type; spec.nodeName and status.phase for pods; involvedObject.name
and involvedObject.kind for events.

With --watch, the objects are listed and then one line is printed for every
change, until interrupted.`,
		Example: `  # List the pods of the current namespace
  cloudctl get pods

  # List the pods of every namespace, with their IP and node
  cloudctl get pods -A -o wide

  # Show one node pool as YAML
  cloudctl get nodepool pool-a -o yaml

  # List running pods labelled app=web and watch for changes
  cloudctl get pods -l app=web --field-selector status.phase=Running -w

  # Print the names of several objects of several types
  cloudctl get pod/web node/node-1 -o name`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args) },
	}
	o.addFlags(cmd.Flags())
	return cmd
}

// addFlags declares the listing flags, shared with `tenant list`.
func (o *getOptions) addFlags(f *pflag.FlagSet) {
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "list the objects of every namespace")
	f.StringVarP(&o.labelSelector, "selector", "l", "", "label selector, like 'app=web,tier!=db' or 'env in (dev,qa)'")
	f.StringVar(&o.fieldSelector, "field-selector", "", "field selector, like 'spec.nodeName=node-1,status.phase=Running'")
	f.StringVarP(&o.output, "output", "o", "", "output format: wide, yaml, json or name (default: a table)")
	f.BoolVarP(&o.watch, "watch", "w", false, "after listing, print changes until interrupted")
	f.BoolVar(&o.noHeaders, "no-headers", false, "print tables without their header line")
	f.BoolVar(&o.showLabels, "show-labels", false, "add a LABELS column to tables")
}

func (o *getOptions) run(ctx context.Context, args []string) error {
	if err := validOutput(o.output); err != nil {
		return err
	}
	reqs, err := o.root.parseResourceArgs(args)
	if err != nil {
		return err
	}
	if hasNames(reqs) && (o.labelSelector != "" || o.fieldSelector != "") {
		return usageErrorf("name cannot be provided when a selector is specified")
	}
	for _, r := range reqs {
		if o.allNamespaces && r.kind.Namespaced && len(r.names) > 0 {
			return usageErrorf("a resource cannot be retrieved by name across all namespaces")
		}
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	ns, err := o.listNamespace(reqs)
	if err != nil {
		return err
	}
	if o.watch {
		if len(reqs) != 1 || len(reqs[0].names) > 1 {
			return usageErrorf("watch is only supported on one resource type, and at most one name")
		}
		return o.runWatch(ctx, c, reqs[0], ns)
	}
	p := newPrinter(o.root.out, o.printOptions(len(reqs) == 1 && len(reqs[0].names) == 1, false))
	total, failed := 0, false
	for _, r := range reqs {
		objs, ok := o.fetch(ctx, c, r, ns)
		failed = failed || !ok
		total += len(objs)
		if err := p.print(r.kind, objs); err != nil {
			return err
		}
	}
	if err := p.finish(); err != nil {
		return err
	}
	if total == 0 && !failed {
		o.noResources(reqs, ns)
	}
	if failed {
		return errReported
	}
	return nil
}

// listNamespace is the namespace the requests of namespaced kinds go to:
// "" with -A.
func (o *getOptions) listNamespace(reqs []resourceRequest) (string, error) {
	if o.allNamespaces {
		return "", nil
	}
	for _, r := range reqs {
		if r.kind.Namespaced {
			ns, _, err := o.root.namespace()
			return ns, err
		}
	}
	return "", nil
}

// fetch gets the named objects of a request or lists its kind. Failures to
// get a name are printed and reported by ok, so the others still print.
func (o *getOptions) fetch(ctx context.Context, c *client.Client, r resourceRequest, ns string) (objs []api.Object, ok bool) {
	if !r.kind.Namespaced {
		ns = ""
	}
	if len(r.names) == 0 {
		objs, _, err := c.List(ctx, r.kind, ns, client.ListOptions{LabelSelector: o.labelSelector, FieldSelector: o.fieldSelector})
		if err != nil {
			printError(o.root.errOut, err)
			return nil, false
		}
		if r.kind.Kind == api.KindEvent {
			sortEvents(objs)
		}
		return objs, true
	}
	ok = true
	for _, name := range r.names {
		obj := r.kind.New()
		if err := c.Get(ctx, r.kind, ns, name, obj); err != nil {
			printError(o.root.errOut, err)
			ok = false
			continue
		}
		objs = append(objs, obj)
	}
	return objs, ok
}

func (o *getOptions) printOptions(single, stream bool) printOptions {
	return printOptions{
		output:        o.output,
		noHeaders:     o.noHeaders,
		showLabels:    o.showLabels,
		withNamespace: o.allNamespaces,
		single:        single,
		stream:        stream,
		now:           o.root.now,
	}
}

// noResources tells, on stderr, that nothing matched, as kubectl does.
func (o *getOptions) noResources(reqs []resourceRequest, ns string) {
	if o.output == outputYAML || o.output == outputJSON {
		return
	}
	for _, r := range reqs {
		if r.kind.Namespaced && ns != "" {
			fmt.Fprintf(o.root.errOut, "No resources found in %s namespace.\n", ns)
			return
		}
	}
	fmt.Fprintln(o.root.errOut, "No resources found")
}

// sortEvents orders a list of events by when they last happened, oldest
// first, as `kubectl events` does: the newest end up next to the prompt.
func sortEvents(objs []api.Object) {
	sort.SliceStable(objs, func(i, j int) bool {
		a, aok := objs[i].(*api.Event)
		b, bok := objs[j].(*api.Event)
		return aok && bok && eventLastSeen(a).Before(eventLastSeen(b).Time)
	})
}
