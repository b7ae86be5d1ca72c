package main

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/spf13/cobra"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// unknownUsage stands for a figure not measured yet, as kubectl prints it.
const unknownUsage = "<unknown>"

// newTopCommand is `cloudctl top`: CPU and memory use of nodes and pods.
func newTopCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "top",
		Short: "Display CPU and memory use of nodes or pods",
		Long: `Display the CPU and memory use of nodes or pods, as the node agents
measure it from cgroup counters every few seconds (cloudlet
--usage-interval, 10s by default).

CPU is in cores averaged over the last interval (250m is a quarter of a
core); memory is the working set (usage less inactive file cache), in
mebibytes, as kubectl top shows it.`,
		Example: `  # CPU and memory of every node, with the share of allocatable
  cloudctl top nodes

  # CPU and memory of the pods of the current namespace
  cloudctl top pods

  # Per container, in every namespace
  cloudctl top pods -A --containers`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newTopNodesOptions(root).command(), newTopPodsOptions(root).command())
	return cmd
}

// topNodesOptions is `cloudctl top nodes`.
type topNodesOptions struct {
	root      *rootOptions
	noHeaders bool
	sortBy    string
}

func newTopNodesOptions(root *rootOptions) *topNodesOptions { return &topNodesOptions{root: root} }

func (o *topNodesOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "nodes [NAME]",
		Aliases: []string{"node", "no"},
		Short:   "Display CPU and memory use of nodes",
		Long: `Display the CPU and memory use of nodes, from each Node's status.usage,
which its agent writes every few seconds. CPU(%) and MEMORY(%) are shares
of the node's allocatable. A node that has reported no usage yet shows
<unknown>.`,
		Example: `  # Every node
  cloudctl top nodes

  # One node
  cloudctl top node worker-1

  # Busiest first
  cloudctl top nodes --sort-by cpu`,
		Args: atMostOneName,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args) },
	}
	cmd.Flags().BoolVar(&o.noHeaders, "no-headers", false, "print the table without its header line")
	cmd.Flags().StringVar(&o.sortBy, "sort-by", "", "sort by cpu or memory, highest first (default: by name)")
	return cmd
}

func (o *topNodesOptions) run(ctx context.Context, args []string) error {
	if err := validSortBy(o.sortBy); err != nil {
		return err
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	nodes := client.For[api.Node](c)
	var list []*api.Node
	if len(args) == 1 {
		n, err := nodes.Get(ctx, "", args[0])
		if err != nil {
			return err
		}
		list = []*api.Node{n}
	} else if list, _, err = nodes.List(ctx, "", client.ListOptions{}); err != nil {
		return err
	}
	if len(list) == 0 {
		fmt.Fprintln(o.root.errOut, "No resources found")
		return nil
	}
	// Measured nodes first (sorted), then the unmeasured ones by name, as
	// kubectl does.
	slices.SortFunc(list, func(a, b *api.Node) int {
		ua, ub := a.Status.Usage, b.Status.Usage
		if (ua == nil) != (ub == nil) {
			if ua == nil {
				return 1
			}
			return -1
		}
		if ua != nil && o.sortBy != "" {
			if c := compareUsage(ub.Node, ua.Node, o.sortBy); c != 0 {
				return c
			}
		}
		return cmp.Compare(a.Name, b.Name)
	})
	t := newTable(o.root.out)
	if !o.noHeaders {
		t.add("NAME", "CPU(cores)", "CPU(%)", "MEMORY(bytes)", "MEMORY(%)")
	}
	for _, n := range list {
		u := n.Status.Usage
		if u == nil || u.Node == nil {
			t.add(n.Name, unknownUsage, unknownUsage, unknownUsage, unknownUsage)
			continue
		}
		cpu, mem := u.Node.Cpu(), u.Node.Memory()
		alloc := n.Status.Allocatable
		t.add(n.Name, formatCPU(cpu), percent(cpu.MilliValue(), alloc.Cpu().MilliValue()),
			formatMemory(mem), percent(mem.Value(), alloc.Memory().Value()))
	}
	return t.flush()
}

// topPodsOptions is `cloudctl top pods`.
type topPodsOptions struct {
	root          *rootOptions
	allNamespaces bool
	containers    bool
	noHeaders     bool
	sortBy        string
}

func newTopPodsOptions(root *rootOptions) *topPodsOptions { return &topPodsOptions{root: root} }

func (o *topPodsOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:     "pods [NAME]",
		Aliases: []string{"pod", "po"},
		Short:   "Display CPU and memory use of pods",
		Long: `Display the CPU and memory use of the pods of a namespace (or of every
namespace with -A), as their nodes measured it over the last interval,
summed over each pod's containers, or per container with --containers.
A pod appears once its node has measured it over one full interval.`,
		Example: `  # The pods of the current namespace
  cloudctl top pods

  # One pod, per container
  cloudctl top pod web-7f9c --containers

  # Every namespace, most memory first
  cloudctl top pods -A --sort-by memory`,
		Args: atMostOneName,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args) },
	}
	f := cmd.Flags()
	f.BoolVarP(&o.allNamespaces, "all-namespaces", "A", false, "show the pods of every namespace")
	f.BoolVar(&o.containers, "containers", false, "show each container's use instead of the pod's sum")
	f.BoolVar(&o.noHeaders, "no-headers", false, "print the table without its header line")
	f.StringVar(&o.sortBy, "sort-by", "", "sort by cpu or memory, highest first (default: by namespace and name)")
	return cmd
}

