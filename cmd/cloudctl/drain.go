package main

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
)

// newCordonCommand is `cloudctl cordon NAME` (unschedulable true) or
// `cloudctl uncordon NAME` (false).
func newCordonCommand(root *rootOptions, cordon bool) *cobra.Command {
	use, short, long, example := "cordon NODE", "Mark a node unschedulable",
		`Mark a node unschedulable (spec.unschedulable): the scheduler places no new
pods on it; the pods already there keep running. 'cloudctl drain' also
moves them away; 'cloudctl uncordon' undoes this.`,
		"  cloudctl cordon worker-3"
	if !cordon {
		use, short, long, example = "uncordon NODE", "Mark a node schedulable again",
			`Mark a node schedulable again (clears spec.unschedulable), after
'cloudctl cordon' or 'cloudctl drain'.`, "  cloudctl uncordon worker-3"
	}
	return &cobra.Command{
		Use: use, Short: short, Long: long, Example: example,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := root.client()
			if err != nil {
				return err
			}
			changed, err := setUnschedulable(cmd.Context(), c, args[0], cordon)
			if err != nil {
				return err
			}
			verb := map[bool]string{true: "cordoned", false: "uncordoned"}[cordon]
			if !changed {
				verb = "already " + verb
			}
			fmt.Fprintf(root.out, "node/%s %s\n", args[0], verb)
			return nil
		},
	}
}

// setUnschedulable sets a node's spec.unschedulable, retrying on conflict;
// changed is false when it already was.
func setUnschedulable(ctx context.Context, c *client.Client, name string, v bool) (changed bool, err error) {
	nodes := client.For[api.Node](c)
	for {
		n, err := nodes.Get(ctx, "", name)
		if err != nil {
			return false, err
		}
		if n.Spec.Unschedulable == v {
			return false, nil
		}
		n.Spec.Unschedulable = v
		_, err = nodes.Update(ctx, n)
		if client.IsConflict(err) {
			continue
		}
		return err == nil, err
	}
}

// drainOptions is `cloudctl drain`.
type drainOptions struct {
	root             *rootOptions
	ignoreDaemonSets bool
	force            bool
	gracePeriod      int64
	timeout          time.Duration
	poll             time.Duration
}

func newDrainOptions(root *rootOptions) *drainOptions {
	return &drainOptions{root: root, poll: time.Second}
}

func (o *drainOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "drain NODE",
		Short: "Cordon a node and move its pods away",
		Long: `Drain a node before maintenance: cordon it (see 'cloudctl cordon'), then
evict its pods so that their controllers (Jobs, ReplicaSets...) recreate
them on other nodes, and wait until they are gone.

Pods managed by a DaemonSet would be recreated on the node at once: drain
refuses to run while there are any, unless --ignore-daemonsets, which
leaves them in place. Pods no controller manages would be lost for good:
drain refuses them unless --force. Finished pods are deleted. Pods are
evicted through the eviction API, which honours PodDisruptionBudgets:
while evicting a pod would break its budget, drain retries.

Nothing is evicted if a pod is refused. The node stays cordoned when drain
fails or times out; 'cloudctl uncordon' makes it schedulable again.`,
		Example: `  # Move everything but DaemonSet pods off worker-3
  cloudctl drain worker-3 --ignore-daemonsets

  # Also delete pods no controller manages; give up after 5 minutes
  cloudctl drain worker-3 --ignore-daemonsets --force --timeout 5m`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
	f := cmd.Flags()
	f.BoolVar(&o.ignoreDaemonSets, "ignore-daemonsets", false, "leave DaemonSet-managed pods in place instead of refusing to drain")
	f.BoolVar(&o.force, "force", false, "also delete pods that no controller manages (they are not recreated)")
	f.Int64Var(&o.gracePeriod, "grace-period", -1, "seconds each pod gets to stop; -1 uses the pod's own terminationGracePeriodSeconds")
	f.DurationVar(&o.timeout, "timeout", 0, "give up after this long (0: wait for ever)")
	return cmd
}

// controllerOf is a pod's controller owner reference, or nil.
func controllerOf(p *api.Pod) *api.OwnerReference {
	for i := range p.OwnerReferences {
		if r := &p.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r
		}
	}
	return nil
}

