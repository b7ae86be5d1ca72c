package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
)

// TestUtilizationWindow: a pool at 85% grows only once that held for the
// window, by enough nodes for the target, and says so.
func TestUtilizationWindow(t *testing.T) {
	w := newWorld()
	w.pool("private", 0, 1, 5, 2, 2, 4)
	w.use("private", 0.85)
	a := New(Config{}, nil)
	ctx := context.Background()
	for _, after := range []time.Duration{0, 10 * time.Second, 29 * time.Second} {
		if plan := a.Decide(ctx, w.snapshot(), t0.Add(after)); len(plan.ScaleUps) != 0 || len(plan.Decisions) != 0 {
			t.Fatalf("at %v, before the window: %+v", after, plan)
		}
	}
	plan := a.Decide(ctx, w.snapshot(), t0.Add(30*time.Second))
	if len(plan.ScaleUps) != 1 || plan.ScaleUps[0] != (ScaleUp{Pool: "private", Replicas: 3}) {
		t.Fatalf("after the window: %+v", plan.ScaleUps)
	}
	d := plan.Decisions[0]
	if d.Trigger.Type != api.TriggerUtilization || d.Trigger.UtilizationPercent < 84 || d.Trigger.UtilizationPercent > 86 ||
		d.Trigger.ThresholdPercent != 80 || d.Trigger.WindowSeconds != 30 || !d.TriggeredTime.Equal(t0) {
		t.Errorf("trigger: %+v, triggered %v", d.Trigger, d.TriggeredTime)
	}
	if d.Outcome != (api.ScaleOutcome{Type: api.OutcomeScaledUp, Pool: "private", Delta: 1}) {
		t.Errorf("outcome: %+v", d.Outcome)
	}
	if errs := api.ValidateScaleDecision(&api.ScaleDecision{ObjectMeta: api.ObjectMeta{Name: "d"}, Spec: d}); len(errs) > 0 {
		t.Errorf("the record is not valid: %v", errs)
	}
}

// TestPlanWakesAtTheWindowEnd: the plan asks the loop to run again when a
// hot pool's window ends, and, once it grew, when its cooldown ends; a
// cool pool asks for nothing.
func TestPlanWakesAtTheWindowEnd(t *testing.T) {
	w := newWorld()
	w.pool("private", 0, 1, 9, 2, 2, 4)
	a := New(Config{}, nil)
	ctx := context.Background()
	w.use("private", 0.3)
	if plan := a.Decide(ctx, w.snapshot(), t0); !plan.Wake.IsZero() {
		t.Fatalf("a cool pool: wake at %v, want none", plan.Wake)
	}
	w.use("private", 0.9)
	start := t0.Add(7 * time.Second)
	if plan := a.Decide(ctx, w.snapshot(), start); !plan.Wake.Equal(start.Add(30 * time.Second)) {
		t.Fatalf("hot from %v: wake at %v, want the window's end", start, plan.Wake)
	}
	if plan := a.Decide(ctx, w.snapshot(), start.Add(12*time.Second)); !plan.Wake.Equal(start.Add(30 * time.Second)) {
		t.Fatalf("within the window: wake at %v, want its end", plan.Wake)
	}
	grew := start.Add(30 * time.Second)
	plan := a.Decide(ctx, w.snapshot(), grew)
	if len(plan.ScaleUps) != 1 || !plan.Wake.IsZero() {
		t.Fatalf("at the window's end: %+v, wake at %v, want growth and no wake (the window starts anew at the next loop)", plan.ScaleUps, plan.Wake)
	}
	// Still hot at the next loop: a new window, and the cooldown ends
	// before it.
	next := grew.Add(5 * time.Second)
	if plan := a.Decide(ctx, w.snapshot(), next); !plan.Wake.Equal(grew.Add(30 * time.Second)) {
		t.Fatalf("hot again after growing: wake at %v, want the cooldown's end %v", plan.Wake, grew.Add(30*time.Second))
	}
}

// TestUtilizationDipRestartsWindow: a dip under the threshold restarts
// the window.
func TestUtilizationDipRestartsWindow(t *testing.T) {
	w := newWorld()
	w.pool("private", 0, 1, 5, 2, 2, 4)
	a := New(Config{}, nil)
	ctx := context.Background()
	for i, u := range []float64{0.9, 0.9, 0.7, 0.9, 0.9, 0.9} {
		w.use("private", u)
		if plan := a.Decide(ctx, w.snapshot(), t0.Add(time.Duration(i)*10*time.Second)); len(plan.ScaleUps) != 0 {
			t.Fatalf("loop %d: grew though the window restarted at 30s: %+v", i, plan.ScaleUps)
		}
	}
	if plan := a.Decide(ctx, w.snapshot(), t0.Add(60*time.Second)); len(plan.ScaleUps) != 1 {
		t.Fatalf("30s after the dip: %+v", plan)
	}
}

