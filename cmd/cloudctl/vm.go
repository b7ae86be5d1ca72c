package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
)

// annotationVMRestart is the annotation `vm restart` sets; the
// VirtualMachine controller (iaas/vm.AnnotationRestart) reboots the VM and
// removes it.
const annotationVMRestart = "iaas.cloudmgr.dev/restart-requested"

// newVMCommand is `cloudctl vm`.
func newVMCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "vm",
		Aliases: []string{"vms", "virtualmachine"},
		Short:   "Manage virtual machines: create, get, start, stop, restart, delete, console-log",
		Long: `Manage VirtualMachines, VMs run beside pods in the current namespace
(-n to choose another). A tenant sees and changes only the VMs of its own
namespaces.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newVMCreateOptions(root).command(),
		newKindGetCommand(root, "virtualmachines", "VM", "List VMs or show one (as 'cloudctl get vm')",
			"  cloudctl vm get\n  cloudctl vm get db -o yaml"),
		newVMPowerCommand(root, "start", "Power a VM on (spec.running=true)", true),
		newVMPowerCommand(root, "stop", "Power a VM off, keeping it and its disk (spec.running=false)", false),
		newVMRestartCommand(root),
		newVMDeleteOptions(root).command(),
		newVMConsoleLogCommand(root),
	)
	return cmd
}

// vmCreateOptions is `cloudctl vm create`.
type vmCreateOptions struct {
	root                             *rootOptions
	vcpus                            int32
	memory, image, hypervisor        string
	flavor, provider, network, udata string
	stopped                          bool
}

func newVMCreateOptions(root *rootOptions) *vmCreateOptions { return &vmCreateOptions{root: root} }

func (o *vmCreateOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a VM",
		Long: `Create a VM of --vcpus and --memory (or a provider --flavor) from --image.
It is placed on a hypervisor with room (--hypervisor pins one) and powered
on unless --stopped. --user-data-file puts a cloud-init user-data file on
its config drive.`,
		Example: `  # A small VM
  cloudctl vm create db --vcpus 1 --memory 512Mi --image debian-12.qcow2

  # Pinned to hypervisor hv-2, created powered off, with cloud-init user data
  cloudctl vm create web --vcpus 2 --memory 2Gi --image debian-12.qcow2 --hypervisor hv-2 --stopped \
      --user-data-file cloud-init.yaml`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
	f := cmd.Flags()
	f.Int32Var(&o.vcpus, "vcpus", 1, "virtual CPUs (unless --flavor)")
	f.StringVar(&o.memory, "memory", "512Mi", "memory (unless --flavor)")
	f.StringVar(&o.flavor, "flavor", "", "a provider flavor instead of --vcpus and --memory")
	f.StringVar(&o.image, "image", "", "the disk image")
	f.StringVar(&o.hypervisor, "hypervisor", "", "pin the VM to this hypervisor")
	f.StringVar(&o.provider, "provider", "", "the provider (default: the control plane's default, libvirt)")
	f.StringVar(&o.network, "network", "", `where the NIC goes: "" user-mode, "network:NAME" or "bridge:NAME"`)
	f.StringVar(&o.udata, "user-data-file", "", "a cloud-init user-data file for the config drive")
	f.BoolVar(&o.stopped, "stopped", false, "create it powered off")
	return cmd
}

func (o *vmCreateOptions) run(ctx context.Context, name string) error {
	running := !o.stopped
	spec := api.VirtualMachineSpec{Provider: o.provider, Flavor: o.flavor, Image: o.image, Hypervisor: o.hypervisor,
		Network: o.network, Running: &running}
	if o.flavor == "" {
		q, err := api.ParseQuantity(o.memory)
		if err != nil {
			return usageErrorf("--memory: %v", err)
		}
		spec.CPUs, spec.Memory = o.vcpus, q
	}
	if o.udata != "" {
		b, err := os.ReadFile(o.udata)
		if err != nil {
			return fmt.Errorf("--user-data-file: %w", err)
		}
		spec.UserData = string(b)
	}
	c, ns, err := o.root.clientAndNamespace()
	if err != nil {
		return err
	}
	vm := &api.VirtualMachine{ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns}, Spec: spec}
	if _, err := client.For[api.VirtualMachine](c).Create(ctx, vm); err != nil {
		return err
	}
	fmt.Fprintf(o.root.out, "virtualmachine/%s created\n", name)
	return nil
}

// updateVM changes a VM through f, retrying on conflicts.
func updateVM(ctx context.Context, root *rootOptions, name string, f func(*api.VirtualMachine)) error {
	c, ns, err := root.clientAndNamespace()
	if err != nil {
		return err
	}
	k, err := c.KindOf(&api.VirtualMachine{})
	if err != nil {
		return err
	}
	return updateObject(ctx, c, k, ns, name, func(obj api.Object) error { f(obj.(*api.VirtualMachine)); return nil })
}

// newVMPowerCommand is `cloudctl vm start` or `vm stop`.
func newVMPowerCommand(root *rootOptions, verb, short string, on bool) *cobra.Command {
	return &cobra.Command{
		Use:     verb + " NAME",
		Short:   short,
		Example: "  cloudctl vm " + verb + " db",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			err := updateVM(cmd.Context(), root, args[0], func(vm *api.VirtualMachine) { vm.Spec.Running = &on })
			if err != nil {
				return err
			}
			done := map[bool]string{true: "started", false: "stopped"}[on]
			fmt.Fprintf(root.out, "virtualmachine/%s %s\n", args[0], done)
			return nil
		},
	}
}

// newVMRestartCommand is `cloudctl vm restart`: it sets the restart
// annotation, which the controller acts on and removes.
func newVMRestartCommand(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "restart NAME",
		Short: "Reboot a VM",
		Long: `Reboot a VM. This sets the annotation ` + annotationVMRestart + ` to the
