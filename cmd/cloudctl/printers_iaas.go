package main

import (
	"strconv"
	"time"

	"github.com/cloudmgr/cloud/api"
)

func nodePoolColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "PROVIDER", "REPLICAS", "READY", "MIN", "MAX", "AGE"},
		wide:    []string{"FLAVOR", "SIZE"},
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
			}, []string{orNone(np.Spec.Flavor), strconv.Itoa(int(np.Status.Size))}
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

func machineColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "POOL", "PHASE", "HYPERVISOR", "HOST", "AGE"},
		wide:    []string{"PROVIDER-ID", "MESSAGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			m := obj.(*api.Machine)
			return []string{
				m.Name,
				orNone(m.Spec.Pool),
				orUnknown(string(m.Status.Phase)),
				orNone(m.Spec.Hypervisor),
				orNone(m.Status.Host),
				age(m.CreationTimestamp, now),
			}, []string{orNone(m.Status.ProviderID), orNone(m.Status.Message)}
		},
	}
}

func hypervisorColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "URI", "STATUS", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			h := obj.(*api.Hypervisor)
			return []string{h.Name, h.Spec.URI, hypervisorStatus(h), age(h.CreationTimestamp, now)}, nil
		},
	}
}

// hypervisorStatus reads the Ready condition like a node's STATUS.
func hypervisorStatus(h *api.Hypervisor) string {
	s := "Unknown"
	for _, c := range h.Status.Conditions {
		if c.Type != "Ready" {
			continue
		}
		switch c.Status {
		case api.ConditionTrue:
			s = "Ready"
		case api.ConditionFalse:
			s = "NotReady"
		}
	}
	if h.Spec.Unschedulable {
		s += ",SchedulingDisabled"
	}
	return s
}
