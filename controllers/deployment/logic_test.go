package deployment

import (
	"strconv"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

var t0 = time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)

func dep(replicas int32, surge, unavailable string) *api.Deployment {
	iv := func(s string) *api.IntOrString {
		if n, err := strconv.Atoi(s); err == nil {
			v := api.FromInt(int32(n))
			return &v
		}
		v := api.FromString(s)
		return &v
	}
	d := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Generation: 1}, Spec: api.DeploymentSpec{Replicas: &replicas,
		Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "v2"}}}},
		Strategy: api.DeploymentStrategy{Type: api.RollingUpdateDeploymentStrategyType,
			RollingUpdate: &api.RollingUpdateDeployment{MaxSurge: iv(surge), MaxUnavailable: iv(unavailable)}}}}
	api.DefaultDeployment(d)
	return d
}

// rs is a synced ReplicaSet with spec replicas, available pods, revision.
func rs(name string, spec, available int32, rev int) *api.ReplicaSet {
	return &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: name, Generation: 1,
		Annotations: map[string]string{api.AnnotationRevision: strconv.Itoa(rev)}},
		Spec:   api.ReplicaSetSpec{Replicas: &spec},
		Status: api.ReplicaSetStatus{Replicas: spec, ReadyReplicas: available, AvailableReplicas: available, ObservedGeneration: 1}}
}

func TestFenceposts(t *testing.T) {
	for _, tt := range []struct {
		d                  *api.Deployment
		surge, unavailable int32
	}{
		{dep(10, "25%", "25%"), 3, 2},
		{dep(10, "0", "0%"), 0, 1},
		{dep(3, "1", "5"), 1, 3},
		{dep(4, "50%", "1"), 2, 1},
	} {
		s, u := fenceposts(tt.d)
		if s != tt.surge || u != tt.unavailable {
			t.Errorf("fenceposts(%d, %s, %s) = %d, %d; want %d, %d", *tt.d.Spec.Replicas, tt.d.Spec.Strategy.RollingUpdate.MaxSurge,
				tt.d.Spec.Strategy.RollingUpdate.MaxUnavailable, s, u, tt.surge, tt.unavailable)
		}
	}
}

func TestNewRSTarget(t *testing.T) {
	stale := rs("old", 7, 7, 1)
	stale.Status.Replicas = 10 // scaled down, pods not yet deleted
	for _, tt := range []struct {
		name string
		d    *api.Deployment
		new  *api.ReplicaSet
		olds []*api.ReplicaSet
		want int32
	}{
		{"surge room", dep(10, "3", "2"), rs("new", 0, 0, 2), []*api.ReplicaSet{rs("old", 10, 10, 1)}, 3},
		{"no room", dep(10, "3", "2"), rs("new", 3, 0, 2), []*api.ReplicaSet{rs("old", 10, 10, 1)}, 3},
		{"room after scale down", dep(10, "3", "2"), rs("new", 3, 3, 2), []*api.ReplicaSet{rs("old", 5, 5, 1)}, 8},
		{"pods of a scaled-down set still count", dep(10, "3", "2"), rs("new", 3, 0, 2), []*api.ReplicaSet{stale}, 3},
		{"never above replicas", dep(10, "3", "2"), rs("new", 9, 9, 2), nil, 10},
		{"scale down when over", dep(4, "3", "2"), rs("new", 9, 9, 2), nil, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			all := append([]*api.ReplicaSet{tt.new}, tt.olds...)
			if got := newRSTarget(tt.d, tt.new, all); got != tt.want {
				t.Fatalf("target %d, want %d", got, tt.want)
			}
		})
	}
}

func TestOldScaleDown(t *testing.T) {
	unsynced := rs("old", 8, 8, 1)
	unsynced.Generation = 2
	for _, tt := range []struct {
		name string
		d    *api.Deployment
		new  *api.ReplicaSet
		olds []*api.ReplicaSet
		want map[string]int32
	}{
		{"new pods not available: only maxUnavailable", dep(10, "3", "2"), rs("new", 3, 0, 3), []*api.ReplicaSet{rs("old", 10, 10, 1)},
			map[string]int32{"old": 8}},
		{"new pods available", dep(10, "3", "2"), rs("new", 3, 3, 3), []*api.ReplicaSet{rs("old", 10, 10, 1)},
			map[string]int32{"old": 5}},
		{"unavailable old pods first, then oldest", dep(10, "0", "3"), rs("new", 2, 2, 3),
			[]*api.ReplicaSet{rs("a", 4, 4, 1), rs("b", 4, 2, 2)}, map[string]int32{"b": 2, "a": 3}},
		{"stale old status waits", dep(10, "3", "2"), rs("new", 3, 3, 3), []*api.ReplicaSet{unsynced}, nil},
		{"at the floor", dep(10, "0", "2"), rs("new", 2, 0, 3), []*api.ReplicaSet{rs("old", 8, 8, 1)}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := oldScaleDown(tt.d, tt.new, tt.olds)
			if len(got) != len(tt.want) {
				t.Fatalf("plan %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("plan %v, want %v", got, tt.want)
				}
			}
		})
	}
}

