package replicaset

import (
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/controllers"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func testRS() *api.ReplicaSet {
	three := int32(3)
	return &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "ns", UID: "rs-uid", Generation: 2},
		Spec: api.ReplicaSetSpec{Replicas: &three, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}}}}}
}

type podOpt func(p *api.Pod)

func pod(name string, opts ...podOpt) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "ns", Labels: map[string]string{"app": "web"},
		CreationTimestamp: api.NewTime(t0)}, Status: api.PodStatus{Phase: api.PodRunning}}
	p.Spec.NodeName = "n1"
	for _, o := range opts {
		o(p)
	}
	return p
}

func ownedBy(uid string) podOpt {
	return func(p *api.Pod) {
		p.OwnerReferences = []api.OwnerReference{controllers.NewControllerRef(&api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "x", UID: uid}}, api.APIVersionApps, api.KindReplicaSet)}
	}
}
func labels(kv ...string) podOpt {
	return func(p *api.Pod) {
		p.Labels = map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}
func ready(since time.Time) podOpt {
	return func(p *api.Pod) {
		p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(since)}}
	}
}
func phase(ph api.PodPhase) podOpt { return func(p *api.Pod) { p.Status.Phase = ph } }
func unscheduled() podOpt          { return func(p *api.Pod) { p.Spec.NodeName = "" } }
func created(at time.Time) podOpt  { return func(p *api.Pod) { p.CreationTimestamp = api.NewTime(at) } }
func terminating() podOpt {
	return func(p *api.Pod) { now := api.NewTime(t0); p.DeletionTimestamp = &now }
}
func restarted(n int32) podOpt {
	return func(p *api.Pod) { p.Status.ContainerStatuses = []api.ContainerStatus{{RestartCount: n}} }
}
func names(ps []*api.Pod) (out []string) {
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func TestClaim(t *testing.T) {
	rs := testRS()
	pods := []*api.Pod{
		pod("mine", ownedBy("rs-uid")),
		pod("mine-relabeled", ownedBy("rs-uid"), labels("app", "db")),
		pod("orphan"),
		pod("orphan-terminating", terminating()),
		pod("orphan-other", labels("app", "db")),
		pod("someone-elses", ownedBy("other")),
	}
	owned, adopt, release := controllers.Claim(rs, rs.Spec.Selector, pods)
	if got := names(owned); len(got) != 1 || got[0] != "mine" {
		t.Errorf("owned %v", got)
	}
	if got := names(adopt); len(got) != 1 || got[0] != "orphan" {
		t.Errorf("adopt %v", got)
	}
	if got := names(release); len(got) != 1 || got[0] != "mine-relabeled" {
		t.Errorf("release %v", got)
	}
	now := api.NewTime(t0)
	rs.DeletionTimestamp = &now
	if _, adopt, _ := controllers.Claim(rs, rs.Spec.Selector, pods); len(adopt) != 0 {
		t.Errorf("a ReplicaSet being deleted adopts %v", names(adopt))
	}
}

func TestPodsToDelete(t *testing.T) {
	tests := []struct {
		name string
		pods []*api.Pod
		n    int
		want []string
	}{
		{"unscheduled first", []*api.Pod{pod("a", ready(t0)), pod("b", unscheduled(), phase(api.PodPending))}, 1, []string{"b"}},
		{"pending before running", []*api.Pod{pod("a"), pod("b", phase(api.PodPending))}, 1, []string{"b"}},
		{"not ready before ready", []*api.Pod{pod("a", ready(t0)), pod("b")}, 1, []string{"b"}},
		{"ready for less time first", []*api.Pod{pod("a", ready(t0)), pod("b", ready(t0.Add(time.Minute)))}, 1, []string{"b"}},
		{"more restarts first", []*api.Pod{pod("a", restarted(0)), pod("b", restarted(3))}, 1, []string{"b"}},
		{"newest first", []*api.Pod{pod("a", created(t0.Add(time.Hour))), pod("b", created(t0)), pod("c", created(t0.Add(time.Minute)))}, 2, []string{"a", "c"}},
		{"more than there are", []*api.Pod{pod("a")}, 3, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := names(podsToDelete(tt.pods, tt.n))
			if len(got) != len(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("got %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestComputeStatus(t *testing.T) {
	rs := testRS()
	rs.Spec.MinReadySeconds = 10
	pods := []*api.Pod{
		pod("ready-long", ready(t0.Add(-time.Minute)), labels("app", "web", "tier", "front")),
		pod("ready-new", ready(t0.Add(-5*time.Second))),
		pod("not-ready"),
		pod("done", phase(api.PodSucceeded)),
		pod("going", terminating(), ready(t0.Add(-time.Hour))),
	}
	active := activePods(pods)
	st := computeStatus(rs, active, t0)
	want := api.ReplicaSetStatus{Replicas: 3, FullyLabeledReplicas: 1, ReadyReplicas: 2, AvailableReplicas: 1, ObservedGeneration: 2}
	if st != want {
		t.Fatalf("status %+v, want %+v", st, want)
	}
	if d := nextAvailableCheck(rs, active, t0); d != 6*time.Second {
		t.Fatalf("next availability check in %v, want 6s", d)
	}
}

func TestBurstSizes(t *testing.T) {
	for n, want := range map[int][]int{0: nil, 1: {1}, 5: {1, 2, 2}, 10: {1, 2, 4, 3}} {
		got := burstSizes(n)
		if len(got) != len(want) {
			t.Fatalf("burstSizes(%d) = %v, want %v", n, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("burstSizes(%d) = %v, want %v", n, got, want)
			}
		}
	}
}
