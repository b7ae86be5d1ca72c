package main

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// newAutoscalerCommand is `cloudctl autoscaler`: what the node autoscaler
// sees and why it did (not) scale.
func newAutoscalerCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "autoscaler",
		Short: "Show the node autoscaler's view and explain its decisions (administrators only)",
		Long: `The node autoscaler grows NodePools when their nodes' CPU stays at or above
80% or pods cannot be placed (private pools first, then public ones) and
shrinks them when nodes idle (public first). It records every decision,
and every decision not to act while a trigger held, as a ScaleDecision
('cloudctl get scaledecisions').`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newAutoscalerStatusOptions(root).command(), newAutoscalerWhyOptions(root).command())
	return cmd
}

// autoscalerStatusOptions is `cloudctl autoscaler status`.
type autoscalerStatusOptions struct {
	root      *rootOptions
	decisions int
}

func newAutoscalerStatusOptions(root *rootOptions) *autoscalerStatusOptions {
	return &autoscalerStatusOptions{root: root, decisions: 5}
}

func (o *autoscalerStatusOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the pools, their CPU utilization, the pending pods and the last decisions",
		Example: `  cloudctl autoscaler status
  cloudctl autoscaler status --decisions 20`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().IntVar(&o.decisions, "decisions", 5, "how many of the last decisions to show")
	return cmd
}

// autoscalerView is what status and why read.
type autoscalerView struct {
	pools     []*api.NodePool
	machines  []*api.Machine
	nodes     []*api.Node
	pods      []*api.Pod
	decisions []*api.ScaleDecision // oldest first
}