// drainFilter sorts a node's pods: those to evict, those left in place
// (with why), and those that block the drain (with why).
func (o *drainOptions) drainFilter(pods []*api.Pod) (evict []*api.Pod, skipped, refused []string) {
	for _, p := range pods {
		name := p.Namespace + "/" + p.Name
		finished := p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed
		ref := controllerOf(p)
		switch {
		case finished:
		case ref != nil && ref.Kind == "DaemonSet":
			if o.ignoreDaemonSets {
				skipped = append(skipped, name+" (DaemonSet-managed)")
				continue
			}
			refused = append(refused, name+" (DaemonSet-managed; use --ignore-daemonsets)")
			continue
		case ref == nil && !o.force:
			refused = append(refused, name+" (not managed by a controller; use --force)")
			continue
		}
		evict = append(evict, p)
	}
	return evict, skipped, refused
}

func (o *drainOptions) run(ctx context.Context, node string) error {
	c, err := o.root.client()
	if err != nil {
		return err
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	if _, err := setUnschedulable(ctx, c, node, true); err != nil {
		return err
	}
	fmt.Fprintf(o.root.out, "node/%s cordoned\n", node)
	pods, _, err := client.For[api.Pod](c).List(ctx, "", client.ListOptions{FieldSelector: "spec.nodeName=" + node})
	if err != nil {
		return fmt.Errorf("list pods on node %s: %w", node, err)
	}
	evict, skipped, refused := o.drainFilter(pods)
	if len(refused) > 0 {
		return fmt.Errorf("cannot drain node %s, these pods would be lost or come back:\n  %s", node, strings.Join(refused, "\n  "))
	}
	if len(skipped) > 0 {
		fmt.Fprintf(o.root.errOut, "Warning: leaving in place: %s\n", strings.Join(skipped, ", "))
	}
	pending := map[string]*api.Pod{}
	for _, p := range evict {
		if err := o.evict(ctx, c, p); err != nil {
			return err
		}
		fmt.Fprintf(o.root.out, "evicting pod %s/%s\n", p.Namespace, p.Name)
		pending[p.Namespace+"/"+p.Name] = p
	}
	if err := o.waitGone(ctx, c, pending); err != nil {
		return fmt.Errorf("drain node %s: %w", node, err)
	}
	fmt.Fprintf(o.root.out, "node/%s drained\n", node)
	return nil
}

// evict asks the API to evict p, retrying while a disruption budget
// forbids it (429).
func (o *drainOptions) evict(ctx context.Context, c *client.Client, p *api.Pod) error {
	warned := false
	for {
		err := c.EvictPod(ctx, p.Namespace, p.Name, o.gracePeriodPtr())
		switch {
		case err == nil || client.IsNotFound(err):
			return nil
		case client.IsTooManyRequests(err):
			if !warned {
				fmt.Fprintf(o.root.errOut, "pod %s/%s: %v; will retry\n", p.Namespace, p.Name, err)
				warned = true
			}
		default:
			return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
		}
		if err := sleepCtx(ctx, 2*o.poll); err != nil {
			return fmt.Errorf("evict pod %s/%s: %w", p.Namespace, p.Name, err)
		}
	}
}

func (o *drainOptions) gracePeriodPtr() *int64 {
	if o.gracePeriod < 0 {
		return nil
	}
	g := o.gracePeriod
	return &g
}

// waitGone waits until each pod is gone (or replaced by another of the
// same name), printing each as it goes.
func (o *drainOptions) waitGone(ctx context.Context, c *client.Client, pending map[string]*api.Pod) error {
	pods := client.For[api.Pod](c)
	for len(pending) > 0 {
		for key, p := range pending {
			cur, err := pods.Get(ctx, p.Namespace, p.Name)
			if err != nil && !client.IsNotFound(err) {
				return err
			}
			if err != nil || cur.UID != p.UID {
				fmt.Fprintf(o.root.out, "pod/%s evicted\n", p.Name)
				delete(pending, key)
			}
		}
		if len(pending) == 0 {
			return nil
		}
		if err := sleepCtx(ctx, o.poll); err != nil {
			left := make([]string, 0, len(pending))
			for k := range pending {
				left = append(left, k)
			}
			return fmt.Errorf("%d pod(s) still terminating (%s): %w", len(pending), strings.Join(left, ", "), err)
		}
	}
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return errors.New("timed out")
		}
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
