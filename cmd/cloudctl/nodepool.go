package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
)

// newNodePoolCommand is `cloudctl nodepool`.
func newNodePoolCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "nodepool",
		Aliases: []string{"np"},
		Short:   "Manage node pools: groups of VMs that join as nodes (administrators only)",
		Long: `Manage node pools. A NodePool is a group of like VMs from one provider
(libvirt hypervisors, a cloud) that boot cloudlet and join as nodes. The
NodePool controller keeps spec.replicas VMs (between --min and --max),
replaces VMs that never join or disappear, and on scale-down cordons and
drains a node (PodDisruptionBudgets are honoured) before deleting its VM.
List pools with 'cloudctl get nodepools'.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newNodePoolCreateOptions(root).command(), newNodePoolScaleCommand(root), newNodePoolDeleteOptions(root).command(),
		newKindGetCommand(root, "nodepools", "nodepool", "List node pools (as 'cloudctl get nodepools')",
			"  cloudctl nodepool get\n  cloudctl nodepool get web -o yaml"))
	return cmd
}

// nodePoolCreateOptions is `cloudctl nodepool create`.
type nodePoolCreateOptions struct {
	root                      *rootOptions
	provider, flavor, image   string
	network, memory           string
	hypervisors, labels       []string
	taints                    []string
	replicas, vcpus, min, max int32
	priority                  int32
	joinTimeout               time.Duration
}

func newNodePoolCreateOptions(root *rootOptions) *nodePoolCreateOptions {
	return &nodePoolCreateOptions{root: root}
}

func (o *nodePoolCreateOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a node pool",
		Long: `Create a node pool of --replicas VMs of --vcpus and --memory (or --flavor)
from --provider, placed on the hypervisors named by --hypervisor (any
registered one when none is given). --min and --max bound what the node
autoscaler and 'cloudctl nodepool scale' may set (default: --max is the
larger of --replicas and 1). Every node gets the --label labels and the
--taint taints.`,
		Example: `  # One VM of 1 vCPU and 512 MiB on the local hypervisor
  cloudctl nodepool create web --provider libvirt --hypervisor local --replicas 1 --vcpus 1 --memory 512Mi

  # A pool the autoscaler may grow to 10, with labelled and tainted nodes
  cloudctl nodepool create batch --replicas 2 --min 1 --max 10 --vcpus 2 --memory 2Gi \
      --label tier=batch --taint dedicated=batch:NoSchedule --priority 10`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.provider, "provider", "libvirt", "the provider of the VMs: libvirt, or one cloudd's config file declares (an OpenStack cloud, a simulator)")
	f.StringSliceVar(&o.hypervisors, "hypervisor", nil, "a hypervisor the VMs may go on (repeatable; default: any)")
	f.Int32Var(&o.replicas, "replicas", 1, "how many VMs")
	f.Int32Var(&o.vcpus, "vcpus", 1, "virtual CPUs of each VM (unless --flavor)")
	f.StringVar(&o.memory, "memory", "512Mi", "memory of each VM (unless --flavor)")
	f.StringVar(&o.flavor, "flavor", "", "a provider flavor instead of --vcpus and --memory")
	f.Int32Var(&o.min, "min", 0, "the smallest size")
	f.Int32Var(&o.max, "max", 0, "the largest size (default: the larger of --replicas and 1)")
	f.StringVar(&o.image, "image", "", "the VM image (default: the provider's node image)")
	f.StringVar(&o.network, "network", "", `where the NICs go: "" user-mode, "network:NAME" or "bridge:NAME"`)
	f.StringArrayVar(&o.labels, "label", nil, "a KEY=VALUE label for the nodes (repeatable)")
	f.StringArrayVar(&o.taints, "taint", nil, "a KEY[=VALUE]:EFFECT taint for the nodes (repeatable)")
	f.Int32Var(&o.priority, "priority", 0, "order among pools when growing: lower first")
	f.DurationVar(&o.joinTimeout, "join-timeout", 0, "how long a new VM has to join before it is replaced (default 10m)")
	return cmd
}

func (o *nodePoolCreateOptions) run(cmd *cobra.Command, name string) error {
	spec := api.NodePoolSpec{Provider: o.provider, Flavor: o.flavor, Image: o.image, Network: o.network,
		Hypervisors: o.hypervisors, MinSize: o.min, MaxSize: o.max, Priority: o.priority}
	if o.replicas < 0 {
		return usageErrorf("--replicas must be >= 0")
	}
	r := o.replicas
	spec.Replicas = &r
	if !cmd.Flags().Changed("max") {
		spec.MaxSize = max(o.replicas, o.min, 1)
	}
	if o.flavor == "" {
		q, err := api.ParseQuantity(o.memory)
		if err != nil {
			return usageErrorf("--memory: %v", err)
		}
		spec.VCPUs, spec.Memory = o.vcpus, q
	}
	if o.joinTimeout > 0 {
		spec.JoinTimeoutSeconds = int32(o.joinTimeout / time.Second)
	}
	var err error
	if spec.Labels, err = parseLabelFlags(o.labels); err != nil {
		return err
	}
	if spec.Taints, err = parseTaintFlags(o.taints); err != nil {
		return err
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	np := &api.NodePool{ObjectMeta: api.ObjectMeta{Name: name}, Spec: spec}
	if _, err := client.For[api.NodePool](c).Create(cmd.Context(), np); err != nil {
		return err
	}
	fmt.Fprintf(o.root.out, "nodepool/%s created\n", name)
	return nil
}

// parseTaintFlags reads KEY[=VALUE]:EFFECT flags.
func parseTaintFlags(flags []string) ([]api.Taint, error) {
	var out []api.Taint
	for _, s := range flags {
		kv, eff, ok := strings.Cut(s, ":")
		k, v, _ := strings.Cut(kv, "=")
		e := api.TaintEffect(eff)
		if !ok || k == "" || e != api.TaintEffectNoSchedule && e != api.TaintEffectPreferNoSchedule && e != api.TaintEffectNoExecute {
			return nil, usageErrorf("--taint %q: want KEY[=VALUE]:EFFECT with EFFECT NoSchedule, PreferNoSchedule or NoExecute", s)
		}
		out = append(out, api.Taint{Key: k, Value: v, Effect: e})
	}
	return out, nil
}

// newNodePoolScaleCommand is `cloudctl nodepool scale`.
func newNodePoolScaleCommand(root *rootOptions) *cobra.Command {
	replicas := int32(-1)
	cmd := &cobra.Command{
		Use:   "scale NAME --replicas N",
		Short: "Set the number of VMs of a node pool",
		Long: `Set spec.replicas of a node pool. The controller adds VMs, or cordons,
