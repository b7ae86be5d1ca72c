package api

import (
	"fmt"
	"math"
	"net/url"
	"reflect"
	"regexp"
	"strconv"
)

// ValidateNodePool checks a node pool: a provider and a size range.
func ValidateNodePool(np *NodePool) ErrorList {
	errs := ValidateObjectMeta(&np.ObjectMeta, false, false)
	s := &np.Spec
	if s.Provider == "" {
		errs = append(errs, required("spec.provider", ""))
	}
	errs = append(errs, validateNonNegative("spec.minSize", s.MinSize)...)
	switch {
	case s.MaxSize == 0:
		errs = append(errs, required("spec.maxSize", "must be at least 1"))
	case s.MaxSize < s.MinSize:
		errs = append(errs, invalid("spec.maxSize", s.MaxSize, "must be greater than or equal to spec.minSize"))
	}
	errs = append(errs, validateStringMap(s.HypervisorSelector, "spec.hypervisorSelector")...)
	errs = append(errs, validateStringMap(s.Labels, "spec.labels")...)
	errs = append(errs, validateTaints(s.Taints, "spec.taints")...)
	errs = append(errs, validateNonNegative("status.size", np.Status.Size)...)
	errs = append(errs, validateNonNegative("status.readyNodes", np.Status.ReadyNodes)...)
	errs = append(errs, validateConditions(np.Status.Conditions, "status.conditions")...)
	return errs
}

func validateConditions(conds []Condition, p fieldPath) ErrorList {
	var errs ErrorList
	for i, c := range conds {
		errs = append(errs, validateCondition(c.Type, c.Status, p.index(i))...)
	}
	return errs
}

// ValidateVirtualMachine checks a VM: a flavor, or both cpus and memory.
func ValidateVirtualMachine(vm *VirtualMachine) ErrorList {
	errs := ValidateObjectMeta(&vm.ObjectMeta, true, false)
	s := &vm.Spec
	if s.Flavor == "" {
		if s.CPUs == 0 && s.Memory.IsZero() {
			errs = append(errs, required("spec.flavor", "either spec.flavor or both spec.cpus and spec.memory are required"))
		} else {
			if s.CPUs == 0 {
				errs = append(errs, required("spec.cpus", "required when spec.flavor is empty"))
			}
			if s.Memory.IsZero() {
				errs = append(errs, required("spec.memory", "required when spec.flavor is empty"))
			}
		}
	}
	errs = append(errs, validateNonNegative("spec.cpus", s.CPUs)...)
	if s.Memory.Sign() < 0 {
		errs = append(errs, invalid("spec.memory", s.Memory.String(), "must be greater than or equal to 0"))
	}
	if s.Hypervisor != "" {
		errs = append(errs, each("spec.hypervisor", s.Hypervisor, IsDNS1123Subdomain(s.Hypervisor))...)
	}
	phases := []VirtualMachinePhase{VMPending, VMCreating, VMRunning, VMStopped, VMFailed, VMDeleting, VMUnknown}
	if ph := vm.Status.Phase; ph != "" && !oneOf(ph, phases...) {
		errs = append(errs, notSupported("status.phase", ph, phases...))
	}
	errs = append(errs, validateConditions(vm.Status.Conditions, "status.conditions")...)
	return errs
}

// ValidateHypervisor checks a hypervisor: a connection URI and positive
// CPU and memory allocation ratios.
func ValidateHypervisor(h *Hypervisor) ErrorList {
	errs := ValidateObjectMeta(&h.ObjectMeta, false, false)
	s := &h.Spec
	if s.URI == "" {
		errs = append(errs, required("spec.uri", ""))
	} else if u, err := url.Parse(s.URI); err != nil || !hypervisorScheme.MatchString(u.Scheme) || u.Opaque != "" {
		errs = append(errs, invalid("spec.uri", s.URI, "must be a connection URI such as qemu:///system or qemu+tcp://host/system"))
	}
	if s.Provider != "" {
		errs = append(errs, each("spec.provider", s.Provider, IsDNS1123Label(s.Provider))...)
	}
	errs = append(errs, validateRatio("spec.cpuAllocationRatio", s.CPUAllocationRatio, "4.0")...)
	errs = append(errs, validateRatio("spec.memoryAllocationRatio", s.MemoryAllocationRatio, "1.5")...)
	errs = append(errs, validateStringMap(s.Labels, "spec.labels")...)
	allowed := []string{ResourceCPU, ResourceMemory, ResourceEphemeralStorage}
	errs = append(errs, validateResourceList(h.Status.Capacity, "status.capacity", allowed...)...)
	errs = append(errs, validateResourceList(h.Status.Allocated, "status.allocated", allowed...)...)
	errs = append(errs, validateConditions(h.Status.Conditions, "status.conditions")...)
	return errs
}

