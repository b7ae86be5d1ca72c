package nodelifecycle

import (
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func at(d time.Duration) *api.Time { t := api.NewTime(t0.Add(d)); return &t }

func node(ready api.ConditionStatus, taints ...api.Taint) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1", CreationTimestamp: *at(-time.Hour)}}
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: ready, LastHeartbeatTime: *at(-time.Hour)}}
	n.Spec.Taints = taints
	return n
}

func lease(renewed time.Duration) *api.Lease {
	return &api.Lease{ObjectMeta: api.ObjectMeta{Name: "n1", Namespace: api.NamespaceNodeLease, CreationTimestamp: *at(-time.Hour)},
		Spec: api.LeaseSpec{RenewTime: at(renewed)}}
}

func pod(name string, tols ...api.Toleration) *api.Pod {
	return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PodSpec{NodeName: "n1", Tolerations: tols}, Status: api.PodStatus{Phase: api.PodRunning}}
}

func secs(s int64) *int64 { return &s }

func unreachable(added time.Duration) api.Taint {
	return api.Taint{Key: TaintUnreachable, Effect: api.TaintEffectNoExecute, TimeAdded: at(added)}
}

func names(ps []*api.Pod) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestPlan(t *testing.T) {
	o := Options{GracePeriod: 40 * time.Second, EvictionTimeout: 5 * time.Minute}
	tolerateUnreachable := func(s *int64) api.Toleration {
		return api.Toleration{Key: TaintUnreachable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute, TolerationSeconds: s}
	}
	cases := []struct {
		name        string
		node        *api.Node
		lease       *api.Lease
		pods        []*api.Pod
		wantUnknown bool
		wantTaint   string // "" none, else key of the lifecycle taint wanted; "-" unchanged
		wantEvict   []string
		wantRequeue time.Duration
	}{
		{name: "fresh lease", node: node(api.ConditionTrue), lease: lease(-10 * time.Second), pods: []*api.Pod{pod("a")},
			wantTaint: "-", wantRequeue: 30 * time.Second},
		{name: "lease just within grace", node: node(api.ConditionTrue), lease: lease(-39 * time.Second),
			wantTaint: "-", wantRequeue: time.Second},
		{name: "lease expired", node: node(api.ConditionTrue), lease: lease(-40 * time.Second), pods: []*api.Pod{pod("a")},
			wantUnknown: true, wantTaint: TaintUnreachable, wantRequeue: 5 * time.Minute},
		{name: "no lease, old heartbeat", node: node(api.ConditionTrue), wantUnknown: true, wantTaint: TaintUnreachable},
		{name: "already unknown and tainted, before timeout", node: func() *api.Node {
			n := node(api.ConditionUnknown, unreachable(-time.Minute))
			n.Status.Conditions[0].Reason = ReasonNodeStatusUnknown
			return n
		}(), lease: lease(-2 * time.Minute), pods: []*api.Pod{pod("a")}, wantTaint: "-", wantRequeue: 4 * time.Minute},
		{name: "eviction timeout passed", node: node(api.ConditionUnknown, unreachable(-5*time.Minute)), lease: lease(-6 * time.Minute),
			pods: []*api.Pod{pod("a"), pod("tolerates-forever", tolerateUnreachable(nil)), pod("tolerates-600s", tolerateUnreachable(secs(600))),
				pod("tolerates-60s", tolerateUnreachable(secs(60))), pod("tolerates-other", api.Toleration{Key: "x", Operator: api.TolerationOpExists})},
			wantUnknown: true, wantTaint: "-", wantEvict: []string{"a", "tolerates-60s", "tolerates-other"}, wantRequeue: 5 * time.Minute},
		{name: "terminating and finished pods are left alone", node: node(api.ConditionUnknown, unreachable(-10*time.Minute)), lease: lease(-11 * time.Minute),
			pods: func() []*api.Pod {
				a, b := pod("terminating"), pod("done")
				a.DeletionTimestamp = at(-time.Second)
				b.Status.Phase = api.PodSucceeded
				return []*api.Pod{a, b}
			}(), wantUnknown: true, wantTaint: "-"},
		{name: "node back: taint removed", node: node(api.ConditionUnknown, unreachable(-10*time.Minute), api.Taint{Key: "keep", Effect: api.TaintEffectNoSchedule}),
			lease: lease(-time.Second), pods: []*api.Pod{pod("a")}, wantTaint: "", wantRequeue: 39 * time.Second},
		{name: "ready false: not-ready taint", node: node(api.ConditionFalse), lease: lease(-time.Second), pods: []*api.Pod{pod("a")},
			wantTaint: TaintNotReady, wantRequeue: 39 * time.Second},
		{name: "unreachable replaces not-ready", node: node(api.ConditionFalse, api.Taint{Key: TaintNotReady, Effect: api.TaintEffectNoExecute, TimeAdded: at(-time.Hour)}),
			lease: lease(-time.Minute), pods: []*api.Pod{pod("a")}, wantUnknown: true, wantTaint: TaintUnreachable, wantRequeue: 5 * time.Minute},
		{name: "other NoExecute taint evicts at once, tolerationSeconds respected", node: node(api.ConditionTrue, api.Taint{Key: "maint", Effect: api.TaintEffectNoExecute, TimeAdded: at(-30 * time.Second)}),
			lease: lease(0), pods: []*api.Pod{pod("a"), pod("b", api.Toleration{Key: "maint", Operator: api.TolerationOpExists, TolerationSeconds: secs(60)})},
			wantTaint: "-", wantEvict: []string{"a"}, wantRequeue: 30 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := plan(tc.node, tc.lease, tc.pods, t0, o)
			if got := p.Conditions != nil; got != tc.wantUnknown {
				t.Fatalf("conditions changed = %v, want %v (%+v)", got, tc.wantUnknown, p.Conditions)
			}
			if tc.wantUnknown {
				for _, c := range p.Conditions {
					if c.Type == api.NodeReady && (c.Status != api.ConditionUnknown || c.Reason != ReasonNodeStatusUnknown || c.Message != MessageStatusUnknown) {
						t.Errorf("Ready = %+v", c)
					}
				}
			}
			switch tc.wantTaint {
			case "-":
				if p.TaintsChanged {
					t.Errorf("taints changed to %+v", p.Taints)
				}
			default:
				if !p.TaintsChanged {
					t.Fatalf("taints unchanged, want %q", tc.wantTaint)
				}
				keys := taintKeys(p.Taints)
				for _, k := range []string{TaintUnreachable, TaintNotReady} {
					if keys[k] != (k == tc.wantTaint) {
						t.Errorf("taints %+v, want lifecycle taint %q", p.Taints, tc.wantTaint)
					}
				}
				for _, tt := range tc.node.Spec.Taints {
					if tt.Key == "keep" && len(p.Taints) != 1 {
						t.Errorf("other taints not kept: %+v", p.Taints)
					}
				}
			}
			if got := names(p.Evict); len(got) != len(tc.wantEvict) || (len(got) > 0 && !equal(got, tc.wantEvict)) {
				t.Errorf("evict %v, want %v", got, tc.wantEvict)
			}
			if p.RequeueAfter != tc.wantRequeue {
				t.Errorf("requeue after %v, want %v", p.RequeueAfter, tc.wantRequeue)
			}
		})
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// TestPlanOverTime walks a node through losing its lease and coming back
// with a fake clock, applying each plan as the reconciler would.
func TestPlanOverTime(t *testing.T) {
	o := Options{GracePeriod: 40 * time.Second, EvictionTimeout: time.Minute}
	n := node(api.ConditionTrue)
	l := lease(0)
	pods := []*api.Pod{pod("a")}
	apply := func(now time.Time) Plan {
		p := plan(n, l, pods, now, o)
		if p.Conditions != nil {
			n.Status.Conditions = p.Conditions
		}
		if p.TaintsChanged {
			n.Spec.Taints = p.Taints
		}
		return p
	}
	if p := apply(t0.Add(39 * time.Second)); p.Conditions != nil || p.TaintsChanged {
		t.Fatalf("acted within grace: %+v", p)
	}
	p := apply(t0.Add(41 * time.Second))
	if p.Conditions == nil || !taintKeys(n.Spec.Taints)[TaintUnreachable] || len(p.Evict) != 0 {
		t.Fatalf("after grace: %+v", p)
	}
	if p.RequeueAfter != time.Minute {
		t.Errorf("requeue %v, want the eviction timeout", p.RequeueAfter)
	}
	if p := apply(t0.Add(90 * time.Second)); len(p.Evict) != 0 || p.Conditions != nil {
		t.Fatalf("before timeout: %+v", p)
	}
	if p := apply(t0.Add(101 * time.Second)); len(p.Evict) != 1 {
		t.Fatalf("after timeout: %+v", p)
	}
	pods = nil // deleted
	l = lease(2 * time.Minute)
	p = apply(t0.Add(2 * time.Minute))
	if !p.TaintsChanged || len(n.Spec.Taints) != 0 || p.Conditions != nil {
		t.Fatalf("node back: %+v", p)
	}
}
