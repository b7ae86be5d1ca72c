package main

import (
	"strconv"

	"github.com/cloudmgr/cloud/api"
)

// hypervisor describes a Hypervisor: how it is reached, its overcommit,
// capacity and what is allocated, its conditions, and the VMs on it.
func (d *describer) hypervisor(k *api.KindInfo, h *api.Hypervisor, vms []string) {
	d.meta(k, &h.ObjectMeta)
	d.line(0, "URI:\t%s", h.Spec.URI)
	d.line(0, "Provider:\t%s", orDefault(h.Spec.Provider, "libvirt"))
	d.line(0, "Hostname:\t%s", orNone(h.Status.Hostname))
	d.stringMap(0, "Hypervisor Labels", h.Spec.Labels)
	d.line(0, "Unschedulable:\t%s", strconv.FormatBool(h.Spec.Unschedulable))
	d.line(0, "CPU Allocation Ratio:\t%s", orDefault(h.Spec.CPUAllocationRatio, "1.0"))
	d.line(0, "Memory Allocation Ratio:\t%s", orDefault(h.Spec.MemoryAllocationRatio, "1.0"))
	if len(h.Status.Conditions) > 0 {
		d.line(0, "Conditions:")
		d.line(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage")
		d.line(1, "----\t------\t------------------\t------\t-------")
		for _, c := range h.Status.Conditions {
			d.line(1, "%s \t%s \t%s \t%s \t%s", c.Type, c.Status, d.time(c.LastTransitionTime), c.Reason, c.Message)
		}
	}
	d.resourceList(0, "Capacity", h.Status.Capacity)
	d.resourceList(0, "Allocated", h.Status.Allocated)
	if len(vms) == 0 {
		d.line(0, "Machines:\t<none>")
		return
	}
	d.line(0, "Machines:\t%d", len(vms))
	for _, name := range vms {
		d.line(1, "%s", name)
	}
}