// TestBootingCountsAsCapacity: machines asked for and still booting hold
// the next loops back, once.
func TestBootingCountsAsCapacity(t *testing.T) {
	w := newWorld()
	w.pool("private", 0, 1, 10, 3, 2, 4) // one booting
	w.use("private", 0.85)
	a := New(Config{ScaleUpWindow: time.Second}, nil)
	ctx := context.Background()
	a.Decide(ctx, w.snapshot(), t0)
	plan := a.Decide(ctx, w.snapshot(), t0.Add(time.Minute))
	if len(plan.ScaleUps) != 0 {
		t.Fatalf("grew while a machine boots: %+v", plan.ScaleUps)
	}
	if len(plan.Decisions) != 1 || plan.Decisions[0].Outcome.Reason != api.ReasonBooting {
		t.Fatalf("want one NoAction %s decision, got %+v", api.ReasonBooting, plan.Decisions)
	}
	if plan := a.Decide(ctx, w.snapshot(), t0.Add(2*time.Minute)); len(plan.Decisions) != 0 {
		t.Fatalf("the same decision not to act recorded twice: %+v", plan.Decisions)
	}
}

// TestBursting: the private pool at max, out of capacity or over quota
// sends the scale-up to the public pool in the same loop; a failing pool
// is backed off, then tried first again.
func TestBursting(t *testing.T) {
	for _, tc := range []struct {
		name       string
		privateMax int32
		err        error
		reason     string
	}{
		{"at max", 2, nil, api.ReasonPoolAtMax},
		{"no capacity", 5, fmt.Errorf("sim: no host: %w", iaas.ErrInsufficientCapacity), api.ReasonInsufficientCapacity},
		{"quota", 5, fmt.Errorf("sim: %w", iaas.ErrQuota), api.ReasonQuota},
		{"other error", 5, errors.New("boom"), api.ReasonProviderError},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.pool("public", 10, 0, 5, 0, 0, 4)
			w.pool("private", 0, 1, tc.privateMax, 2, 2, 4)
			w.use("private", 0.9)
			c := &capacity{errs: map[string]error{"private": tc.err}}
			a := New(Config{ScaleUpWindow: time.Second}, c.check)
			ctx := context.Background()
			a.Decide(ctx, w.snapshot(), t0)
			plan := a.Decide(ctx, w.snapshot(), t0.Add(time.Second))
			if len(plan.ScaleUps) != 1 || plan.ScaleUps[0] != (ScaleUp{Pool: "public", Replicas: 1}) {
				t.Fatalf("scale-ups %+v, want public to 1", plan.ScaleUps)
			}
			d := plan.Decisions[0]
			if len(d.Pools) != 2 || d.Pools[0].Pool != "private" || d.Pools[0].Reason != tc.reason || d.Pools[1].Pool != "public" || !d.Pools[1].Taken {
				t.Fatalf("pools considered: %+v", d.Pools)
			}
			if tc.err == nil {
				return
			}
			if d.Calls[0].Pool != "private" || d.Calls[0].Error == "" || d.Calls[1].Pool != "public" || d.Calls[1].Error != "" {
				t.Errorf("calls: %+v", d.Calls)
			}
			if off, _ := a.BackedOff("private", t0.Add(time.Minute)); !off {
				t.Errorf("private not backed off")
			}
			// Later growth returns to the private pool first, once its
			// backoff is over and it answers again.
			delete(c.errs, "private")
			w.apply(plan)
			w.use("private", 0.5) // the trigger clears, and holds again later
			a.Decide(ctx, w.snapshot(), t0.Add(90*time.Second))
			w.use("private", 0.99)
			a.Decide(ctx, w.snapshot(), t0.Add(2*time.Minute))
			plan = a.Decide(ctx, w.snapshot(), t0.Add(2*time.Minute+time.Second))
			if len(plan.ScaleUps) != 1 || plan.ScaleUps[0].Pool != "private" {
				t.Fatalf("after the backoff: %+v", plan.ScaleUps)
			}
		})
	}
}

// TestBackoffDoubles: 1 min, doubling to 10 min.
func TestBackoffDoubles(t *testing.T) {
	a := New(Config{}, nil)
	now := t0
	var got []time.Duration
	for range 6 {
		a.fail("p", now, api.ReasonInsufficientCapacity, "")
		got = append(got, a.backoffs["p"].until.Sub(now))
		now = a.backoffs["p"].until
	}
	want := []time.Duration{time.Minute, 2 * time.Minute, 4 * time.Minute, 8 * time.Minute, 10 * time.Minute, 10 * time.Minute}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("backoffs %v, want %v", got, want)
	}
}

