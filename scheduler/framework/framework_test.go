package framework_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/scheduler/framework"
)

// cand is a candidate with a capacity; item is a size to place.
type cand struct {
	name string
	free int
}

func (c *cand) CandidateName() string { return c.name }

type fits struct{ calls chanCounter }

type chanCounter struct{ n chan struct{} }

func (fits) Name() string { return "Fits" }
func (f fits) Filter(_ context.Context, _ *framework.CycleState, size int, c *cand) *framework.Status {
	if f.calls.n != nil {
		f.calls.n <- struct{}{}
	}
	if c.free < size {
		return framework.NewStatus(framework.Unschedulable, "Insufficient room")
	}
	return nil
}

type notNamed struct{ bad string }

func (notNamed) Name() string { return "NotNamed" }
func (p notNamed) Filter(_ context.Context, _ *framework.CycleState, _ int, c *cand) *framework.Status {
	if strings.HasPrefix(c.name, p.bad) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) had untolerated taint")
	}
	return nil
}

// mostFree scores by free room, normalized.
type mostFree struct{}

func (mostFree) Name() string { return "MostFree" }
func (mostFree) Score(_ context.Context, _ *framework.CycleState, _ int, c *cand) (int64, *framework.Status) {
	return int64(c.free), nil
}
func (mostFree) NormalizeScore(_ context.Context, _ *framework.CycleState, _ int, s []framework.CandidateScore) *framework.Status {
	framework.DefaultNormalizeScore(framework.MaxScore, false, s)
	return nil
}

type constScore struct{}

func (constScore) Name() string { return "Const" }
func (constScore) Score(context.Context, *framework.CycleState, int, *cand) (int64, *framework.Status) {
	return 7, nil
}

func cluster(n int, free func(i int) int) []*cand {
	out := make([]*cand, n)
	for i := range out {
		out[i] = &cand{name: fmt.Sprintf("n%04d", i), free: free(i)}
	}
	return out
}

func TestScheduleExplainsWhyNothingFits(t *testing.T) {
	fw := framework.New(framework.Profile[int, *cand]{
		Filters: []framework.FilterPlugin[int, *cand]{notNamed{bad: "t"}, fits{}},
	})
	cs := []*cand{{"a", 1}, {"b", 2}, {"c", 1}, {"t1", 9}, {"t2", 9}}
	_, err := fw.Schedule(context.Background(), framework.NewCycleState(), 5, cs)
	var fe *framework.FitError
	if !asFitError(err, &fe) {
		t.Fatalf("Schedule = %v, want a FitError", err)
	}
	want := "0/5 nodes are available: 3 Insufficient room, 2 node(s) had untolerated taint."
	if fe.Error() != want {
		t.Fatalf("message\n got %q\nwant %q", fe.Error(), want)
	}
	if !fe.Resolvable() {
		t.Fatal("an Unschedulable rejection should be resolvable by preemption")
	}
	if got := fe.Statuses["t1"].Plugin(); got != "NotNamed" {
		t.Fatalf("t1 rejected by %q, want NotNamed", got)
	}
}

func asFitError(err error, out **framework.FitError) bool {
	fe, ok := err.(*framework.FitError)
	*out = fe
	return ok
}

func TestScheduleSelectsHighestScore(t *testing.T) {
	fw := framework.New(framework.Profile[int, *cand]{
		Filters:           []framework.FilterPlugin[int, *cand]{fits{}},
		Scores:            []framework.WeightedScore[int, *cand]{{Plugin: mostFree{}, Weight: 1}},
		PercentageToScore: 100,
	})
	cs := cluster(300, func(i int) int { return i % 50 })
	cs[123].free = 1000
	for range 20 {
		res, err := fw.Schedule(context.Background(), framework.NewCycleState(), 3, cs)
		if err != nil {
			t.Fatal(err)
		}
		if res.Selected != "n0123" {
			t.Fatalf("selected %s, want n0123 (most free)", res.Selected)
		}
		if res.Evaluated != 300 || res.Feasible != 300-6*3 {
			t.Fatalf("evaluated %d feasible %d, want 300 and %d", res.Evaluated, res.Feasible, 300-18)
		}
	}
}

func TestTiesAreBrokenAtRandom(t *testing.T) {
	fw := framework.New(framework.Profile[int, *cand]{
		Filters: []framework.FilterPlugin[int, *cand]{fits{}},
		Scores:  []framework.WeightedScore[int, *cand]{{Plugin: constScore{}, Weight: 1}},
	})
	cs := cluster(8, func(int) int { return 10 })
	seen := map[string]int{}
	for range 400 {
		res, err := fw.Schedule(context.Background(), framework.NewCycleState(), 1, cs)
		if err != nil {
			t.Fatal(err)
		}
		seen[res.Selected]++
	}
	if len(seen) != 8 {
		t.Fatalf("400 tied placements used %d of 8 candidates: %v", len(seen), seen)
	}
	for name, n := range seen {
		if n > 120 {
			t.Fatalf("%s got %d of 400 tied placements: ties pile up", name, n)
		}
	}
}