time of the request; the controller reboots the VM (or starts it, if it
was stopped and spec.running is true) and removes the annotation.`,
		Example: "  cloudctl vm restart db",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			at := time.Now().UTC().Format(time.RFC3339)
			err := updateVM(cmd.Context(), root, args[0], func(vm *api.VirtualMachine) {
				if vm.Annotations == nil {
					vm.Annotations = map[string]string{}
				}
				vm.Annotations[annotationVMRestart] = at
			})
			if err != nil {
				return err
			}
			fmt.Fprintf(root.out, "virtualmachine/%s restarting\n", args[0])
			return nil
		},
	}
}

// vmDeleteOptions is `cloudctl vm delete`.
type vmDeleteOptions struct {
	root *rootOptions
	wait bool
	poll time.Duration
}

func newVMDeleteOptions(root *rootOptions) *vmDeleteOptions {
	return &vmDeleteOptions{root: root, wait: true, poll: 500 * time.Millisecond}
}

func (o *vmDeleteOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "delete NAME",
		Short: "Delete a VM and its disk",
		Example: `  cloudctl vm delete db
  cloudctl vm delete db --wait=false`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
	cmd.Flags().BoolVar(&o.wait, "wait", true, "wait until the VM is gone")
	return cmd
}

func (o *vmDeleteOptions) run(ctx context.Context, name string) error {
	c, ns, err := o.root.clientAndNamespace()
	if err != nil {
		return err
	}
	vms := client.For[api.VirtualMachine](c)
	if err := vms.Delete(ctx, ns, name, client.DeleteOptions{}); err != nil {
		return err
	}
	for o.wait {
		if _, err := vms.Get(ctx, ns, name); client.IsNotFound(err) {
			break
		} else if err != nil {
			return err
		}
		if err := sleepCtx(ctx, o.poll); err != nil {
			return fmt.Errorf("waiting for VM %s to go: %w", name, err)
		}
	}
	fmt.Fprintf(o.root.out, "virtualmachine/%s deleted\n", name)
	return nil
}

// newVMConsoleLogCommand is `cloudctl vm console-log`.
func newVMConsoleLogCommand(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "console-log NAME",
		Short: "Print the last lines of a VM's serial console",
		Long: `Print the last lines of a VM's serial console, as the controller last
read them (status.consoleTail, refreshed every few seconds).`,
		Example: "  cloudctl vm console-log db",
		Args:    exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, ns, err := root.clientAndNamespace()
			if err != nil {
				return err
			}
			vm, err := client.For[api.VirtualMachine](c).Get(cmd.Context(), ns, args[0])
			if err != nil {
				return err
			}
			if vm.Status.ConsoleTail == "" {
				fmt.Fprintf(root.errOut, "no console output of virtualmachine/%s yet (phase %s)\n", args[0], vm.Status.Phase)
				return nil
			}
			fmt.Fprintln(root.out, vm.Status.ConsoleTail)
			return nil
		},
	}
}
