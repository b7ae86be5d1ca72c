package hpa

import (
	"time"

	"github.com/cloudmgr/cloud/api"
)

// recommendation is one past output of the calculation.
type recommendation struct {
	at       time.Time
	replicas int32
}

// Decision is what the autoscaler does with a recommendation.
type Decision struct {
	Desired int32
	// Stabilized: a recent higher recommendation held a scale-down back
	// (or a lower one a scale-up).
	Stabilized bool
	// Limited names the bound that clamped the desired count ("" for none):
	// ReasonTooMany or ReasonTooFew.
	Limited string
}

// Reasons of the ScalingLimited condition.
const (
	ReasonTooMany      = "TooManyReplicas"
	ReasonTooFew       = "TooFewReplicas"
	ReasonWithinRange  = "DesiredWithinRange"
	ReasonStabilized   = "ScaleDownStabilized"
	ReasonReadyToScale = "ReadyForNewScale"
)

// stabilize applies the stabilization windows to the new recommendation
// rec (after recording it in *history at now, and dropping what is older
// than both windows) as Kubernetes' stabilizeRecommendationWithBehaviors:
// a scale-down goes no lower than the highest recommendation of the down
// window, a scale-up no higher than the lowest of the up window. Then
// bounds apply.
func stabilize(h *api.HorizontalPodAutoscaler, current, rec int32, history *[]recommendation, now time.Time) Decision {
	downCut, upCut := now.Add(-h.ScaleDownWindow()), now.Add(-h.ScaleUpWindow())
	up, down := rec, rec
	keep := (*history)[:0]
	oldest := downCut
	if upCut.Before(oldest) {
		oldest = upCut
	}
	for _, r := range *history {
		if r.at.After(upCut) {
			up = min(up, r.replicas)
		}
		if r.at.After(downCut) {
			down = max(down, r.replicas)
		}
		if r.at.After(oldest) {
			keep = append(keep, r)
		}
	}
	*history = append(keep, recommendation{at: now, replicas: rec})
	d := Decision{Desired: current}
	if d.Desired < up {
		d.Desired = up
	}
	if d.Desired > down {
		d.Desired = down
	}
	d.Stabilized = d.Desired != rec
	return bound(h, d)
}

// bound clamps d to the autoscaler's min and max.
func bound(h *api.HorizontalPodAutoscaler, d Decision) Decision {
	switch lo, hi := h.MinReplicasOrDefault(), h.Spec.MaxReplicas; {
	case d.Desired > hi:
		d.Desired, d.Limited = hi, ReasonTooMany
	case d.Desired < lo:
		d.Desired, d.Limited = lo, ReasonTooFew
	}
	return d
}