func TestAdaptiveSampleStopsEarly(t *testing.T) {
	fw := framework.New(framework.Profile[int, *cand]{
		Filters: []framework.FilterPlugin[int, *cand]{fits{}},
		Scores:  []framework.WeightedScore[int, *cand]{{Plugin: mostFree{}, Weight: 1}},
	})
	for _, tc := range []struct{ n, want int }{{50, 50}, {100, 100}, {500, 230}, {1000, 420}, {5000, 500}, {10000, 500}} {
		if got := fw.NumToFind(tc.n); got != tc.want {
			t.Errorf("NumToFind(%d) = %d, want %d", tc.n, got, tc.want)
		}
	}
	cs := cluster(5000, func(int) int { return 10 })
	res, err := fw.Schedule(context.Background(), framework.NewCycleState(), 1, cs)
	if err != nil {
		t.Fatal(err)
	}
	if res.Feasible != 500 {
		t.Fatalf("feasible %d, want the 500 the sample asks for", res.Feasible)
	}
	if res.Evaluated >= 1000 {
		t.Fatalf("evaluated %d of 5000 candidates to find 500 feasible ones", res.Evaluated)
	}
}

func TestSampleStillFindsTheOnlyFit(t *testing.T) {
	fw := framework.New(framework.Profile[int, *cand]{
		Filters: []framework.FilterPlugin[int, *cand]{fits{}},
	})
	cs := cluster(5000, func(int) int { return 0 })
	cs[4321].free = 5
	for range 10 {
		res, err := fw.Schedule(context.Background(), framework.NewCycleState(), 5, cs)
		if err != nil {
			t.Fatal(err)
		}
		if res.Selected != "n4321" || res.Evaluated != 5000 {
			t.Fatalf("got %+v, want n4321 after evaluating all 5000", res)
		}
	}
}

func TestFilterErrorIsAnError(t *testing.T) {
	fw := framework.New(framework.Profile[int, *cand]{
		Filters: []framework.FilterPlugin[int, *cand]{errFilter{}},
	})
	_, err := fw.Schedule(context.Background(), framework.NewCycleState(), 1, cluster(3, func(int) int { return 1 }))
	if err == nil || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("Schedule = %v, want the filter's error", err)
	}
	if _, ok := err.(*framework.FitError); ok {
		t.Fatal("an internal error must not read as unschedulable")
	}
}

type errFilter struct{}

func (errFilter) Name() string { return "Err" }
func (errFilter) Filter(context.Context, *framework.CycleState, int, *cand) *framework.Status {
	return framework.AsStatus(fmt.Errorf("boom"))
}

func TestNoCandidates(t *testing.T) {
	fw := framework.New(framework.Profile[int, *cand]{})
	_, err := fw.Schedule(context.Background(), framework.NewCycleState(), 1, nil)
	if err == nil || err.Error() != "0/0 nodes are available: no nodes to place on." {
		t.Fatalf("Schedule with no nodes = %v", err)
	}
}

func BenchmarkSchedule5000(b *testing.B) {
	fw := framework.New(framework.Profile[int, *cand]{
		Filters: []framework.FilterPlugin[int, *cand]{fits{}, notNamed{bad: "x"}},
		Scores:  []framework.WeightedScore[int, *cand]{{Plugin: mostFree{}, Weight: 1}},
	})
	cs := cluster(5000, func(i int) int { return i % 17 })
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := fw.Schedule(ctx, framework.NewCycleState(), 3, cs); err != nil {
			b.Fatal(err)
		}
	}
}

// Candidates added group by group (say, hypervisor by hypervisor) must all
// be represented in a sample that stops early.
func TestSampleSpansGroupedCandidates(t *testing.T) {
	fw := framework.New(framework.Profile[int, *cand]{
		Filters: []framework.FilterPlugin[int, *cand]{fits{}},
		Scores:  []framework.WeightedScore[int, *cand]{{Plugin: groupScore{}, Weight: 1}},
	})
	cs := cluster(5000, func(int) int { return 10 })
	// Five groups of 1,000 contiguous candidates; the scorer prefers group 4
	// and the search stops at 500 feasible candidates.
	for range 50 {
		res, err := fw.Schedule(context.Background(), framework.NewCycleState(), 1, cs)
		if err != nil {
			t.Fatal(err)
		}
		var i int
		fmt.Sscanf(res.Selected, "n%d", &i)
		if i/1000 != 4 {
			t.Fatalf("selected %s of group %d: the 500-candidate sample missed group 4", res.Selected, i/1000)
		}
	}
}

type groupScore struct{}

func (groupScore) Name() string { return "Group" }
func (groupScore) Score(_ context.Context, _ *framework.CycleState, _ int, c *cand) (int64, *framework.Status) {
	var i int
	fmt.Sscanf(c.name, "n%d", &i)
	return int64(i / 1000), nil
}
