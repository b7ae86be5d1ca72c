package disruption

import (
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// pod is a selected pod: ready or not, terminating or not, controlled by
// owner ("" for a bare pod).
func pod(name, owner string, ready, deleting bool) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"}}}
	p.Status.Phase = api.PodRunning
	if ready {
		api.SetPodCondition(&p.Status, api.PodCondition{Type: api.PodReady, Status: api.ConditionTrue})
	}
	if deleting {
		t := api.Now()
		p.DeletionTimestamp = &t
	}
	if owner != "" {
		p.Annotations = map[string]string{"owner": owner}
	}
	return p
}

// fakeScales declares a scale for the owners named in a pod's "owner"
// annotation.
func fakeScales(scales map[string]int32) ScaleFunc {
	return func(p *api.Pod) (Scale, bool) {
		o := p.Annotations["owner"]
		n, ok := scales[o]
		return Scale{Owner: o, Replicas: n}, ok
	}
}

func TestCompute(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	ago := func(d time.Duration) api.Time { return api.NewTime(now.Add(-d)) }
	intv := func(n int32) *api.IntOrString { v := api.FromInt(n); return &v }
	pct := func(s string) *api.IntOrString { v := api.FromString(s); return &v }
	rs := map[string]int32{"rs": 4}
	four := []*api.Pod{pod("a", "rs", true, false), pod("b", "rs", true, false), pod("c", "rs", true, false), pod("d", "rs", true, false)}
	cases := []struct {
		name      string
		spec      api.PodDisruptionBudgetSpec
		disrupted map[string]api.Time
		pods      []*api.Pod
		scales    map[string]int32
		// expected, healthy, desired, allowed
		want        [4]int32
		keep        []string // entries left in disruptedPods
		reason, err string
	}{
		{name: "min count", spec: api.PodDisruptionBudgetSpec{MinAvailable: intv(3)}, pods: four, scales: rs,
			want: [4]int32{4, 4, 3, 1}, reason: api.ReasonSufficientPods},
		{name: "min count, declared scale above the pods", spec: api.PodDisruptionBudgetSpec{MinAvailable: intv(3)},
			pods: four[:3], scales: map[string]int32{"rs": 5}, want: [4]int32{5, 3, 3, 0}, reason: api.ReasonInsufficientPods},
		{name: "max unavailable uses the declared scale, not the pods",
			spec: api.PodDisruptionBudgetSpec{MaxUnavailable: intv(1)}, pods: four[:3], scales: rs,
			want: [4]int32{4, 3, 3, 0}, reason: api.ReasonInsufficientPods},
		{name: "min percent rounds up", spec: api.PodDisruptionBudgetSpec{MinAvailable: pct("50%")},
			pods: four[:3], scales: map[string]int32{"rs": 3}, want: [4]int32{3, 3, 2, 1}},
		{name: "max percent rounds up", spec: api.PodDisruptionBudgetSpec{MaxUnavailable: pct("30%")},
			pods: four, scales: rs, want: [4]int32{4, 4, 2, 2}},
		{name: "not ready and terminating pods are not healthy", spec: api.PodDisruptionBudgetSpec{MinAvailable: intv(2)},
			pods:   []*api.Pod{pod("a", "rs", true, false), pod("b", "rs", false, false), pod("c", "rs", true, true), pod("d", "rs", true, false)},
			scales: rs, want: [4]int32{4, 2, 2, 0}},
		{name: "two owners each counted once", spec: api.PodDisruptionBudgetSpec{MaxUnavailable: intv(1)},
			pods:   []*api.Pod{pod("a", "x", true, false), pod("b", "x", true, false), pod("c", "y", true, false)},
			scales: map[string]int32{"x": 2, "y": 3}, want: [4]int32{5, 3, 4, 0}},
		{name: "bare pods count themselves with min count", spec: api.PodDisruptionBudgetSpec{MinAvailable: intv(1)},
			pods: []*api.Pod{pod("a", "", true, false), pod("b", "", true, false)}, want: [4]int32{2, 2, 1, 1}},
		{name: "bare pods and a percentage fail", spec: api.PodDisruptionBudgetSpec{MinAvailable: pct("50%")},
			pods:   []*api.Pod{pod("a", "", true, false), pod("b", "", true, false)},
			reason: api.ReasonSyncFailed, err: "pods a, b have no controller"},
		{name: "bare pods and maxUnavailable fail", spec: api.PodDisruptionBudgetSpec{MaxUnavailable: intv(1)},
			pods: []*api.Pod{pod("a", "", true, false)}, reason: api.ReasonSyncFailed, err: "pods a have no controller"},
		{name: "a recent eviction still counts", spec: api.PodDisruptionBudgetSpec{MinAvailable: intv(2)},
			disrupted: map[string]api.Time{"a": ago(time.Minute)}, pods: four, scales: rs,
			want: [4]int32{4, 4, 2, 1}, keep: []string{"a"}},
		{name: "an expired eviction is dropped", spec: api.PodDisruptionBudgetSpec{MinAvailable: intv(2)},
			disrupted: map[string]api.Time{"a": ago(2*time.Minute + time.Second)}, pods: four, scales: rs,
			want: [4]int32{4, 4, 2, 2}},
		{name: "evictions seen terminating or gone are dropped", spec: api.PodDisruptionBudgetSpec{MinAvailable: intv(1)},
			disrupted: map[string]api.Time{"a": ago(time.Second), "gone": ago(time.Second)},
			pods:      []*api.Pod{pod("a", "rs", true, true), pod("b", "rs", true, false), pod("c", "rs", true, false)},
			scales:    map[string]int32{"rs": 3}, want: [4]int32{3, 2, 1, 1}},
		{name: "never below zero", spec: api.PodDisruptionBudgetSpec{MinAvailable: intv(5)},
			disrupted: map[string]api.Time{"a": ago(time.Second)}, pods: four, scales: rs,
			want: [4]int32{4, 4, 5, 0}, keep: []string{"a"}, reason: api.ReasonInsufficientPods},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			b := &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "ns", Generation: 3}, Spec: tc.spec}
			b.Status.DisruptedPods = tc.disrupted
			st, err := Compute(b, tc.pods, fakeScales(tc.scales), now)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want one containing %q", err, tc.err)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			got := [4]int32{st.ExpectedPods, st.CurrentHealthy, st.DesiredHealthy, st.DisruptionsAllowed}
			if got != tc.want {
				t.Errorf("expected/healthy/desired/allowed = %v, want %v", got, tc.want)
			}
			if st.ObservedGeneration != 3 {
				t.Errorf("observedGeneration %d, want 3", st.ObservedGeneration)
			}
			if len(st.DisruptedPods) != len(tc.keep) {
				t.Errorf("disruptedPods %v, want %v", st.DisruptedPods, tc.keep)
			}
			for _, k := range tc.keep {
				if _, ok := st.DisruptedPods[k]; !ok {
					t.Errorf("disruptedPods %v lost %s", st.DisruptedPods, k)
				}
			}
			if len(st.Conditions) != 1 || st.Conditions[0].Type != api.DisruptionAllowed {
				t.Fatalf("conditions %+v, want one DisruptionAllowed", st.Conditions)
			}
			c := st.Conditions[0]
			wantStatus := api.ConditionFalse
			if st.DisruptionsAllowed > 0 {
				wantStatus = api.ConditionTrue
			}
			if c.Status != wantStatus || tc.reason != "" && c.Reason != tc.reason {
				t.Errorf("condition %+v, want status %s reason %q", c, wantStatus, tc.reason)
			}
		})
	}
}

// TestComputeKeepsTransitionTime: a condition that does not change keeps
// its transition time; one that flips takes now.
func TestComputeKeepsTransitionTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	one := api.FromInt(1)
	b := &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "web", Generation: 1}, Spec: api.PodDisruptionBudgetSpec{MinAvailable: &one}}
	pods := []*api.Pod{pod("a", "", true, false), pod("b", "", true, false)}
	st, _ := Compute(b, pods, fakeScales(nil), t0)
	b.Status = st
	st, _ = Compute(b, pods, fakeScales(nil), t0.Add(time.Minute))
	if got := st.Conditions[0].LastTransitionTime.Time; !got.Equal(t0) {
		t.Errorf("unchanged condition moved to %v, want %v", got, t0)
	}
	b.Status = st
	st, _ = Compute(b, pods[:1], fakeScales(nil), t0.Add(2*time.Minute))
	if c := st.Conditions[0]; c.Status != api.ConditionFalse || !c.LastTransitionTime.Equal(t0.Add(2*time.Minute)) {
		t.Errorf("flipped condition %+v, want False at t0+2m", c)
	}
}
