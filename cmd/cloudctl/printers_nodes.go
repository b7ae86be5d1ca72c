package main

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// podDisruptionBudgetColumns are kubectl's: the budget's spec and how many
// disruptions its status allows now.
func podDisruptionBudgetColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "ALLOWED DISRUPTIONS", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			b := obj.(*api.PodDisruptionBudget)
			minA, maxU := "N/A", "N/A"
			if b.Spec.MinAvailable != nil {
				minA = b.Spec.MinAvailable.String()
			}
			if b.Spec.MaxUnavailable != nil {
				maxU = b.Spec.MaxUnavailable.String()
			}
			return []string{b.Name, minA, maxU, strconv.Itoa(int(b.Status.DisruptionsAllowed)), age(b.CreationTimestamp, now)}, nil
		},
	}
}

func daemonSetColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "DESIRED", "CURRENT", "READY", "UP-TO-DATE", "AVAILABLE", "NODE SELECTOR", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			d := obj.(*api.DaemonSet)
			s := d.Status
			sel := make([]string, 0, len(d.Spec.Template.Spec.NodeSelector))
			for k, v := range d.Spec.Template.Spec.NodeSelector {
				sel = append(sel, k+"="+v)
			}
			sort.Strings(sel)
			nodeSel := "<none>"
			if len(sel) > 0 {
				nodeSel = strings.Join(sel, ",")
			}
			n := func(v int32) string { return strconv.Itoa(int(v)) }
			return []string{d.Name, n(s.DesiredNumberScheduled), n(s.CurrentNumberScheduled), n(s.NumberReady),
				n(s.UpdatedNumberScheduled), n(s.NumberAvailable), nodeSel, age(d.CreationTimestamp, now)}, nil
		},
	}
}

// podDisruptionBudget describes a budget as kubectl does: its spec, then
// what its status allows.
func (d *describer) podDisruptionBudget(k *api.KindInfo, b *api.PodDisruptionBudget) {
	d.meta(k, &b.ObjectMeta)
	if b.Spec.MinAvailable != nil {
		d.line(0, "Min available:\t%s", b.Spec.MinAvailable.String())
	}
	if b.Spec.MaxUnavailable != nil {
		d.line(0, "Max unavailable:\t%s", b.Spec.MaxUnavailable.String())
	}
	d.line(0, "Selector:\t%s", formatLabelSelector(b.Spec.Selector))
	s := b.Status
	d.line(0, "Status:")
	d.line(1, "Allowed disruptions:\t%d", s.DisruptionsAllowed)
	d.line(1, "Current:\t%d", s.CurrentHealthy)
	d.line(1, "Desired:\t%d", s.DesiredHealthy)
	d.line(1, "Total:\t%d", s.ExpectedPods)
	if s.ObservedGeneration < b.Generation {
		d.line(1, "Observed generation:\t%d (the spec is at %d: evictions wait for the controller)", s.ObservedGeneration, b.Generation)
	}
	if len(s.DisruptedPods) > 0 {
		names := make([]string, 0, len(s.DisruptedPods))
		for n := range s.DisruptedPods {
			names = append(names, n)
		}
		sort.Strings(names)
		d.line(1, "Disrupted pods:\t%s", strings.Join(names, ", "))
	}
	for _, c := range s.Conditions {
		msg := c.Reason
		if c.Message != "" {
			msg += ": " + c.Message
		}
		d.line(1, "%s:\t%s (%s)", c.Type, c.Status, msg)
	}
}
