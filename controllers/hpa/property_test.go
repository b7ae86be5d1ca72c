package hpa

import (
	"testing"
	"time"

	"pgregory.net/rapid"
)

// TestDecisionProperties: over any series of loads and pod states, the
// desired count stays within [min, max]; a scale-down never goes below a
// recommendation of the last window; and loads within tolerance of the
// target never change the count.
func TestDecisionProperties(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		minR := rapid.Int32Range(1, 5).Draw(t, "min")
		maxR := rapid.Int32Range(minR, 20).Draw(t, "max")
		window := rapid.Int32Range(0, 600).Draw(t, "window")
		h := hpaFor(minR, maxR, window, 0)
		target := rapid.Int32Range(10, 100).Draw(t, "target")
		current := rapid.Int32Range(minR, maxR).Draw(t, "current")
		now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		var hist []recommendation
		type past struct {
			at  time.Time
			rec int32
		}
		var recs []past
		for step := range rapid.IntRange(1, 30).Draw(t, "steps") {
			now = now.Add(time.Duration(rapid.IntRange(1, 120).Draw(t, "gap")) * time.Second)
			var pods []PodSample
			for i := range int(current) {
				p := PodSample{Name: string(rune('a' + i)), RequestMilli: 1000, Ready: rapid.IntRange(0, 9).Draw(t, "ready") > 0}
				if rapid.IntRange(0, 9).Draw(t, "metrics") > 0 {
					p.UsageMilli, p.HasMetrics = int64(rapid.IntRange(0, 3000).Draw(t, "usage")), true
				}
				pods = append(pods, p)
			}
			calc, err := Calculate(pods, current, target, DefaultTolerance)
			if err != nil {
				continue
			}
			if calc.Replicas < 0 {
				t.Fatalf("step %d: negative recommendation %d", step, calc.Replicas)
			}
			d := stabilize(h, current, calc.Replicas, &hist, now)
			recs = append(recs, past{now, calc.Replicas})
			if d.Desired < minR || d.Desired > maxR {
				t.Fatalf("step %d: desired %d outside [%d, %d]", step, d.Desired, minR, maxR)
			}
			if d.Desired < current {
				for _, r := range recs {
					if now.Sub(r.at) < time.Duration(window)*time.Second && r.rec > d.Desired && d.Desired < maxR {
						t.Fatalf("step %d: scaled down to %d below %d recommended %v ago (window %ds)", step, d.Desired, r.rec, now.Sub(r.at), window)
					}
				}
			}
			current = d.Desired
		}
	})
}

// TestWithinToleranceNeverScales: ready pods all with figures whose
// utilization is within 10% of the target keep the count.
func TestWithinToleranceNeverScales(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		target := rapid.Int32Range(10, 100).Draw(t, "target")
		n := rapid.IntRange(1, 30).Draw(t, "pods")
		// Usage in thousandths of the target, within ±9%.
		per := rapid.Int64Range(910, 1090).Draw(t, "permille")
		var pods []PodSample
		for i := range n {
			pods = append(pods, PodSample{Name: string(rune('a' + i)), Ready: true, HasMetrics: true,
				RequestMilli: 1000, UsageMilli: int64(target) * per / 100})
		}
		c, err := Calculate(pods, int32(n), target, DefaultTolerance)
		if err != nil || c.Replicas != int32(n) {
			t.Fatalf("%d pods at %d‰ of a %d%% target: %d replicas (%v)", n, per, target, c.Replicas, err)
		}
	})
}