func (o *topPodsOptions) run(ctx context.Context, args []string) error {
	if err := validSortBy(o.sortBy); err != nil {
		return err
	}
	if o.allNamespaces && len(args) > 0 {
		return usageErrorf("a pod name cannot be given with --all-namespaces")
	}
	ns := ""
	if !o.allNamespaces {
		var err error
		if ns, _, err = o.root.namespace(); err != nil {
			return err
		}
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	list, err := c.PodMetrics(ctx, ns)
	if err != nil {
		return err
	}
	pods := list.Items
	if len(args) == 1 {
		pods = slices.DeleteFunc(pods, func(p api.PodMetrics) bool { return p.Name != args[0] })
		if len(pods) == 0 {
			return fmt.Errorf("metrics not available for pod %s/%s: it does not exist, is not running, or its node has not measured it yet", ns, args[0])
		}
	}
	if len(pods) == 0 {
		if o.allNamespaces {
			fmt.Fprintln(o.root.errOut, "No resources found")
		} else {
			fmt.Fprintf(o.root.errOut, "No resources found in %s namespace.\n", ns)
		}
		return nil
	}
	slices.SortStableFunc(pods, func(a, b api.PodMetrics) int {
		if o.sortBy != "" {
			if c := compareUsage(podSum(&b), podSum(&a), o.sortBy); c != 0 {
				return c
			}
		}
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name))
	})
	t := newTable(o.root.out)
	if !o.noHeaders {
		var head []string
		if o.allNamespaces {
			head = append(head, "NAMESPACE")
		}
		if o.containers {
			head = append(head, "POD")
		}
		t.add(append(head, "NAME", "CPU(cores)", "MEMORY(bytes)")...)
	}
	for i := range pods {
		p := &pods[i]
		var lead []string
		if o.allNamespaces {
			lead = append(lead, p.Namespace)
		}
		if !o.containers {
			sum := podSum(p)
			t.add(append(lead, p.Name, formatCPU(sum.Cpu()), formatMemory(sum.Memory()))...)
			continue
		}
		for _, c := range p.Containers {
			t.add(append(slices.Clone(lead), p.Name, c.Name, formatCPU(c.Usage.Cpu()), formatMemory(c.Usage.Memory()))...)
		}
	}
	return t.flush()
}

// podSum adds up a pod's containers.
func podSum(p *api.PodMetrics) api.ResourceList {
	cpu, mem := api.NewMilliQuantity(0, api.DecimalSI), api.NewQuantity(0, api.BinarySI)
	for _, c := range p.Containers {
		cpu, mem = cpu.Add(c.Usage.Cpu()), mem.Add(c.Usage.Memory())
	}
	return api.ResourceList{api.ResourceCPU: cpu, api.ResourceMemory: mem}
}

func validSortBy(s string) error {
	switch s {
	case "", "cpu", "memory":
		return nil
	}
	return usageErrorf("invalid --sort-by %q: must be cpu or memory", s)
}

// compareUsage compares one resource of two usages.
func compareUsage(a, b api.ResourceList, by string) int {
	if by == "cpu" {
		return a.Cpu().Cmp(b.Cpu())
	}
	return a.Memory().Cmp(b.Memory())
}

// formatCPU prints cores in millicores, as kubectl top: "250m".
func formatCPU(q api.Quantity) string { return fmt.Sprintf("%dm", q.MilliValue()) }

// formatMemory prints bytes in mebibytes, as kubectl top: "128Mi".
func formatMemory(q api.Quantity) string { return fmt.Sprintf("%dMi", q.Value()/(1<<20)) }

// percent is used/total as a whole percentage, or <unknown> without a total.
func percent(used, total int64) string {
	if total <= 0 {
		return unknownUsage
	}
	return fmt.Sprintf("%d%%", used*100/total)
}

// atMostOneName accepts zero or one NAME argument.
func atMostOneName(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return usageErrorf("%q accepts at most one NAME, received %q", cmd.CommandPath(), args)
	}
	return nil
}