drains and deletes the surplus: VMs that have not joined go first, then
the newest. The size stays within the pool's min and max.`,
		Example: `  # Grow pool web to 3 VMs
  cloudctl nodepool scale web --replicas 3

  # Drain and delete all of them
  cloudctl nodepool scale web --replicas 0`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if replicas < 0 {
				return usageErrorf("--replicas=N is required, and N must be >= 0")
			}
			c, err := root.client()
			if err != nil {
				return err
			}
			k, err := c.KindOf(&api.NodePool{})
			if err != nil {
				return err
			}
			var pool *api.NodePool
			err = updateObject(cmd.Context(), c, k, "", args[0], func(obj api.Object) error {
				pool = obj.(*api.NodePool)
				n := replicas
				pool.Spec.Replicas = &n
				return nil
			})
			if err != nil {
				return err
			}
			if replicas < pool.Spec.MinSize || replicas > pool.Spec.MaxSize {
				fmt.Fprintf(root.errOut, "Warning: %d is outside the pool's size range %d..%d; the pool keeps %d VMs\n",
					replicas, pool.Spec.MinSize, pool.Spec.MaxSize, min(max(replicas, pool.Spec.MinSize), pool.Spec.MaxSize))
			}
			fmt.Fprintf(root.out, "nodepool/%s scaled\n", args[0])
			return nil
		},
	}
	cmd.Flags().Int32Var(&replicas, "replicas", -1, "the new number of VMs (required, >= 0)")
	return cmd
}

// nodePoolDeleteOptions is `cloudctl nodepool delete`.
type nodePoolDeleteOptions struct {
	root    *rootOptions
	wait    bool
	timeout time.Duration
	poll    time.Duration
}

func newNodePoolDeleteOptions(root *rootOptions) *nodePoolDeleteOptions {
	return &nodePoolDeleteOptions{root: root, wait: true, poll: time.Second}
}

func (o *nodePoolDeleteOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a node pool, draining and deleting its VMs",
		Long: `Delete a node pool. Its nodes are cordoned and drained and its VMs deleted
before the pool goes; by default the command waits for that and prints
the progress (--wait=false returns at once).`,
		Example: `  cloudctl nodepool delete web

  # Do not wait; give up waiting after 10 minutes otherwise
  cloudctl nodepool delete web --wait=false
  cloudctl nodepool delete web --timeout 10m`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
	cmd.Flags().BoolVar(&o.wait, "wait", true, "wait until the VMs and the pool are gone")
	cmd.Flags().DurationVar(&o.timeout, "timeout", 0, "give up waiting after this long (0: wait for ever)")
	return cmd
}

func (o *nodePoolDeleteOptions) run(ctx context.Context, name string) error {
	c, err := o.root.client()
	if err != nil {
		return err
	}
	pools := client.For[api.NodePool](c)
	if err := pools.Delete(ctx, "", name, client.DeleteOptions{}); err != nil {
		return err
	}
	if !o.wait {
		fmt.Fprintf(o.root.out, "nodepool/%s deleted\n", name)
		return nil
	}
	if o.timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, o.timeout)
		defer cancel()
	}
	last := -1
	for {
		_, err := pools.Get(ctx, "", name)
		if client.IsNotFound(err) {
			fmt.Fprintf(o.root.out, "nodepool/%s deleted\n", name)
			return nil
		}
		if err != nil {
			return err
		}
		ms, _, err := client.For[api.Machine](c).List(ctx, "", client.ListOptions{LabelSelector: api.LabelNodePool + "=" + name})
		if err != nil {
			return err
		}
		if len(ms) != last {
			last = len(ms)
			fmt.Fprintf(o.root.out, "nodepool/%s: %d VM(s) left to drain and delete\n", name, last)
		}
		if err := sleepCtx(ctx, o.poll); err != nil {
			return fmt.Errorf("waiting for node pool %s to go: %w", name, err)
		}
	}
}

// newKindGetCommand is a `get` under a kind's own command (`cloudctl vm
// get`): 'cloudctl get RESOURCE [NAME]' with its flags.
func newKindGetCommand(root *rootOptions, resource, singular, short, example string) *cobra.Command {
	g := newGetOptions(root)
	cmd := &cobra.Command{
		Use:     "get [NAME]",
		Short:   short,
		Example: example,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) > 1 {
				return usageErrorf("%q takes at most one %s name", cmd.CommandPath(), singular)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			return g.run(cmd.Context(), append([]string{resource}, args...))
		},
	}
	g.addFlags(cmd.Flags())
	return cmd
}