func TestComputeStatusDeadline(t *testing.T) {
	d := dep(3, "1", "0")
	pd := int32(60)
	d.Spec.ProgressDeadlineSeconds = &pd
	newRS, old := rs("new", 1, 0, 2), rs("old", 3, 3, 1)
	all := []*api.ReplicaSet{newRS, old}
	st, requeue := computeStatus(d, newRS, all, t0)
	p := api.DeploymentConditionByType(&st, api.DeploymentProgressing)
	if p == nil || p.Status != api.ConditionTrue || p.Reason != api.ReasonReplicaSetUpdated || requeue != time.Minute {
		t.Fatalf("first status: %+v, requeue %v", p, requeue)
	}
	if a := api.DeploymentConditionByType(&st, api.DeploymentAvailable); a.Status != api.ConditionTrue {
		t.Fatalf("available: %+v", a)
	}
	d.Status = st
	// No progress for 30s: still True, look again in 30s.
	st, requeue = computeStatus(d, newRS, all, t0.Add(30*time.Second))
	if p := api.DeploymentConditionByType(&st, api.DeploymentProgressing); p.Status != api.ConditionTrue || requeue < 29*time.Second || requeue > 31*time.Second {
		t.Fatalf("mid-deadline: %+v, requeue %v", p, requeue)
	}
	// Past the deadline: False, ProgressDeadlineExceeded.
	st, _ = computeStatus(d, newRS, all, t0.Add(61*time.Second))
	if p := api.DeploymentConditionByType(&st, api.DeploymentProgressing); p.Status != api.ConditionFalse || p.Reason != api.ReasonProgressDeadlineExceeded {
		t.Fatalf("after deadline: %+v", p)
	}
	d.Status = st
	// Progress again: True.
	newRS.Status.AvailableReplicas, newRS.Status.ReadyReplicas = 1, 1
	st, _ = computeStatus(d, newRS, all, t0.Add(62*time.Second))
	if p := api.DeploymentConditionByType(&st, api.DeploymentProgressing); p.Status != api.ConditionTrue {
		t.Fatalf("after progress: %+v", p)
	}
	// Complete.
	done := rs("new", 3, 3, 2)
	st, requeue = computeStatus(d, done, []*api.ReplicaSet{done, rs("old", 0, 0, 1)}, t0.Add(70*time.Second))
	if p := api.DeploymentConditionByType(&st, api.DeploymentProgressing); p.Reason != api.ReasonNewRSAvailable || requeue != 0 ||
		st.UpdatedReplicas != 3 || st.AvailableReplicas != 3 || st.UnavailableReplicas != 0 {
		t.Fatalf("complete: %+v %+v", p, st)
	}
	d.Spec.Paused = true
	st, _ = computeStatus(d, done, []*api.ReplicaSet{done}, t0)
	if p := api.DeploymentConditionByType(&st, api.DeploymentProgressing); p.Status != api.ConditionUnknown || p.Reason != api.ReasonDeploymentPaused {
		t.Fatalf("paused: %+v", p)
	}
}

func TestTemplateHashSplitAndCleanUp(t *testing.T) {
	d := dep(3, "1", "1")
	h := TemplateHash(&d.Spec.Template)
	withHash := d.Spec.Template
	withHash.Labels = map[string]string{"app": "web", api.LabelPodTemplateHash: h}
	if TemplateHash(&withHash) != h || !templatesEqual(&withHash, &d.Spec.Template) {
		t.Fatal("the hash label changes the hash")
	}
	other := d.Spec.Template
	other.Spec.Containers = []api.Container{{Name: "c", Image: "v1"}}
	if TemplateHash(&other) == h {
		t.Fatal("different templates hash alike")
	}
	cur, a, b := rs("cur", 3, 3, 5), rs("a", 0, 0, 1), rs("b", 0, 0, 3)
	cur.Spec.Template, a.Spec.Template, b.Spec.Template = withHash, other, other
	newRS, olds := split(d, []*api.ReplicaSet{b, cur, a})
	if newRS != cur || len(olds) != 2 || olds[0] != a || maxRevision(olds) != 3 {
		t.Fatalf("split: new %v, olds %v", newRS, olds)
	}
	one := int32(1)
	d.Spec.RevisionHistoryLimit = &one
	if got := toCleanUp(d, olds); len(got) != 1 || got[0] != a {
		t.Fatalf("clean up %v", got)
	}
}

