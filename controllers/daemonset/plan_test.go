package daemonset

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

// readyAt makes a pod Ready since at.
func readyAt(p *api.Pod, at time.Time) *api.Pod {
	p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(at)}}
	return p
}

func testDS(edit func(*api.DaemonSet)) *api.DaemonSet {
	d := &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "ds", Namespace: "default", UID: "u1", Generation: 2},
		Spec: api.DaemonSetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "a"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "a"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "img:1"}}}}}}
	if edit != nil {
		edit(d)
	}
	api.DefaultDaemonSet(d)
	return d
}

func testNode(name string, labels map[string]string, taints ...api.Taint) *api.Node {
	return &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: labels}, Spec: api.NodeSpec{Taints: taints}}
}

func testPod(name, node, hash string, ready bool) *api.Pod {
	p := newPod(testDS(nil), node, hash)
	p.Name = name
	p.Spec.NodeName = node
	st := api.ConditionFalse
	if ready {
		st = api.ConditionTrue
	}
	p.Status.Phase = api.PodRunning
	p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: st}}
	return p
}

func summary(p Plan) string {
	var del []string
	for _, d := range p.Delete {
		del = append(del, d.Name)
	}
	sort.Strings(del)
	return fmt.Sprintf("create=%v delete=%v", p.Create, del)
}

func TestEligible(t *testing.T) {
	ds := testDS(func(d *api.DaemonSet) {
		d.Spec.Template.Spec.NodeSelector = map[string]string{"role": "worker"}
		d.Spec.Template.Spec.Tolerations = []api.Toleration{{Key: "gpu", Operator: api.TolerationOpExists}}
	})
	w := map[string]string{"role": "worker"}
	cases := []struct {
		node *api.Node
		want bool
	}{
		{testNode("plain", w), true},
		{testNode("other-role", map[string]string{"role": "db"}), false},
		{testNode("tolerated", w, api.Taint{Key: "gpu", Effect: api.TaintEffectNoSchedule}), true},
		{testNode("untolerated", w, api.Taint{Key: "dedicated", Effect: api.TaintEffectNoExecute}), false},
		{testNode("prefer", w, api.Taint{Key: "spot", Effect: api.TaintEffectPreferNoSchedule}), true},
		{testNode("cordoned", w, api.Taint{Key: taintUnschedulable, Effect: api.TaintEffectNoSchedule}), true},
		{testNode("unreachable", w, api.Taint{Key: taintUnreachable, Effect: api.TaintEffectNoExecute}), true},
	}
	for _, tc := range cases {
		if got := Eligible(ds, tc.node); got != tc.want {
			t.Errorf("%s: eligible %v, want %v", tc.node.Name, got, tc.want)
		}
	}
}

func TestPlan(t *testing.T) {
	ds := testDS(nil)
	cur := api.DaemonSetTemplateHash(&ds.Spec.Template)
	nodes := []*api.Node{testNode("n1", nil), testNode("n2", nil), testNode("n3", nil), testNode("n4", nil)}
	cases := []struct {
		name  string
		ds    *api.DaemonSet
		nodes []*api.Node
		pods  []*api.Pod
		want  string
	}{
		{"empty", ds, nodes, nil, "create=[n1 n2 n3 n4] delete=[]"},
		{"one per node, extras and strays removed", ds, nodes[:2], []*api.Pod{
			testPod("a", "n1", cur, true), testPod("b", "n1", cur, false), testPod("c", "n2", cur, true), testPod("d", "gone", cur, true)},
			"create=[] delete=[b d]"},
		{"failed pod replaced on next pass", ds, nodes[:1], func() []*api.Pod {
			p := testPod("a", "n1", cur, false)
			p.Status.Phase = api.PodFailed
			return []*api.Pod{p}
		}(), "create=[n1] delete=[a]"},
		{"terminating pod waited for", ds, nodes[:1], func() []*api.Pod {
			p := testPod("a", "n1", cur, false)
			now := api.Now()
			p.DeletionTimestamp = &now
			return []*api.Pod{p}
		}(), "create=[] delete=[]"},
		{"rolling update: one at a time", ds, nodes, []*api.Pod{
			testPod("a", "n1", "old", true), testPod("b", "n2", "old", true), testPod("c", "n3", "old", true), testPod("d", "n4", "old", true)},
			"create=[] delete=[a]"},
		{"rolling update: waits while a node is unavailable", ds, nodes, []*api.Pod{
			testPod("a", "n1", cur, false), testPod("b", "n2", "old", true), testPod("c", "n3", "old", true), testPod("d", "n4", "old", true)},
			"create=[] delete=[]"},
		{"rolling update: unready old pods go at once", ds, nodes, []*api.Pod{
			testPod("a", "n1", "old", false), testPod("b", "n2", "old", false), testPod("c", "n3", "old", true), testPod("d", "n4", "old", true)},
			"create=[] delete=[a b]"},
		{"rolling update: maxUnavailable 50%", testDS(func(d *api.DaemonSet) {
			half := api.FromString("50%")
			d.Spec.UpdateStrategy.RollingUpdate = &api.RollingUpdateDaemonSet{MaxUnavailable: &half}
		}), nodes, []*api.Pod{
			testPod("a", "n1", "old", true), testPod("b", "n2", "old", true), testPod("c", "n3", "old", true), testPod("d", "n4", "old", true)},
			"create=[] delete=[a b]"},
		{"on delete: old pods stay", testDS(func(d *api.DaemonSet) { d.Spec.UpdateStrategy.Type = api.DaemonSetOnDelete }), nodes[:2], []*api.Pod{
			testPod("a", "n1", "old", true), testPod("b", "n2", "old", false)}, "create=[] delete=[]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := summary(plan(tc.ds, tc.nodes, tc.pods, t0)); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
		})
	}
	p := plan(ds, nodes[:2], []*api.Pod{testPod("a", "n1", cur, true), testPod("b", "n2", "old", false), testPod("s", "gone", cur, true)}, t0)
	if s := p.Status; s.DesiredNumberScheduled != 2 || s.CurrentNumberScheduled != 2 || s.NumberReady != 1 || s.UpdatedNumberScheduled != 1 ||
		s.NumberMisscheduled != 1 || s.NumberUnavailable != 1 || s.ObservedGeneration != 2 {
		t.Errorf("status %+v", s)
	}
}

