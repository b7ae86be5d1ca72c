package main

import (
	"strconv"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// hpaColumns are kubectl's: REFERENCE is Kind/name of the target, TARGETS
// the current over the target utilization ("45%/80%", "<unknown>/80%"
// before the first reading), REPLICAS the target's current replicas.
func hpaColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "REFERENCE", "TARGETS", "MINPODS", "MAXPODS", "REPLICAS", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			h := obj.(*api.HorizontalPodAutoscaler)
			return []string{h.Name, hpaReference(h), hpaTargets(h), strconv.Itoa(int(h.MinReplicasOrDefault())),
				strconv.Itoa(int(h.Spec.MaxReplicas)), strconv.Itoa(int(h.Status.CurrentReplicas)), age(h.CreationTimestamp, now)}, nil
		},
	}
}

func hpaReference(h *api.HorizontalPodAutoscaler) string {
	return h.Spec.ScaleTargetRef.Kind + "/" + h.Spec.ScaleTargetRef.Name
}

func hpaTargets(h *api.HorizontalPodAutoscaler) string {
	cur := "<unknown>"
	if u, ok := h.CurrentCPUUtilization(); ok {
		cur = strconv.Itoa(int(u)) + "%"
	}
	return cur + "/" + strconv.Itoa(int(h.CPUTargetUtilization())) + "%"
}

// horizontalPodAutoscaler describes an autoscaler as kubectl does: the
// target, the metric against its target, the bounds, the replicas and the
// conditions that say why it did (not) scale.
func (d *describer) horizontalPodAutoscaler(k *api.KindInfo, h *api.HorizontalPodAutoscaler) {
	d.meta(k, &h.ObjectMeta)
	d.line(0, "Reference:\t%s", hpaReference(h))
	d.line(0, "Metrics:\t( current / target )")
	cur := "<unknown>"
	if u, ok := h.CurrentCPUUtilization(); ok {
		cur = strconv.Itoa(int(u)) + "%"
		for _, m := range h.Status.CurrentMetrics {
			if m.Resource != nil && m.Resource.Current.AverageValue != nil {
				cur += " (" + m.Resource.Current.AverageValue.String() + ")"
			}
		}
	}
	d.line(1, "resource cpu on pods  (as a percentage of request):\t%s / %d%%", cur, h.CPUTargetUtilization())
	d.line(0, "Min replicas:\t%d", h.MinReplicasOrDefault())
	d.line(0, "Max replicas:\t%d", h.Spec.MaxReplicas)
	d.line(0, "Behavior:")
	d.line(1, "Scale down stabilization window:\t%v", h.ScaleDownWindow())
	d.line(1, "Scale up stabilization window:\t%v", h.ScaleUpWindow())
	d.line(0, "%s pods:\t%d current / %d desired", h.Spec.ScaleTargetRef.Kind, h.Status.CurrentReplicas, h.Status.DesiredReplicas)
	if t := h.Status.LastScaleTime; t != nil {
		d.line(0, "Last scale time:\t%s", d.time(*t))
	}
	if len(h.Status.Conditions) > 0 {
		d.line(0, "Conditions:")
		d.line(1, "Type\tStatus\tReason\tMessage")
		d.line(1, "----\t------\t------\t-------")
		for _, c := range h.Status.Conditions {
			d.line(1, "%s\t%s\t%s\t%s", c.Type, c.Status, c.Reason, c.Message)
		}
	}
}