// scaledRS is an active ReplicaSet last scaled when the Deployment had
// wasDesired replicas (and wasMax with maxSurge); 0 leaves an annotation
// out.
func scaledRS(name string, spec int32, rev int, wasDesired, wasMax int32) *api.ReplicaSet {
	r := rs(name, spec, spec, rev)
	r.CreationTimestamp = api.NewTime(t0.Add(time.Duration(rev) * time.Minute))
	if wasDesired > 0 {
		r.Annotations[api.AnnotationDesiredReplicas] = strconv.Itoa(int(wasDesired))
	}
	if wasMax > 0 {
		r.Annotations[api.AnnotationMaxReplicas] = strconv.Itoa(int(wasMax))
	}
	return r
}

// TestProportionalScale: a Deployment scaled mid-rollout shares the
// change among its active ReplicaSets by size (the cases of Kubernetes'
// own TestScale, with maxSurge 0, and some with surge).
func TestProportionalScale(t *testing.T) {
	withStatus := func(d *api.Deployment, n int32) *api.Deployment { d.Status.Replicas = n; return d }
	for _, tt := range []struct {
		name string
		d    *api.Deployment
		rss  []*api.ReplicaSet
		want map[string]int32 // nil: not a proportional scaling
	}{
		{"5 -> 10", dep(10, "0", "1"), []*api.ReplicaSet{scaledRS("v2", 2, 2, 5, 5), scaledRS("v1", 3, 1, 5, 5)},
			map[string]int32{"v2": 4, "v1": 6}},
		{"5 -> 3", dep(3, "0", "1"), []*api.ReplicaSet{scaledRS("v2", 1, 2, 5, 5), scaledRS("v1", 4, 1, 5, 5)},
			map[string]int32{"v2": 1, "v1": 2}},
		{"9 -> 4", dep(4, "0", "1"), []*api.ReplicaSet{scaledRS("v2", 8, 2, 9, 9), scaledRS("v1", 1, 1, 9, 9)},
			map[string]int32{"v2": 4, "v1": 0}},
		{"7 -> 10, ties go to the newest", dep(10, "0", "1"),
			[]*api.ReplicaSet{scaledRS("v3", 2, 3, 7, 7), scaledRS("v2", 3, 2, 7, 7), scaledRS("v1", 2, 1, 7, 7)},
			map[string]int32{"v3": 3, "v2": 4, "v1": 3}},
		{"13 -> 8", dep(8, "0", "1"), []*api.ReplicaSet{scaledRS("v3", 2, 3, 13, 13), scaledRS("v2", 8, 2, 13, 13), scaledRS("v1", 3, 1, 13, 13)},
			map[string]int32{"v3": 1, "v2": 5, "v1": 2}},
		{"10 -> 20 with 25% surge", dep(20, "25%", "25%"), []*api.ReplicaSet{scaledRS("v2", 5, 2, 10, 13), scaledRS("v1", 8, 1, 10, 13)},
			map[string]int32{"v2": 10, "v1": 15}},
		{"20 -> 10 with 25% surge", dep(10, "25%", "25%"), []*api.ReplicaSet{scaledRS("v2", 10, 2, 20, 25), scaledRS("v1", 15, 1, 20, 25)},
			map[string]int32{"v2": 5, "v1": 8}},
		{"to zero", dep(0, "0", "1"), []*api.ReplicaSet{scaledRS("v2", 2, 2, 5, 5), scaledRS("v1", 3, 1, 5, 5)},
			map[string]int32{"v2": 0, "v1": 0}},
		{"no max-replicas: the last status counts", withStatus(dep(10, "0", "1"), 5),
			[]*api.ReplicaSet{scaledRS("v2", 2, 2, 5, 0), scaledRS("v1", 3, 1, 5, 0)},
			map[string]int32{"v2": 4, "v1": 6}},
		{"inactive sets take no share", dep(10, "0", "1"),
			[]*api.ReplicaSet{scaledRS("v3", 2, 3, 5, 5), scaledRS("v2", 0, 2, 5, 5), scaledRS("v1", 3, 1, 5, 5)},
			map[string]int32{"v3": 4, "v1": 6}},
		{"not scaled since", dep(5, "0", "1"), []*api.ReplicaSet{scaledRS("v2", 2, 2, 5, 5), scaledRS("v1", 3, 1, 5, 5)}, nil},
		{"a single active set scales by the rollout", dep(10, "0", "1"), []*api.ReplicaSet{scaledRS("v2", 5, 2, 5, 5), scaledRS("v1", 0, 1, 5, 5)}, nil},
		{"recreate never shares", func() *api.Deployment {
			d := dep(10, "0", "1")
			d.Spec.Strategy = api.DeploymentStrategy{Type: api.RecreateDeploymentStrategyType}
			return d
		}(), []*api.ReplicaSet{scaledRS("v2", 2, 2, 5, 5), scaledRS("v1", 3, 1, 5, 5)}, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := proportionalScale(tt.d, tt.rss)
			if (got == nil) != (tt.want == nil) || len(got) != len(tt.want) {
				t.Fatalf("sizes %v, want %v", got, tt.want)
			}
			for k, v := range tt.want {
				if got[k] != v {
					t.Fatalf("sizes %v, want %v", got, tt.want)
				}
			}
		})
	}
}