// TestPendingPods: unschedulable pods grow the first pool whose template
// they fit (taints and size respected), bin-packed.
func TestPendingPods(t *testing.T) {
	tolerate := api.Toleration{Key: "public", Operator: api.TolerationOpExists}
	for _, tc := range []struct {
		name  string
		setup func(w *world)
		want  []ScaleUp
		// skipped is the private pool's reason.
		skipped string
	}{
		{"five 1-CPU pods on 4-CPU nodes: two nodes", func(w *world) { w.pending("web", 5, "1") },
			[]ScaleUp{{Pool: "private", Replicas: 3}}, ""},
		{"too big for private", func(w *world) { w.pending("big", 1, "6") },
			[]ScaleUp{{Pool: "public", Replicas: 1}}, api.ReasonTemplateDoesNotFit},
		{"does not tolerate public's taint", func(w *world) {
			w.pools["public"].NodePool.Spec.Taints = []api.Taint{{Key: "public", Effect: api.TaintEffectNoSchedule}}
			w.pending("big", 1, "6")
		}, nil, api.ReasonTemplateDoesNotFit},
		{"tolerates it", func(w *world) {
			w.pools["public"].NodePool.Spec.Taints = []api.Taint{{Key: "public", Effect: api.TaintEffectNoSchedule}}
			w.pending("big", 1, "6", tolerate)
		}, []ScaleUp{{Pool: "public", Replicas: 1}}, api.ReasonTemplateDoesNotFit},
		{"private at max: the rest to public", func(w *world) {
			w.pools["private"].NodePool.Spec.MaxSize = 2
			w.pending("web", 7, "1")
		}, []ScaleUp{{Pool: "private", Replicas: 2}, {Pool: "public", Replicas: 1}}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := newWorld()
			w.pool("private", 0, 1, 10, 1, 1, 4)
			w.pool("public", 10, 0, 10, 0, 0, 8)
			tc.setup(w)
			w.fill()
			a := New(Config{}, nil)
			plan := a.Decide(context.Background(), w.snapshot(), t0.Add(time.Second))
			var ups []ScaleUp
			for _, u := range plan.ScaleUps {
				if u.Replicas != replicas(w.pools[u.Pool]) {
					ups = append(ups, u)
				}
			}
			if fmt.Sprint(ups) != fmt.Sprint(tc.want) {
				t.Fatalf("scale-ups %+v, want %+v (decisions %+v)", ups, tc.want, plan.Decisions)
			}
			d := plan.Decisions[0]
			pending := 0
			for _, p := range w.pods {
				if p.Spec.NodeName == "" {
					pending++
				}
			}
			if d.Trigger.Type != api.TriggerPendingPods || int(d.Trigger.PendingCount) != pending || !d.TriggeredTime.Equal(t0) {
				t.Errorf("trigger %+v", d.Trigger)
			}
			if tc.skipped != "" && (d.Pools[0].Pool != "private" || d.Pools[0].Reason != tc.skipped) {
				t.Errorf("private: %+v, want %s", d.Pools[0], tc.skipped)
			}
			if tc.want == nil && (d.Outcome.Type != api.OutcomeNoAction || d.Outcome.Reason == "") {
				t.Errorf("outcome %+v", d.Outcome)
			}
		})
	}
}

// TestPendingPodsWaitForBootingMachines: pods that fit on the machines
// still booting ask for nothing more.
func TestPendingPodsWaitForBootingMachines(t *testing.T) {
	w := newWorld()
	w.pool("private", 0, 1, 10, 2, 1, 4)
	w.pending("web", 3, "1")
	w.fill()
	a := New(Config{}, nil)
	plan := a.Decide(context.Background(), w.snapshot(), t0)
	if len(plan.ScaleUps) != 0 || len(plan.Decisions) != 1 || plan.Decisions[0].Outcome.Reason != api.ReasonBooting {
		t.Fatalf("plan %+v", plan)
	}
	w.pending("more", 1, "1")
	plan = a.Decide(context.Background(), w.snapshot(), t0)
	if len(plan.ScaleUps) != 1 || plan.ScaleUps[0].Replicas != 3 {
		t.Fatalf("a fourth pod: %+v", plan)
	}
}

