package placement

import (
	"github.com/cloudmgr/cloud/api"
)

// Lister lists the objects of one kind; *client.Cache satisfies it.
type Lister interface {
	List() []api.Object
}

// Usage is what the VMs of this system take on one hypervisor.
type Usage struct {
	// MilliCPU and MemoryBytes are the sums of the VMs' sizes.
	MilliCPU    int64
	MemoryBytes int64
	// Machines counts the Machines and VirtualMachines there.
	Machines int32
	// Groups counts the Machines there per NodePool.
	Groups map[string]int32
}

func (u *Usage) add(cpus int32, mem api.Quantity, group string) {
	u.MilliCPU += int64(cpus) * 1000
	if !mem.IsZero() {
		u.MemoryBytes += mem.Value()
	}
	u.Machines++
	if group != "" {
		if u.Groups == nil {
			u.Groups = map[string]int32{}
		}
		u.Groups[group]++
	}
}

// ResourceList is the usage as a hypervisor's status.allocated.
func (u Usage) ResourceList() api.ResourceList {
	return api.ResourceList{
		api.ResourceCPU:    api.NewMilliQuantity(u.MilliCPU, api.DecimalSI),
		api.ResourceMemory: api.NewQuantity(u.MemoryBytes, api.BinarySI),
	}
}

// MachineHypervisor is the Hypervisor object a Machine is on (or was
// placed on), or "" when it takes no room: not placed yet, or failed
// (the provider leaves nothing behind a failed create).
func MachineHypervisor(m *api.Machine) string {
	if m.Status.Phase == api.MachineFailed {
		return ""
	}
	return m.Spec.Hypervisor
}

// VMHypervisor is the Hypervisor object a VirtualMachine is on, or "".
func VMHypervisor(vm *api.VirtualMachine) string {
	if vm.Status.Phase == api.VMFailed {
		return ""
	}
	if vm.Status.Hypervisor != "" {
		return vm.Status.Hypervisor
	}
	return ""
}

// UsageByHypervisor sums, per Hypervisor object name, the Machines and
// VirtualMachines on it. machines and vms may be nil.
func UsageByHypervisor(machines, vms Lister) map[string]*Usage {
	out := map[string]*Usage{}
	get := func(hv string) *Usage {
		u := out[hv]
		if u == nil {
			u = &Usage{}
			out[hv] = u
		}
		return u
	}
	if machines != nil {
		for _, o := range machines.List() {
			m, ok := o.(*api.Machine)
			if !ok {
				continue
			}
			if hv := MachineHypervisor(m); hv != "" {
				get(hv).add(m.Spec.VCPUs, m.Spec.Memory, m.Spec.Pool)
			}
		}
	}
	if vms != nil {
		for _, o := range vms.List() {
			vm, ok := o.(*api.VirtualMachine)
			if !ok {
				continue
			}
			if hv := VMHypervisor(vm); hv != "" {
				get(hv).add(vm.Spec.CPUs, vm.Spec.Memory, "")
			}
		}
	}
	return out
}

// Condition returns the condition of type t, or nil.
func Condition(conds []api.Condition, t string) *api.Condition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

// Reachable reports whether a hypervisor's Reachable condition is True.
func Reachable(h *api.Hypervisor) bool {
	c := Condition(h.Status.Conditions, api.ConditionReachable)
	return c != nil && c.Status == api.ConditionTrue
}

// ProviderOf is a hypervisor's provider, "libvirt" when unset.
func ProviderOf(h *api.Hypervisor) string {
	if h.Spec.Provider == "" {
		return DefaultProvider
	}
	return h.Spec.Provider
}

// DefaultProvider drives hypervisors that name none.
const DefaultProvider = "libvirt"