// hypervisorScheme is a libvirt URI scheme: a driver and an optional
// transport (qemu, qemu+tcp, qemu+ssh, test).
var hypervisorScheme = regexp.MustCompile(`^[a-z][a-z0-9]*(\+[a-z0-9]+)?$`)

// validateRatio checks an overcommit ratio: empty (the default, 1.0) or a
// finite decimal number greater than 0.
func validateRatio(p fieldPath, r, example string) ErrorList {
	if r == "" {
		return nil
	}
	if f, err := strconv.ParseFloat(r, 64); err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return ErrorList{invalid(p, r, "must be a decimal number greater than 0, such as \""+example+"\"")}
	}
	return nil
}

// ParseAllocationRatio reads an overcommit ratio of a Hypervisor: empty
// is 1.0.
func ParseAllocationRatio(r string) (float64, error) {
	if r == "" {
		return 1, nil
	}
	f, err := strconv.ParseFloat(r, 64)
	if err != nil || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("allocation ratio %q: must be a decimal number greater than 0", r)
	}
	return f, nil
}

// ValidateNodePoolUpdate checks what may not change in a node pool.
func ValidateNodePoolUpdate(newNP, oldNP *NodePool) ErrorList {
	return ValidateObjectMetaUpdate(&newNP.ObjectMeta, &oldNP.ObjectMeta)
}

// ValidateVirtualMachineUpdate checks what may not change in a VM: the
// metadata, and the provider once set.
func ValidateVirtualMachineUpdate(newVM, oldVM *VirtualMachine) ErrorList {
	errs := ValidateObjectMetaUpdate(&newVM.ObjectMeta, &oldVM.ObjectMeta)
	if o := oldVM.Spec.Provider; o != "" && newVM.Spec.Provider != o {
		errs = append(errs, forbidden("spec.provider", "may not be changed once set"))
	}
	return errs
}

// ValidateHypervisorUpdate checks what may not change in a hypervisor.
func ValidateHypervisorUpdate(newH, oldH *Hypervisor) ErrorList {
	return ValidateObjectMetaUpdate(&newH.ObjectMeta, &oldH.ObjectMeta)
}

// ValidateMachine checks a Machine: a provider, a size (flavor or vcpus and
// memory), node labels and taints, and a known phase.
func ValidateMachine(m *Machine) ErrorList {
	errs := ValidateObjectMeta(&m.ObjectMeta, false, false)
	s := &m.Spec
	if s.Provider == "" {
		errs = append(errs, required("spec.provider", ""))
	}
	if s.Flavor == "" && (s.VCPUs <= 0 || s.Memory.Sign() <= 0) {
		errs = append(errs, required("spec.flavor", "either spec.flavor or both spec.vcpus and spec.memory (greater than 0) are required"))
	}
	errs = append(errs, validateNonNegative("spec.vcpus", s.VCPUs)...)
	if s.Hypervisor != "" {
		errs = append(errs, each("spec.hypervisor", s.Hypervisor, IsDNS1123Subdomain(s.Hypervisor))...)
	}
	errs = append(errs, validateStringMap(s.Labels, "spec.labels")...)
	errs = append(errs, validateTaints(s.Taints, "spec.taints")...)
	phases := []MachinePhase{MachinePending, MachineProvisioning, MachineRunning, MachineJoined, MachineFailed, MachineDeleting, MachineUnknown}
	if ph := m.Status.Phase; ph != "" && !oneOf(ph, phases...) {
		errs = append(errs, notSupported("status.phase", ph, phases...))
	}
	errs = append(errs, validateConditions(m.Status.Conditions, "status.conditions")...)
	return errs
}

// ValidateMachineUpdate checks what may not change in a Machine: its spec
// is fixed at creation (a different VM is a new Machine), except the
// hypervisor, which placement fills in once.
func ValidateMachineUpdate(newM, oldM *Machine) ErrorList {
	errs := ValidateObjectMetaUpdate(&newM.ObjectMeta, &oldM.ObjectMeta)
	o, n := oldM.Spec, newM.Spec
	if o.Hypervisor == "" {
		o.Hypervisor = n.Hypervisor
	}
	if !reflect.DeepEqual(o, n) {
		errs = append(errs, forbidden("spec", "may not be changed, except spec.hypervisor once while it is empty"))
	}
	return errs
}
