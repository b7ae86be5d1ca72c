package main

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// autoscalerWhyOptions is `cloudctl autoscaler why`.
type autoscalerWhyOptions struct {
	root *rootOptions
	last int
}

func newAutoscalerWhyOptions(root *rootOptions) *autoscalerWhyOptions {
	return &autoscalerWhyOptions{root: root, last: 3}
}

func (o *autoscalerWhyOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "why [POOL | POD | NAMESPACE/POD]",
		Short: "Explain why the node autoscaler did (not) scale a pool, or for a pod",
		Long: `Explain the node autoscaler's last decisions about a node pool (the pools it
tried in order, why each was taken or skipped, the calls it made), or
about a pending pod (the decisions that counted it). Without an argument,
the last decisions.`,
		Example: `  cloudctl autoscaler why
  cloudctl autoscaler why private
  cloudctl autoscaler why web-5d8f -n shop
  cloudctl autoscaler why shop/web-5d8f --last 10`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("%q takes at most one pool or pod", cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			target := ""
			if len(args) == 1 {
				target = args[0]
			}
			return o.run(cmd.Context(), target)
		},
	}
	cmd.Flags().IntVar(&o.last, "last", 3, "how many decisions to explain")
	return cmd
}

func (o *autoscalerWhyOptions) run(ctx context.Context, target string) error {
	c, err := o.root.client()
	if err != nil {
		return err
	}
	v, err := loadAutoscalerView(ctx, c, false)
	if err != nil {
		return err
	}
	out := o.root.out
	if target == "" {
		return o.explain(v.decisions, func(*api.ScaleDecision) bool { return true }, "no decision recorded yet")
	}
	if !strings.Contains(target, "/") {
		if i := slices.IndexFunc(v.pools, func(p *api.NodePool) bool { return p.Name == target }); i >= 0 {
			p := v.pools[i]
			fmt.Fprintf(out, "Pool %s: priority %d, %d..%d machines, provider %s\n", p.Name, p.Spec.Priority, p.Spec.MinSize, p.Spec.MaxSize, p.Spec.Provider)
			return o.explain(v.decisions, func(d *api.ScaleDecision) bool {
				return d.Spec.Trigger.Pool == target || slices.ContainsFunc(d.Spec.Pools, func(pc api.PoolConsideration) bool { return pc.Pool == target })
			}, "no decision concerns this pool: its utilization stayed between the thresholds and no pending pod fit it")
		}
	}
	ns, name, ok := strings.Cut(target, "/")
	if !ok {
		name = target
		if ns, _, err = o.root.namespace(); err != nil {
			return err
		}
	}
	pod, err := client.For[api.Pod](c).Get(ctx, ns, name)
	if client.IsNotFound(err) {
		return fmt.Errorf("no node pool %q and no pod %s/%s", target, ns, name)
	}
	if err != nil {
		return err
	}
	key := ns + "/" + name
	switch {
	case pod.Spec.NodeName != "":
		fmt.Fprintf(out, "Pod %s is on node %s: the autoscaler has nothing to do for it\n", key, pod.Spec.NodeName)
		return nil
	case !podUnschedulable(pod):
		fmt.Fprintf(out, "Pod %s waits for the scheduler, which has not found it unschedulable\n", key)
		return nil
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type == api.PodScheduled {
			fmt.Fprintf(out, "Pod %s is unschedulable: %s\n", key, cond.Message)
		}
	}
	return o.explain(v.decisions, func(d *api.ScaleDecision) bool { return slices.Contains(d.Spec.Trigger.PendingPods, key) },
		"no decision names this pod yet (a decision names up to 20 pending pods)")
}

// explain prints the last o.last decisions that match, newest first.
func (o *autoscalerWhyOptions) explain(ds []*api.ScaleDecision, match func(*api.ScaleDecision) bool, none string) error {
	n := 0
	for i := len(ds) - 1; i >= 0 && n < o.last; i-- {
		if match(ds[i]) {
			describeDecision(o.root.out, ds[i])
			n++
		}
	}
	if n == 0 {
		fmt.Fprintln(o.root.out, none)
	}
	return nil
}
