package main

import (
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

func podDisruptionBudgetColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			b := obj.(*api.PodDisruptionBudget)
			minA, maxU := "N/A", "N/A"
			if b.Spec.MinAvailable != nil {
				minA = b.Spec.MinAvailable.String()
			}
			if b.Spec.MaxUnavailable != nil {
				maxU = b.Spec.MaxUnavailable.String()
			}
			return []string{b.Name, minA, maxU, age(b.CreationTimestamp, now)}, nil
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
