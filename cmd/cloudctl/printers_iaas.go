package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

func nodePoolColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "PROVIDER", "REPLICAS", "READY", "MIN", "MAX", "AGE"},
		wide:    []string{"FLAVOR", "SIZE", "UP-TO-DATE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			np := obj.(*api.NodePool)
			replicas := np.Spec.MinSize
			if np.Spec.Replicas != nil {
				replicas = *np.Spec.Replicas
			}
			return []string{
				np.Name,
				np.Spec.Provider,
				strconv.Itoa(int(replicas)),
				strconv.Itoa(int(np.Status.ReadyNodes)),
				strconv.Itoa(int(np.Spec.MinSize)),
				strconv.Itoa(int(np.Spec.MaxSize)),
				age(np.CreationTimestamp, now),
			}, []string{orNone(np.Spec.Flavor), strconv.Itoa(int(np.Status.Size)), strconv.Itoa(int(np.Status.Updated))}
		},
	}
}

func virtualMachineColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "PHASE", "HYPERVISOR", "FLAVOR", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			vm := obj.(*api.VirtualMachine)
			hv := vm.Status.Hypervisor
			if hv == "" {
				hv = vm.Spec.Hypervisor
			}
			return []string{
				vm.Name,
				orUnknown(string(vm.Status.Phase)),
				orNone(hv),
				vmFlavor(vm),
				age(vm.CreationTimestamp, now),
			}, nil
		},
	}
}

// vmFlavor is the flavor of a VM or, for an explicitly sized one, its size
// such as "2cpu/4Gi".
func vmFlavor(vm *api.VirtualMachine) string {
	if vm.Spec.Flavor != "" {
		return vm.Spec.Flavor
	}
	if vm.Spec.CPUs == 0 && vm.Spec.Memory.IsZero() {
		return "<none>"
	}
	return strconv.Itoa(int(vm.Spec.CPUs)) + "cpu/" + vm.Spec.Memory.String()
}

func hypervisorColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "URI", "REACHABLE", "CPU(ALLOC/CAP)", "MEMORY(ALLOC/CAP)", "MACHINES", "AGE"},
		wide:    []string{"HOSTNAME", "CPU-RATIO", "MEMORY-RATIO", "LABELS"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			h := obj.(*api.Hypervisor)
			return []string{
					h.Name,
					h.Spec.URI,
					hypervisorReachable(h),
					allocOfCap(h.Status.Allocated, h.Status.Capacity, api.ResourceCPU),
					allocOfCap(h.Status.Allocated, h.Status.Capacity, api.ResourceMemory),
					strconv.Itoa(int(h.Status.Machines)),
					age(h.CreationTimestamp, now),
				}, []string{
					orNone(h.Status.Hostname),
					orDefault(h.Spec.CPUAllocationRatio, "1.0"),
					orDefault(h.Spec.MemoryAllocationRatio, "1.0"),
					orNone(labelsString(h.Spec.Labels)),
				}
		},
	}
}

// hypervisorReachable is the Reachable condition's status ("Unknown"
// before the controller looked), with ",SchedulingDisabled" when closed to
// new VMs.
func hypervisorReachable(h *api.Hypervisor) string {
	s := "Unknown"
	for _, c := range h.Status.Conditions {
		if c.Type == api.ConditionReachable && c.Status != "" {
			s = string(c.Status)
		}
	}
	if h.Spec.Unschedulable {
		s += ",SchedulingDisabled"
	}
	return s
}

// allocOfCap is "ALLOCATED/CAPACITY" of one resource, "<unknown>" for a
// capacity not read yet.
func allocOfCap(alloc, capacity api.ResourceList, name string) string {
	c, ok := capacity[name]
	if !ok {
		return "<unknown>"
	}
	a, ok := alloc[name]
	if !ok {
		a = api.NewQuantity(0, c.Format())
	}
	return a.String() + "/" + c.String()
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func machineColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "POOL", "PHASE", "HYPERVISOR", "HOST", "NODE", "AGE"},
		wide:    []string{"PROVIDER", "PROVIDER-ID", "ADDRESSES"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			m := obj.(*api.Machine)
			return []string{
					m.Name,
					orNone(m.Spec.Pool),
					orUnknown(string(m.Status.Phase)),
					orNone(m.Spec.Hypervisor),
					orNone(m.Status.Host),
					orNone(m.Status.NodeName),
					age(m.CreationTimestamp, now),
				}, []string{
					m.Spec.Provider,
					orNone(m.Status.ProviderID),
					orNone(strings.Join(m.Status.Addresses, ",")),
				}
		},
	}
}
