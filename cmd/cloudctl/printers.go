package main

import (
	"encoding/json"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"sigs.k8s.io/yaml"
)

// Output formats of get (-o).
const (
	outputTable = ""
	outputWide  = "wide"
	outputYAML  = "yaml"
	outputJSON  = "json"
	outputName  = "name"
)

// validOutput checks an -o value.
func validOutput(s string) error {
	switch s {
	case outputTable, outputWide, outputYAML, outputJSON, outputName:
		return nil
	}
	return usageErrorf("unable to match a printer for output format %q: allowed formats are: json, name, wide, yaml", s)
}

// columnSet is how objects of one kind print as table rows.
type columnSet struct {
	headers []string
	// wide lists the extra headers of -o wide.
	wide []string
	// row renders one object: the cells of headers, then those of wide.
	row func(obj api.Object, now time.Time) (cells, wide []string)
}

// columnsFor picks the columns of a kind; kinds without their own print
// NAME and AGE.
func columnsFor(k *api.KindInfo) columnSet {
	switch k.Kind {
	case api.KindNamespace:
		return namespaceColumns()
	case api.KindPod:
		return podColumns()
	case api.KindNode:
		return nodeColumns()
	case api.KindEvent:
		return eventColumns()
	case api.KindTenant:
		return tenantColumns()
	case api.KindSecret:
		return secretColumns()
	case api.KindNodePool:
		return nodePoolColumns()
	case api.KindVirtualMachine:
		return virtualMachineColumns()
	case api.KindHypervisor:
		return hypervisorColumns()
	case api.KindMachine:
		return machineColumns()
	case api.KindImage:
		return imageColumns()
	case api.KindPriorityClass:
		return priorityClassColumns()
	case api.KindJob:
		return jobColumns()
	case api.KindCronJob:
		return cronJobColumns()
	case api.KindDeployment:
		return deploymentColumns()
	case api.KindReplicaSet:
		return replicaSetColumns()
	case api.KindPodDisruptionBudget:
		return podDisruptionBudgetColumns()
	case api.KindDaemonSet:
		return daemonSetColumns()
	case api.KindHorizontalPodAutoscaler:
		return hpaColumns()
	case api.KindScaleDecision:
		return scaleDecisionColumns()
	}
	return columnSet{
		headers: []string{"NAME", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			m := obj.GetObjectMeta()
			return []string{m.Name, age(m.CreationTimestamp, now)}, nil
		},
	}
}

// printOptions are the get flags that shape output.
type printOptions struct {
	output     string
	noHeaders  bool
	showLabels bool
	// withNamespace adds a NAMESPACE column for namespaced kinds (-A).
	withNamespace bool
	// single prints one object as itself, not as a List (yaml, json).
	single bool
	// stream prints each object as soon as it comes (watch): yaml
	// documents separated by ---, one JSON object after another.
	stream bool
	now    func() time.Time
}

// resourcePrinter prints groups of objects, each group of one kind.
type resourcePrinter interface {
	print(k *api.KindInfo, objs []api.Object) error
	// finish writes what print accumulated (the List of yaml and json).
	finish() error
}

// newPrinter returns the printer of opts.output.
func newPrinter(w io.Writer, opts printOptions) resourcePrinter {
	switch opts.output {
	case outputYAML, outputJSON:
		return &documentPrinter{w: w, opts: opts}
	case outputName:
		return &namePrinter{w: w}
	}
	return &tablePrinter{w: w, opts: opts}
}

// tablePrinter prints aligned columns; a change of kind starts a new
// table after a blank line, as kubectl does for "get pods,nodes".
type tablePrinter struct {
	w       io.Writer
	opts    printOptions
	kind    *api.KindInfo
	table   *table
	printed bool
}

func (p *tablePrinter) print(k *api.KindInfo, objs []api.Object) error {
	if len(objs) == 0 {
		return nil
	}
	cols := columnsFor(k)
	wide := p.opts.output == outputWide
	withNS := p.opts.withNamespace && k.Namespaced
	if p.kind != k {
		if p.printed {
			if _, err := io.WriteString(p.w, "\n"); err != nil {
				return err
			}
		}
		p.kind, p.table = k, newTable(p.w)
		if !p.opts.noHeaders {
			p.table.add(p.row(withNS, "NAMESPACE", cols.headers, cols.wide, wide, "LABELS")...)
		}
	}
	now := p.opts.now()
	for _, obj := range objs {
		cells, wideCells := cols.row(obj, now)
		m := obj.GetObjectMeta()
		p.table.add(p.row(withNS, m.Namespace, cells, wideCells, wide, labelsString(m.Labels))...)
	}
	p.printed = true
	return p.table.flush()
}

// row assembles the cells of one line: namespace, the kind's cells, the
// wide cells and the labels, as the flags ask.
func (p *tablePrinter) row(withNS bool, ns string, cells, wideCells []string, wide bool, labels string) []string {
	var row []string
	if withNS {
		row = append(row, ns)
	}
	row = append(row, cells...)
	if wide {
		row = append(row, wideCells...)
	}
	if p.opts.showLabels {
		row = append(row, labels)
	}
	return row
}

func (p *tablePrinter) finish() error { return nil }

// namePrinter prints kind/name lines.
type namePrinter struct{ w io.Writer }

func (p *namePrinter) print(k *api.KindInfo, objs []api.Object) error {
	for _, obj := range objs {
		if _, err := fmt.Fprintln(p.w, objectName(k, obj)); err != nil {
			return err
		}
	}
	return nil
}

func (p *namePrinter) finish() error { return nil }

// documentPrinter prints YAML or JSON: one object, a List of all, or a
// stream of objects while watching.
type documentPrinter struct {
	w     io.Writer
	opts  printOptions
	items []api.Object
}

func (p *documentPrinter) print(k *api.KindInfo, objs []api.Object) error {
	for _, obj := range objs {
		// List items from the server may lack their type.
		if tm := obj.GetTypeMeta(); tm.Kind == "" {
			tm.APIVersion, tm.Kind = k.APIVersion(), k.Kind
		}
		if p.opts.stream {
			if err := p.write(obj, true); err != nil {
				return err
			}
			continue
		}
		p.items = append(p.items, obj)
	}
	return nil
}

func (p *documentPrinter) finish() error {
	if p.opts.stream {
		return nil
	}
	if p.opts.single && len(p.items) == 1 {
		return p.write(p.items[0], false)
	}
	items := make([]any, len(p.items))
	for i, obj := range p.items {
		items[i] = obj
	}
	list := map[string]any{
		"apiVersion": "v1",
		"kind":       "List",
		"items":      items,
		"metadata":   map[string]any{"resourceVersion": ""},
	}
	return p.write(list, false)
}

func (p *documentPrinter) write(v any, separate bool) error {
	var data []byte
	var err error
	if p.opts.output == outputYAML {
		data, err = yaml.Marshal(v)
		if err == nil && separate {
			data = append([]byte("---\n"), data...)
		}
	} else {
		data, err = json.MarshalIndent(v, "", "    ")
		data = append(data, '\n')
	}
	if err != nil {
		return fmt.Errorf("encode %s: %w", p.opts.output, err)
	}
	_, err = p.w.Write(data)
	return err
}

// labelsString renders labels as "a=1,b=2" in key order, "<none>" when empty.
func labelsString(labels map[string]string) string {
	if len(labels) == 0 {
		return "<none>"
	}
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + "=" + labels[k]
	}
	return strings.Join(parts, ",")
}

// orNone is s, or "<none>" when s is empty.
func orNone(s string) string {
	if s == "" {
		return "<none>"
	}
	return s
}
