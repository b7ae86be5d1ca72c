package main

import (
	"strings"

	"github.com/cloudmgr/cloud/api"
)

// namespace describes a namespace as kubectl does: its phase and, while it
// is being deleted, the conditions the namespace controller reports.
func (d *describer) namespace(ns *api.Namespace) {
	d.line(0, "Name:\t%s", ns.Name)
	d.stringMap(0, "Labels", ns.Labels)
	d.stringMap(0, "Annotations", ns.Annotations)
	d.line(0, "CreationTimestamp:\t%s", d.time(ns.CreationTimestamp))
	if ns.DeletionTimestamp != nil {
		d.line(0, "DeletionTimestamp:\t%s", d.time(*ns.DeletionTimestamp))
	}
	d.line(0, "Status:\t%s", orNone(string(ns.Status.Phase)))
	if len(ns.Spec.Finalizers) > 0 {
		d.line(0, "Spec Finalizers:\t%s", strings.Join(ns.Spec.Finalizers, ", "))
	}
	if len(ns.Finalizers) > 0 {
		d.line(0, "Finalizers:\t%s", strings.Join(ns.Finalizers, ", "))
	}
	if len(ns.Status.Conditions) > 0 {
		d.line(0, "")
		d.line(0, "Conditions:")
		d.line(1, "Type\tStatus\tLastTransitionTime\tReason\tMessage")
		d.line(1, "----\t------\t------------------\t------\t-------")
		for _, c := range ns.Status.Conditions {
			d.line(1, "%s\t%s\t%s\t%s\t%s", c.Type, c.Status, d.time(c.LastTransitionTime), c.Reason, c.Message)
		}
	}
}
