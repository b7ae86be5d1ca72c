package api

import (
	"strings"
	"testing"
	"time"
)

func validDecision() *ScaleDecision {
	return &ScaleDecision{
		ObjectMeta: ObjectMeta{Name: "d-1"},
		Spec: ScaleDecisionSpec{
			Trigger: ScaleTrigger{Type: TriggerUtilization, Pool: "private", UtilizationPercent: 85, ThresholdPercent: 80, WindowSeconds: 30},
			Pools: []PoolConsideration{
				{Pool: "private", Reason: ReasonInsufficientCapacity},
				{Pool: "public", Priority: 10, Taken: true, Reason: ReasonTaken, Delta: 1},
			},
			Calls:       []ScaleCall{{Operation: "CheckCapacity", Pool: "private", Error: "insufficient capacity", DurationMilliseconds: 3}},
			Outcome:     ScaleOutcome{Type: OutcomeScaledUp, Pool: "public", Delta: 1},
			DecidedTime: NewTime(time.Unix(1700000000, 0)),
		},
	}
}

func TestValidateScaleDecision(t *testing.T) {
	tests := []struct {
		name   string
		change func(*ScaleDecision)
		path   string // "" when valid
	}{
		{"valid", func(*ScaleDecision) {}, ""},
		{"no name", func(d *ScaleDecision) { d.Name = "" }, "metadata.name"},
		{"no trigger", func(d *ScaleDecision) { d.Spec.Trigger.Type = "" }, "spec.trigger.type"},
		{"unknown trigger", func(d *ScaleDecision) { d.Spec.Trigger.Type = "Moon" }, "spec.trigger.type"},
		{"negative utilization", func(d *ScaleDecision) { d.Spec.Trigger.UtilizationPercent = -1 }, "spec.trigger.utilizationPercent"},
		{"threshold over 100", func(d *ScaleDecision) { d.Spec.Trigger.ThresholdPercent = 120 }, "spec.trigger.thresholdPercent"},
		{"negative window", func(d *ScaleDecision) { d.Spec.Trigger.WindowSeconds = -1 }, "spec.trigger.windowSeconds"},
		{"pool without name", func(d *ScaleDecision) { d.Spec.Pools[1].Pool = "" }, "spec.pools[1].pool"},
		{"pool without reason", func(d *ScaleDecision) { d.Spec.Pools[0].Reason = "" }, "spec.pools[0].reason"},
		{"call without operation", func(d *ScaleDecision) { d.Spec.Calls[0].Operation = "" }, "spec.calls[0].operation"},
		{"negative duration", func(d *ScaleDecision) { d.Spec.Calls[0].DurationMilliseconds = -2 }, "spec.calls[0].durationMilliseconds"},
		{"no outcome", func(d *ScaleDecision) { d.Spec.Outcome = ScaleOutcome{} }, "spec.outcome.type"},
		{"scale-up of nothing", func(d *ScaleDecision) { d.Spec.Outcome.Delta = 0 }, "spec.outcome.delta"},
		{"scale-down without node", func(d *ScaleDecision) {
			d.Spec.Outcome = ScaleOutcome{Type: OutcomeScaledDown, Pool: "public"}
		}, "spec.outcome.node"},
		{"no action without reason", func(d *ScaleDecision) { d.Spec.Outcome = ScaleOutcome{Type: OutcomeNoAction} }, "spec.outcome.reason"},
		{"no decided time", func(d *ScaleDecision) { d.Spec.DecidedTime = Time{} }, "spec.decidedTime"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDecision()
			tt.change(d)
			errs := ValidateScaleDecision(d)
			if tt.path == "" {
				if len(errs) != 0 {
					t.Fatalf("want valid, got %v", errs)
				}
				return
			}
			if len(errs) == 0 || !strings.Contains(errs.Error(), tt.path) {
				t.Fatalf("want an error at %s, got %v", tt.path, errs)
			}
		})
	}
}

func TestValidateScaleDecisionUpdate(t *testing.T) {
	old := validDecision()
	next := validDecision()
	next.Spec.Outcome.Delta = 2
	if errs := ValidateScaleDecisionUpdate(next, old); len(errs) == 0 || !strings.Contains(errs.Error(), "spec") {
		t.Fatalf("a changed record: want an error at spec, got %v", errs)
	}
	same := validDecision()
	same.Labels = map[string]string{"a": "b"}
	if errs := ValidateScaleDecisionUpdate(same, old); len(errs) != 0 {
		t.Fatalf("a relabelled record: want valid, got %v", errs)
	}
}