// TestGlobalMax bounds all pools together.
func TestGlobalMax(t *testing.T) {
	w := newWorld()
	w.pool("private", 0, 1, 10, 2, 2, 4)
	w.pool("public", 10, 0, 10, 1, 1, 4)
	w.pending("web", 12, "1")
	w.fill()
	a := New(Config{MaxNodes: 4}, nil)
	plan := a.Decide(context.Background(), w.snapshot(), t0)
	if len(plan.ScaleUps) != 1 || plan.ScaleUps[0] != (ScaleUp{Pool: "private", Replicas: 3}) {
		t.Fatalf("scale-ups %+v, want private to 3 (4 machines in all)", plan.ScaleUps)
	}
	if d := plan.Decisions[0]; d.Pools[len(d.Pools)-1].Reason != api.ReasonGlobalMax {
		t.Errorf("pools %+v, want the public one skipped for the global max", d.Pools)
	}
}

// TestFailedMachineBacksPoolOff: a pool whose provider failed a machine
// (no capacity check) is passed over.
func TestFailedMachineBacksPoolOff(t *testing.T) {
	w := newWorld()
	p := w.pool("private", 0, 1, 10, 2, 1, 4)
	p.Machines[1].Status = api.MachineStatus{Phase: api.MachineFailed, Message: "create: insufficient capacity"}
	w.pool("public", 10, 0, 10, 0, 0, 4)
	w.pending("web", 2, "3")
	w.fill()
	a := New(Config{}, nil)
	plan := a.Decide(context.Background(), w.snapshot(), t0)
	if len(plan.ScaleUps) != 1 || plan.ScaleUps[0].Pool != "public" {
		t.Fatalf("scale-ups %+v, decisions %+v", plan.ScaleUps, plan.Decisions)
	}
	// Its failed request is given up, not made again later on top.
	if len(plan.GiveUps) != 1 || plan.GiveUps[0] != (ScaleUp{Pool: "private", Replicas: 1}) {
		t.Fatalf("give-ups %+v, want private back to 1", plan.GiveUps)
	}
	w.apply(Plan{ScaleUps: plan.GiveUps})
	w.pending("more", 2, "3")
	plan = a.Decide(context.Background(), w.snapshot(), t0.Add(2*time.Minute))
	if len(plan.GiveUps) != 0 {
		t.Fatalf("given up again: %+v", plan.GiveUps)
	}
}

// TestPendingPodsThatFitNow: a pod that fits a Ready node as it is is left
// to the scheduler; and pending pods no pool can hold do not keep idle
// nodes from going.
func TestPendingPodsThatFitNow(t *testing.T) {
	w := newWorld()
	w.pool("private", 0, 1, 10, 2, 2, 4)
	w.pending("web", 2, "1")
	a := New(Config{ScaleDownWindow: time.Minute}, nil)
	if plan := a.Decide(context.Background(), w.snapshot(), t0); len(plan.ScaleUps) != 0 || len(plan.Decisions) != 0 {
		t.Fatalf("pods that fit now: %+v", plan)
	}
	w = newWorld()
	w.pool("private", 0, 1, 10, 2, 2, 4)
	w.use("private", 0.1)
	w.pending("huge", 1, "64")
	a = New(Config{ScaleDownWindow: time.Minute}, nil)
	var downs []ScaleDown
	for at := time.Duration(0); at <= 2*time.Minute; at += 10 * time.Second {
		plan := a.Decide(context.Background(), w.snapshot(), t0.Add(at))
		downs = append(downs, plan.ScaleDowns...)
		w.apply(plan)
	}
	if len(downs) != 1 {
		t.Fatalf("scale-downs %+v with a pod no pool holds pending, want one", downs)
	}
}

// TestFlavorPool: an empty pool that names a flavor is sized from the
// flavor the provider describes; unknown, it is skipped and says why.
func TestFlavorPool(t *testing.T) {
	w := newWorld()
	w.pool("private", 0, 1, 1, 1, 1, 4)
	pub := w.pool("public", 10, 0, 5, 0, 0, 0)
	pub.NodePool.Spec.Flavor, pub.NodePool.Spec.Memory = "m1.large", api.Quantity{}
	w.pending("big", 1, "6")
	w.fill()
	plan := New(Config{}, nil).Decide(context.Background(), w.snapshot(), t0)
	if len(plan.ScaleUps) != 0 || plan.Decisions[0].Pools[1].Reason != api.ReasonTemplateDoesNotFit {
		t.Fatalf("unknown flavor: %+v", plan)
	}
	pub.Flavor = iaas.Flavor{Name: "m1.large", CPUs: 8, MemoryMiB: 16384}
	plan = New(Config{}, nil).Decide(context.Background(), w.snapshot(), t0)
	if len(plan.ScaleUps) != 1 || plan.ScaleUps[0] != (ScaleUp{Pool: "public", Replicas: 1}) {
		t.Fatalf("known flavor: %+v", plan)
	}
}
