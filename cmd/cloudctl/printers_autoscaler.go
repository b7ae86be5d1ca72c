package main

import (
	"fmt"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// scaleDecisionColumns print the node autoscaler's decisions.
func scaleDecisionColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "TRIGGER", "POOL", "OUTCOME", "CHANGE", "REASON", "AGE"},
		wide:    []string{"FIGURES", "POOLS-TRIED"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			d := obj.(*api.ScaleDecision)
			s := d.Spec
			change := "<none>"
			switch s.Outcome.Type {
			case api.OutcomeScaledUp:
				change = fmt.Sprintf("%s +%d", s.Outcome.Pool, s.Outcome.Delta)
			case api.OutcomeScaledDown:
				change = fmt.Sprintf("-%s", s.Outcome.Node)
			}
			figures := fmt.Sprintf("%d pending", s.Trigger.PendingCount)
			if s.Trigger.Type != api.TriggerPendingPods {
				figures = fmt.Sprintf("%.0f%% vs %.0f%% for %ds", s.Trigger.UtilizationPercent, s.Trigger.ThresholdPercent, s.Trigger.WindowSeconds)
			}
			tried := ""
			for i, pc := range s.Pools {
				if i > 0 {
					tried += ","
				}
				tried += pc.Pool + ":" + pc.Reason
			}
			return []string{
					d.Name,
					string(s.Trigger.Type),
					orNone(s.Trigger.Pool),
					string(s.Outcome.Type),
					change,
					orNone(s.Outcome.Reason),
					age(d.CreationTimestamp, now),
				}, []string{
					figures,
					orNone(tried),
				}
		},
	}
}