// TestPlanMinReadySeconds: with a fake clock, a pod counts available only
// once Ready for minReadySeconds; the plan asks to look again when the
// next one will be, and a rolling update waits for it.
func TestPlanMinReadySeconds(t *testing.T) {
	ds := testDS(func(d *api.DaemonSet) { d.Spec.MinReadySeconds = 10 })
	cur := api.DaemonSetTemplateHash(&ds.Spec.Template)
	nodes := []*api.Node{testNode("n1", nil), testNode("n2", nil), testNode("n3", nil)}
	cases := []struct {
		name      string
		pods      []*api.Pod
		now       time.Time
		want      string
		available int32
		requeue   time.Duration
	}{
		{"ready for less than minReadySeconds", []*api.Pod{
			readyAt(testPod("a", "n1", cur, true), t0.Add(-4*time.Second)), readyAt(testPod("b", "n2", cur, true), t0.Add(-7*time.Second)),
			readyAt(testPod("c", "n3", cur, true), t0.Add(-time.Minute))},
			t0, "create=[] delete=[]", 1, 3 * time.Second},
		{"exactly minReadySeconds", []*api.Pod{
			readyAt(testPod("a", "n1", cur, true), t0.Add(-10*time.Second)), readyAt(testPod("b", "n2", cur, true), t0.Add(-10*time.Second)),
			readyAt(testPod("c", "n3", cur, true), t0.Add(-10*time.Second))},
			t0, "create=[] delete=[]", 3, 0},
		{"rolling update waits for the new pod to be available", []*api.Pod{
			readyAt(testPod("a", "n1", cur, true), t0.Add(-2*time.Second)), readyAt(testPod("b", "n2", "old", true), t0.Add(-time.Hour)),
			readyAt(testPod("c", "n3", "old", true), t0.Add(-time.Hour))},
			t0, "create=[] delete=[]", 2, 8 * time.Second},
		{"rolling update goes on once it is", []*api.Pod{
			readyAt(testPod("a", "n1", cur, true), t0.Add(-2*time.Second)), readyAt(testPod("b", "n2", "old", true), t0.Add(-time.Hour)),
			readyAt(testPod("c", "n3", "old", true), t0.Add(-time.Hour))},
			t0.Add(8 * time.Second), "create=[] delete=[b]", 3, 0},
		{"an old pod not yet available goes at once", []*api.Pod{
			readyAt(testPod("a", "n1", "old", true), t0.Add(-2*time.Second)), readyAt(testPod("b", "n2", "old", true), t0.Add(-time.Hour)),
			readyAt(testPod("c", "n3", "old", true), t0.Add(-time.Hour))},
			t0, "create=[] delete=[a]", 2, 8 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := plan(ds, nodes, tc.pods, tc.now)
			if got := summary(p); got != tc.want {
				t.Errorf("got %s, want %s", got, tc.want)
			}
			if s := p.Status; s.NumberReady != 3 || s.NumberAvailable != tc.available || s.NumberUnavailable != 3-tc.available {
				t.Errorf("status %+v, want %d available", s, tc.available)
			}
			if p.RequeueAfter != tc.requeue {
				t.Errorf("requeue after %v, want %v", p.RequeueAfter, tc.requeue)
			}
		})
	}
}

func TestNewPodPinsNode(t *testing.T) {
	ds := testDS(func(d *api.DaemonSet) {
		d.Spec.Template.Spec.Affinity = &api.Affinity{NodeAffinity: &api.NodeAffinity{Required: &api.NodeSelector{
			NodeSelectorTerms: []api.NodeSelectorTerm{{MatchExpressions: []api.NodeSelectorRequirement{{Key: "zone", Operator: api.NodeSelectorOpIn, Values: []string{"a"}}}}}}}}
	})
	p := newPod(ds, "n7", "h")
	if NodeOf(p) != "n7" || p.Spec.NodeName != "" || p.Labels[api.LabelControllerRevHash] != "h" || !strings.HasPrefix(p.GenerateName, "ds-") {
		t.Fatalf("pod %+v", p)
	}
	term := p.Spec.Affinity.NodeAffinity.Required.NodeSelectorTerms[0]
	if len(term.MatchExpressions) != 1 || len(term.MatchFields) != 1 {
		t.Errorf("template affinity not kept: %+v", term)
	}
	if len(ds.Spec.Template.Spec.Affinity.NodeAffinity.Required.NodeSelectorTerms[0].MatchFields) != 0 {
		t.Error("template changed")
	}
	if len(p.Spec.Tolerations) != len(DefaultTolerations) {
		t.Errorf("tolerations %+v", p.Spec.Tolerations)
	}
}
