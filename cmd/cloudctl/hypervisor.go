package main

import (
	"context"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// newHypervisorCommand is `cloudctl hypervisor`: operators register and
// remove the hosts VMs run on.
func newHypervisorCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hypervisor",
		Short: "Register and remove hypervisors (administrators only)",
		Long: `Register and remove the hypervisors (libvirt/KVM hosts) that VMs and node
pools are placed on. List them with 'cloudctl get hypervisors' and look at one
with 'cloudctl describe hypervisor NAME'.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(newHypervisorAddOptions(root).command(), newHypervisorRemoveOptions(root).command())
	return cmd
}

// hypervisorAddOptions is `cloudctl hypervisor add`.
type hypervisorAddOptions struct {
	root        *rootOptions
	uri         string
	provider    string
	labels      []string
	cpuRatio    string
	memoryRatio string
}

func newHypervisorAddOptions(root *rootOptions) *hypervisorAddOptions {
	return &hypervisorAddOptions{root: root}
}

func (o *hypervisorAddOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "add NAME --uri URI",
		Short: "Register a hypervisor",
		Long: `Register a hypervisor by its libvirt connection URI. The hypervisor
controller then reads its capacity (CPUs, memory) and host name, and keeps
its Reachable condition; VMs are placed on it once it is reachable.
--cpu-ratio and --memory-ratio are the overcommit factors placement applies
to its capacity (default 1.0).`,
		Example: `  # The local libvirtd
  cloudctl hypervisor add local --uri qemu:///system

  # A remote host over TCP, labelled with its zone and rack, CPU overcommitted 4x
  cloudctl hypervisor add hv-7 --uri qemu+tcp://10.0.0.7/system --label zone=a --label rack=r2 --cpu-ratio 4`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.uri, "uri", "", "libvirt connection URI: qemu:///system, qemu+tcp://HOST/system, qemu+ssh://USER@HOST/system")
	f.StringVar(&o.provider, "provider", "libvirt", "the provider that drives the hypervisor")
	f.StringArrayVar(&o.labels, "label", nil, "a label KEY=VALUE of the hypervisor, for node pools' hypervisor selectors; repeatable")
	f.StringVar(&o.cpuRatio, "cpu-ratio", "", "CPU overcommit factor, a decimal number greater than 0 (default 1.0)")
	f.StringVar(&o.memoryRatio, "memory-ratio", "", "memory overcommit factor, a decimal number greater than 0 (default 1.0)")
	return cmd
}

func (o *hypervisorAddOptions) run(ctx context.Context, name string) error {
	if o.uri == "" {
		return usageErrorf("--uri is required")
	}
	labels, err := parseLabelFlags(o.labels)
	if err != nil {
		return err
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	h := &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.HypervisorSpec{
		URI: o.uri, Provider: o.provider, Labels: labels,
		CPUAllocationRatio: o.cpuRatio, MemoryAllocationRatio: o.memoryRatio,
	}}
	if _, err := client.For[api.Hypervisor](c).Create(ctx, h); err != nil {
		return err
	}
	fmt.Fprintf(o.root.out, "hypervisor/%s added\n", name)
	return nil
}

// parseLabelFlags reads repeated KEY=VALUE flags.
func parseLabelFlags(flags []string) (map[string]string, error) {
	if len(flags) == 0 {
		return nil, nil
	}
	out := make(map[string]string, len(flags))
	for _, kv := range flags {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageErrorf("--label %q: must be KEY=VALUE", kv)
		}
		out[k] = v
	}
	return out, nil
}

// hypervisorRemoveOptions is `cloudctl hypervisor remove`.
type hypervisorRemoveOptions struct {
	root  *rootOptions
	force bool
}

func newHypervisorRemoveOptions(root *rootOptions) *hypervisorRemoveOptions {
	return &hypervisorRemoveOptions{root: root}
}

func (o *hypervisorRemoveOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "remove NAME",
		Short: "Remove a hypervisor",
		Long: `Remove a hypervisor from the inventory. It is refused while Machines or
VirtualMachines are on it, since they would no longer be watched; scale their
node pools down or delete them first, or pass --force to remove it anyway
(the VMs keep running on the host, unmanaged).`,
		Example: `  cloudctl hypervisor remove hv-7`,
		Args:    exactArgs(1),
		RunE:    func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
	cmd.Flags().BoolVar(&o.force, "force", false, "remove the hypervisor even though VMs are on it")
	return cmd
}

func (o *hypervisorRemoveOptions) run(ctx context.Context, name string) error {
	c, err := o.root.client()
	if err != nil {
		return err
	}
	hvs := client.For[api.Hypervisor](c)
	if _, err := hvs.Get(ctx, "", name); err != nil {
		return err
	}
	if !o.force {
		on, err := vmsOnHypervisor(ctx, c, name)
		if err != nil {
			return err
		}
		if len(on) > 0 {
			shown := on
			if len(shown) > 5 {
				shown = append(shown[:5:5], "...")
			}
			return fmt.Errorf("hypervisor %q still has %d VM(s) on it (%s): delete them or scale their node pools down first, or pass --force",
				name, len(on), strings.Join(shown, ", "))
		}
	}
	if err := hvs.Delete(ctx, "", name, client.DeleteOptions{}); err != nil {
		return err
	}
	fmt.Fprintf(o.root.out, "hypervisor/%s removed\n", name)
	return nil
}

// vmsOnHypervisor names the Machines and VirtualMachines placed on the
// hypervisor, except failed ones (nothing of them is left on the host).
func vmsOnHypervisor(ctx context.Context, c *client.Client, name string) ([]string, error) {
	machines, _, err := client.For[api.Machine](c).List(ctx, "", client.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list machines: %w", err)
	}
	var out []string
	for _, m := range machines {
		if m.Spec.Hypervisor == name && m.Status.Phase != api.MachineFailed {
			out = append(out, "machine/"+m.Name)
		}
	}
	vms, _, err := client.For[api.VirtualMachine](c).List(ctx, "", client.ListOptions{})
	if err != nil {
		return nil, fmt.Errorf("list virtual machines: %w", err)
	}
	for _, vm := range vms {
		if vm.Status.Hypervisor == name && vm.Status.Phase != api.VMFailed {
			out = append(out, "virtualmachine/"+vm.Namespace+"/"+vm.Name)
		}
	}
	sort.Strings(out)
	return out, nil
}
