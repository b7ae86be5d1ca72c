package hpa

import (
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
)

func hpaFor(minR, maxR int32, down, up int32) *api.HorizontalPodAutoscaler {
	h := &api.HorizontalPodAutoscaler{Spec: api.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: api.CrossVersionObjectReference{Kind: api.KindDeployment, Name: "web"},
		MinReplicas:    &minR, MaxReplicas: maxR,
		Behavior: &api.HorizontalPodAutoscalerBehavior{
			ScaleDown: &api.HPAScalingRules{StabilizationWindowSeconds: &down},
			ScaleUp:   &api.HPAScalingRules{StabilizationWindowSeconds: &up},
		},
	}}
	api.DefaultHorizontalPodAutoscaler(h)
	return h
}

// TestStabilize feeds series of recommendations, one step at a time on a
// fake clock, and checks each decision.
func TestStabilize(t *testing.T) {
	type step struct {
		after   time.Duration // since the previous step
		current int32
		rec     int32
		want    int32
		stab    bool
		limited string
	}
	for _, tc := range []struct {
		name  string
		h     *api.HorizontalPodAutoscaler
		steps []step
	}{
		{"scale-up is immediate", hpaFor(1, 10, 300, 0), []step{
			{0, 2, 6, 6, false, ""},
		}},
		{"scale-down waits for the window", hpaFor(1, 10, 300, 0), []step{
			{0, 5, 5, 5, false, ""},
			{15 * time.Second, 5, 2, 5, true, ""},
			{4 * time.Minute, 5, 2, 5, true, ""},
			{46 * time.Second, 5, 2, 2, false, ""}, // the 5 is now older than 300 s
		}},
		{"highest of the window wins", hpaFor(1, 10, 300, 0), []step{
			{0, 8, 8, 8, false, ""},
			{time.Minute, 8, 4, 8, true, ""},
			{time.Minute, 8, 6, 8, true, ""},
			{4 * time.Minute, 8, 2, 6, true, ""}, // 8 expired, 6 is the highest left
			{2 * time.Minute, 6, 2, 2, false, ""},
		}},
		{"no window: follows at once", hpaFor(1, 10, 0, 0), []step{
			{0, 8, 8, 8, false, ""},
			{15 * time.Second, 8, 3, 3, false, ""},
		}},
		{"oscillating load never scales down inside the window", hpaFor(1, 10, 300, 0), []step{
			{0, 4, 6, 6, false, ""},
			{15 * time.Second, 6, 3, 6, true, ""},
			{15 * time.Second, 6, 6, 6, false, ""},
			{15 * time.Second, 6, 3, 6, true, ""},
		}},
		{"scale-up window takes the lowest", hpaFor(1, 10, 300, 60), []step{
			{0, 2, 2, 2, false, ""},
			{15 * time.Second, 2, 6, 2, true, ""},
			{15 * time.Second, 2, 8, 2, true, ""},
			{30 * time.Second, 2, 8, 6, true, ""}, // the 2 left the window; 6 is the lowest in it
		}},
		{"clamped to max", hpaFor(2, 10, 300, 0), []step{
			{0, 4, 20, 10, false, ReasonTooMany},
		}},
		{"clamped to min", hpaFor(2, 10, 0, 0), []step{
			{0, 4, 1, 2, false, ReasonTooFew},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := controllerstest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
			var hist []recommendation
			for i, s := range tc.steps {
				clock.Advance(s.after)
				d := stabilize(tc.h, s.current, s.rec, &hist, clock.Now())
				if d.Desired != s.want || d.Stabilized != s.stab || d.Limited != s.limited {
					t.Errorf("step %d (current %d, recommendation %d): %+v, want %d stabilized=%v limited=%q",
						i, s.current, s.rec, d, s.want, s.stab, s.limited)
				}
			}
			if len(hist) > len(tc.steps) {
				t.Errorf("history grew to %d entries", len(hist))
			}
		})
	}
}
