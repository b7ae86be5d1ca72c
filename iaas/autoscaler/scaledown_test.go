package autoscaler

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// idleWorld: a private pool of two nodes and a public pool of two, every
// node at 20% with a small pod on it.
func idleWorld() *world {
	w := newWorld()
	w.pool("private", 0, 1, 5, 2, 2, 4)
	w.pool("public", 10, 0, 5, 2, 2, 4)
	for _, name := range []string{"private-0", "private-1", "public-0", "public-1"} {
		w.bind("pod-"+name, name, "500m", nil)
	}
	w.use("private", 0.2)
	w.use("public", 0.2)
	return w
}

// downAfter runs loops from t0 every minute up to d and returns the
// scale-downs and the decisions of the last loop that had any.
func downAfter(t *testing.T, a *Autoscaler, w *world, d time.Duration) (downs []ScaleDown, decisions []api.ScaleDecisionSpec) {
	t.Helper()
	for at := time.Duration(0); at <= d; at += time.Minute {
		plan := a.Decide(context.Background(), w.snapshot(), t0.Add(at))
		w.apply(plan)
		downs = append(downs, plan.ScaleDowns...)
		if len(plan.Decisions) > 0 {
			decisions = plan.Decisions
		}
	}
	return downs, decisions
}

func TestScaleDownPublicFirst(t *testing.T) {
	w := idleWorld()
	a := New(Config{}, nil)
	downs, _ := downAfter(t, a, w, 9*time.Minute)
	if len(downs) != 0 {
		t.Fatalf("removed before the 10 min window: %+v", downs)
	}
	downs, decisions := downAfter(t, a, w, 10*time.Minute)
	if len(downs) != 1 || downs[0].Pool != "public" || downs[0].Replicas != 1 {
		t.Fatalf("scale-downs %+v, want one public node", downs)
	}
	d := decisions[0]
	if d.Trigger.Type != api.TriggerUnderutilized || d.Outcome.Type != api.OutcomeScaledDown || d.Outcome.Node != downs[0].Machine {
		t.Errorf("decision %+v", d)
	}
	// One at a time: the next goes a cooldown later, public again.
	plan := a.Decide(context.Background(), w.snapshot(), t0.Add(10*time.Minute+30*time.Second))
	if len(plan.ScaleDowns) != 0 {
		t.Fatalf("a second node within the cooldown: %+v", plan.ScaleDowns)
	}
}

// TestScaleDownWaitsForPublic: a private node idle a minute longer than
// the public ones waits for them (PublicFirst); a public node that is
// idle but may not go does not hold the private ones.
func TestScaleDownWaitsForPublic(t *testing.T) {
	ctx := context.Background()
	w := idleWorld()
	w.use("public", 0.9)
	a := New(Config{}, nil)
	a.Decide(ctx, w.snapshot(), t0) // the private nodes idle from t0
	w.use("public", 0.2)
	a.Decide(ctx, w.snapshot(), t0.Add(time.Minute)) // the public ones from t0+1m
	plan := a.Decide(ctx, w.snapshot(), t0.Add(10*time.Minute))
	if len(plan.ScaleDowns) != 0 {
		t.Fatalf("at t0+10m: %+v, want the private node to wait for the public ones", plan.ScaleDowns)
	}
	if len(plan.Decisions) == 0 || plan.Decisions[0].Outcome.Reason != api.ReasonPublicFirst {
		t.Fatalf("at t0+10m: decisions %+v, want NoAction %s", plan.Decisions, api.ReasonPublicFirst)
	}
	plan = a.Decide(ctx, w.snapshot(), t0.Add(11*time.Minute))
	if len(plan.ScaleDowns) != 1 || plan.ScaleDowns[0].Pool != "public" {
		t.Fatalf("at t0+11m: %+v, want a public node", plan.ScaleDowns)
	}

	// The public nodes may not go: the private ones do not wait.
	w = idleWorld()
	for _, n := range []string{"public-0", "public-1"} {
		w.bind("keep-"+n, n, "100m", map[string]string{api.AnnotationSafeToEvict: "false"})
	}
	a = New(Config{}, nil)
	downs, _ := downAfter(t, a, w, 10*time.Minute)
	if len(downs) != 1 || downs[0].Pool != "private" {
		t.Fatalf("with the public nodes not evictable: %+v, want a private node", downs)
	}
}