func loadAutoscalerView(ctx context.Context, c *client.Client, withPods bool) (*autoscalerView, error) {
	v := &autoscalerView{}
	var err error
	if v.pools, _, err = client.For[api.NodePool](c).List(ctx, "", client.ListOptions{}); err != nil {
		return nil, err
	}
	if v.machines, _, err = client.For[api.Machine](c).List(ctx, "", client.ListOptions{}); err != nil {
		return nil, err
	}
	if v.nodes, _, err = client.For[api.Node](c).List(ctx, "", client.ListOptions{LabelSelector: api.LabelNodePool}); err != nil {
		return nil, err
	}
	if withPods {
		if v.pods, _, err = client.For[api.Pod](c).List(ctx, "", client.ListOptions{}); err != nil {
			return nil, err
		}
	}
	if v.decisions, _, err = client.For[api.ScaleDecision](c).List(ctx, "", client.ListOptions{}); err != nil {
		return nil, err
	}
	slices.SortStableFunc(v.decisions, func(a, b *api.ScaleDecision) int {
		if c := a.Spec.DecidedTime.Compare(b.Spec.DecidedTime.Time); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
	return v, nil
}

func (o *autoscalerStatusOptions) run(ctx context.Context) error {
	c, err := o.root.client()
	if err != nil {
		return err
	}
	v, err := loadAutoscalerView(ctx, c, true)
	if err != nil {
		return err
	}
	slices.SortFunc(v.pools, func(a, b *api.NodePool) int {
		if a.Spec.Priority != b.Spec.Priority {
			return int(a.Spec.Priority - b.Spec.Priority)
		}
		return strings.Compare(a.Name, b.Name)
	})
	out := o.root.out
	tw := newTable(out)
	tw.add("POOL", "PRIORITY", "PROVIDER", "MIN", "MAX", "REPLICAS", "READY", "BOOTING", "CPU")
	for _, p := range v.pools {
		used, alloc, ready := int64(0), int64(0), 0
		for _, n := range v.nodes {
			if n.Labels[api.LabelNodePool] != p.Name || !nodeIsReady(n) {
				continue
			}
			ready++
			if n.Status.Usage == nil {
				continue
			}
			if q, ok := n.Status.Usage.Pods[api.ResourceCPU]; ok {
				a := n.Status.Allocatable[api.ResourceCPU]
				used, alloc = used+q.MilliValue(), alloc+a.MilliValue()
			}
		}
		booting := 0
		for _, m := range v.machines {
			if m.Labels[api.LabelNodePool] == p.Name && m.DeletionTimestamp == nil &&
				m.Status.Phase != api.MachineJoined && m.Status.Phase != api.MachineFailed {
				booting++
			}
		}
		cpu := "-"
		if alloc > 0 {
			cpu = fmt.Sprintf("%d%%", used*100/alloc)
		}
		replicas := p.Spec.MinSize
		if p.Spec.Replicas != nil {
			replicas = *p.Spec.Replicas
		}
		tw.add(p.Name, fmt.Sprint(p.Spec.Priority), p.Spec.Provider, fmt.Sprint(p.Spec.MinSize), fmt.Sprint(p.Spec.MaxSize),
			fmt.Sprint(replicas), fmt.Sprint(ready), fmt.Sprint(booting), cpu)
	}
	if err := tw.flush(); err != nil {
		return err
	}
	var pending []string
	for _, p := range v.pods {
		if podUnschedulable(p) {
			pending = append(pending, p.Namespace+"/"+p.Name)
		}
	}
	fmt.Fprintf(out, "\nPending (unschedulable) pods: %d", len(pending))
	if len(pending) > 0 {
		fmt.Fprintf(out, ": %s", strings.Join(pending[:min(len(pending), 10)], ", "))
		if len(pending) > 10 {
			fmt.Fprint(out, ", ...")
		}
	}
	fmt.Fprintln(out)
	fmt.Fprintf(out, "\nLast decisions (of %d kept):\n", len(v.decisions))
	if len(v.decisions) == 0 {
		fmt.Fprintln(out, "  none")
	}
	for _, d := range v.decisions[max(0, len(v.decisions)-o.decisions):] {
		fmt.Fprintf(out, "  %s\n", decisionLine(d))
	}
	return nil
}

func nodeIsReady(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == api.NodeReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

func podUnschedulable(p *api.Pod) bool {
	if p.Spec.NodeName != "" || p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodScheduled {
			return c.Status == api.ConditionFalse && c.Reason == api.PodReasonUnschedulable
		}
	}
	return false
}

// decisionLine is one decision in a line.
func decisionLine(d *api.ScaleDecision) string {
	s := d.Spec
	trig := string(s.Trigger.Type)
	switch s.Trigger.Type {
	case api.TriggerUtilization:
		trig = fmt.Sprintf("pool %s at %.0f%% CPU (>= %.0f%% for %ds)", s.Trigger.Pool, s.Trigger.UtilizationPercent, s.Trigger.ThresholdPercent, s.Trigger.WindowSeconds)
	case api.TriggerPendingPods:
		trig = fmt.Sprintf("%d pending pods", s.Trigger.PendingCount)
	case api.TriggerUnderutilized:
		trig = fmt.Sprintf("node %s of %s at %.0f%% CPU (< %.0f%% for %ds)", s.Trigger.Node, s.Trigger.Pool, s.Trigger.UtilizationPercent, s.Trigger.ThresholdPercent, s.Trigger.WindowSeconds)
	}
	var what string
	switch s.Outcome.Type {
	case api.OutcomeScaledUp:
		what = fmt.Sprintf("scaled up %s by %d", s.Outcome.Pool, s.Outcome.Delta)
	case api.OutcomeScaledDown:
		what = fmt.Sprintf("scaled down %s: node %s", s.Outcome.Pool, s.Outcome.Node)
	default:
		what = fmt.Sprintf("no action: %s", s.Outcome.Reason)
		if s.Outcome.Message != "" {
			what += " (" + s.Outcome.Message + ")"
		}
	}
	return fmt.Sprintf("%s  %s: %s", s.DecidedTime.UTC().Format("2006-01-02 15:04:05"), trig, what)
}

// describeDecision prints a decision with the pools it considered and the
// calls it made.
func describeDecision(out io.Writer, d *api.ScaleDecision) {
	fmt.Fprintf(out, "%s (%s)\n", decisionLine(d), d.Name)
	for _, pc := range d.Spec.Pools {
		mark := "skipped"
		if pc.Taken {
			mark = "taken"
		}
		msg := pc.Reason
		if pc.Message != "" {
			msg += ": " + pc.Message
		}
		fmt.Fprintf(out, "    pool %s (priority %d): %s, %s\n", pc.Pool, pc.Priority, mark, msg)
	}
	for _, call := range d.Spec.Calls {
		res := "ok"
		if call.Error != "" {
			res = call.Error
		}
		fmt.Fprintf(out, "    call %s %s: %s (%d ms)\n", call.Operation, call.Pool, res, call.DurationMilliseconds)
	}
}