func TestScaleDownBlocked(t *testing.T) {
	for _, tc := range []struct {
		name   string
		setup  func(w *world)
		reason string
	}{
		{"at min", func(w *world) {
			w.pools["public"].NodePool.Spec.MinSize = 2
			w.pools["private"].NodePool.Spec.MinSize = 2
		}, api.ReasonPoolAtMin},
		{"safe-to-evict false", func(w *world) {
			for _, n := range []string{"private-0", "private-1", "public-0", "public-1"} {
				w.bind("keep-"+n, n, "100m", map[string]string{api.AnnotationSafeToEvict: "false"})
			}
		}, api.ReasonNotEvictable},
		{"our annotation", func(w *world) {
			for _, n := range []string{"private-0", "private-1", "public-0", "public-1"} {
				w.bind("keep-"+n, n, "100m", map[string]string{api.AnnotationNoScaleDown: "true"})
			}
		}, api.ReasonNotEvictable},
		{"pods fit nowhere else", func(w *world) {
			for _, n := range []string{"private-0", "private-1", "public-0", "public-1"} {
				w.bind("big-"+n, n, "3", nil)
			}
		}, api.ReasonPodsDoNotFit},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := idleWorld()
			tc.setup(w)
			a := New(Config{}, nil)
			downs, decisions := downAfter(t, a, w, 15*time.Minute)
			if len(downs) != 0 {
				t.Fatalf("removed %+v", downs)
			}
			if len(decisions) == 0 || decisions[0].Outcome.Type != api.OutcomeNoAction || decisions[0].Outcome.Reason != tc.reason {
				t.Fatalf("decisions %+v, want NoAction %s", decisions, tc.reason)
			}
		})
	}
}

// TestScaleDownHysteresis: a node under 50% is kept while the pool
// without it would run at or above the target.
func TestScaleDownHysteresis(t *testing.T) {
	w := newWorld()
	w.pool("private", 0, 1, 5, 2, 2, 4)
	w.use("private", 0.45)
	a := New(Config{}, nil)
	downs, decisions := downAfter(t, a, w, 15*time.Minute)
	if len(downs) != 0 || len(decisions) == 0 || decisions[0].Outcome.Reason != api.ReasonAboveTarget {
		t.Fatalf("downs %+v decisions %+v", downs, decisions)
	}
}

// TestNoScaleDownSoonAfterGrowth: a pool that just grew keeps its nodes.
func TestNoScaleDownSoonAfterGrowth(t *testing.T) {
	w := idleWorld()
	a := New(Config{ScaleDownWindow: time.Minute, ScaleDownDelayAfterUp: 5 * time.Minute}, nil)
	a.grown["public"], a.grown["private"] = t0.Add(time.Minute), t0.Add(time.Minute)
	downs, _ := downAfter(t, a, w, 5*time.Minute)
	if len(downs) != 0 {
		t.Fatalf("removed %+v within the delay", downs)
	}
	if downs, _ := downAfter(t, a, w, 7*time.Minute); len(downs) == 0 {
		t.Fatalf("nothing removed after the delay")
	}
}

// TestForgetsGoneNodesAndPools: what is remembered of a node or pool goes
// with it.
func TestForgetsGoneNodesAndPools(t *testing.T) {
	w := idleWorld()
	w.pools["public"].NodePool.Spec.MinSize = 2
	w.pools["private"].NodePool.Spec.MinSize = 2
	a := New(Config{}, nil)
	downAfter(t, a, w, 11*time.Minute)
	if len(a.lowSince) != 4 || a.said["down/public-0"] == "" {
		t.Fatalf("remembered %v and %v", a.lowSince, a.said)
	}
	w.order = w.order[:1] // the public pool and its nodes are gone
	delete(w.pools, "public")
	a.Decide(context.Background(), w.snapshot(), t0.Add(12*time.Minute))
	if _, ok := a.lowSince["public-0"]; ok {
		t.Fatalf("still remembered: %v", a.lowSince)
	}
	for k := range a.said {
		if strings.Contains(k, "public") {
			t.Fatalf("still remembered: %v", a.said)
		}
	}
}
