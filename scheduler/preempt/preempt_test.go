package preempt_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
	"github.com/cloudmgr/cloud/scheduler/preempt"
)

func node(name string, milliCPU int64, labels ...string) *nodeinfo.NodeInfo {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelHostname: name}}}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	n.Status.Allocatable = api.ResourceList{
		api.ResourceCPU:    api.NewMilliQuantity(milliCPU, api.DecimalSI),
		api.ResourceMemory: api.NewQuantity(1<<30, api.BinarySI),
	}
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	return nodeinfo.New(n)
}

type podOpt func(*api.Pod)

func pod(name string, milliCPU int64, prio int32, opts ...podOpt) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name}}
	p.Spec.Priority = &prio
	p.Spec.Containers = []api.Container{{Name: "c", Image: "img", Resources: api.ResourceRequirements{
		Requests: api.ResourceList{api.ResourceCPU: api.NewMilliQuantity(milliCPU, api.DecimalSI)},
	}}}
	for _, o := range opts {
		o(p)
	}
	return p
}

func started(minutesAgo int) podOpt {
	return func(p *api.Pod) {
		t := api.NewTime(time.Now().Add(-time.Duration(minutesAgo) * time.Minute))
		p.Status.StartTime = &t
	}
}

func never(p *api.Pod) {
	n := api.PreemptNever
	p.Spec.PreemptionPolicy = &n
}

func terminating(p *api.Pod) {
	t := api.Now()
	p.DeletionTimestamp = &t
}

func labels(kv ...string) podOpt {
	return func(p *api.Pod) {
		p.Labels = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func on(n *nodeinfo.NodeInfo, pods ...*api.Pod) *nodeinfo.NodeInfo {
	for _, p := range pods {
		p.Spec.NodeName = n.Name
		n.AddPod(nodeinfo.NewPodInfo(p))
	}
	return n
}

func taint(n *nodeinfo.NodeInfo) *nodeinfo.NodeInfo {
	n.Node.Spec.Taints = []api.Taint{{Key: "dedicated", Effect: api.TaintEffectNoSchedule}}
	n.SetNode(n.Node)
	return n
}

type outcome struct {
	ok      bool
	node    string
	victims []string
}

func (o outcome) String() string {
	if !o.ok {
		return "no preemption"
	}
	return o.node + " evicting " + fmt.Sprint(o.victims)
}

// run schedules p as the core would and, when it fits nowhere, preempts.
func run(t *testing.T, p *api.Pod, nodes []*nodeinfo.NodeInfo, opts preempt.Options) (outcome, preempt.Result) {
	t.Helper()
	fw := framework.New(plugins.NewPodProfile(plugins.Options{}))
	ctx := context.Background()
	state := framework.NewCycleState()
	state.Write(nodeinfo.SnapshotKey, nodeinfo.NewSnapshot(nodes))
	res, err := fw.Schedule(ctx, state, p, nodes)
	var fe *framework.FitError
	if !errors.As(err, &fe) {
		t.Fatalf("Schedule = %+v, %v; the test wants a pod that fits nowhere", res, err)
	}
	r, ok, err := preempt.Preempt(ctx, fw, state, p, fe, opts)
	if err != nil {
		t.Fatal(err)
	}
	out := outcome{ok: ok, node: r.Node}
	for _, v := range r.Victims {
		out.victims = append(out.victims, v.Pod.Name)
	}
	return out, r
}

func TestPreempt(t *testing.T) {
	tests := []struct {
		name  string
		pod   *api.Pod
		nodes func() []*nodeinfo.NodeInfo
		want  string
	}{
		{"lowest highest-victim priority wins", pod("p", 600, 100), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{
				on(node("a", 1000), pod("a1", 800, 10)),
				on(node("b", 1000), pod("b1", 800, 5)),
				on(node("c", 1000), pod("c1", 200, 1), pod("c2", 600, 8)),
			}
		}, "b evicting [b1]"},
		{"then the smallest sum of priorities", pod("p", 600, 100), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{
				on(node("a", 1000), pod("a1", 400, 5), pod("a2", 400, 5), pod("a3", 200, 200)),
				on(node("b", 1000), pod("b1", 400, 5), pod("b2", 400, 1), pod("b3", 200, 200)),
			}
		}, "b evicting [b2 b1]"},
		{"reprieves the more important pods", pod("p", 500, 100), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{on(node("a", 1000), pod("low", 500, 1), pod("mid", 500, 2))}
		}, "a evicting [low]"},
		{"reprieves the earlier started among equals", pod("p", 500, 100), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{on(node("a", 1000), pod("young", 500, 1, started(1)), pod("old", 500, 1, started(60)))}
		}, "a evicting [young]"},
		{"evicts as many as needed", pod("p", 900, 100), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{on(node("a", 1000), pod("x", 300, 1), pod("y", 300, 2), pod("z", 300, 3), pod("keep", 100, 4))}
		}, "a evicting [x y z]"},
		{"never equal priority", pod("p", 600, 100), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{on(node("a", 1000), pod("peer", 800, 100))}
		}, "no preemption"},
		{"never higher priority", pod("p", 600, 100), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{
				on(node("a", 1000), pod("boss", 500, 1000), pod("low", 400, 1)),
				on(node("b", 1000), pod("b-boss", 800, 200)),
			}
		}, "no preemption"},
		{"equal and higher pods stay; lower go", pod("p", 600, 100), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{on(node("a", 2000), pod("peer", 800, 100), pod("boss", 500, 1000), pod("low", 400, 1))}
		}, "a evicting [low]"},
		{"Never policy", pod("p", 600, 100, never), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{on(node("a", 1000), pod("a1", 800, 1))}
		}, "no preemption"},
		{"unresolvable nodes are not candidates", pod("p", 600, 100), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{
				taint(on(node("tainted", 1000), pod("t1", 800, 1))),
				on(node("ok", 1000), pod("o1", 800, 50)),
			}
		}, "ok evicting [o1]"},
		{"a request larger than the node never preempts", pod("p", 5000, 100), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{on(node("a", 1000), pod("a1", 800, 1))}
		}, "no preemption"},
		{"waits for its earlier victims", pod("p", 600, 100, func(p *api.Pod) { p.Status.NominatedNodeName = "a" }), func() []*nodeinfo.NodeInfo {
			return []*nodeinfo.NodeInfo{
				on(node("a", 1000), pod("going", 800, 1, terminating)),
				on(node("b", 1000), pod("b1", 800, 1)),
			}
		}, "no preemption"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 10 {
				got, _ := run(t, tc.pod, tc.nodes(), preempt.Options{})
				if got.String() != tc.want {
					t.Fatalf("got %s, want %s", got, tc.want)
				}
			}
		})
	}
}

func TestPreemptTiesAreRandom(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		nodes := []*nodeinfo.NodeInfo{
			on(node("a", 1000), pod("a1", 800, 5)),
			on(node("b", 1000), pod("b1", 800, 5)),
			on(node("c", 1000), pod("c1", 800, 5)),
		}
		got, _ := run(t, pod("p", 600, 100), nodes, preempt.Options{})
		seen[got.node] = true
	}
	if len(seen) != 3 {
		t.Fatalf("200 tied preemptions chose %v", seen)
	}
}

func TestPreemptRespectsNominatedPods(t *testing.T) {
	// A pod of priority 200 nominated to a waits for the room there; the
	// pod of priority 100 must go to b, even though a's victim is cheaper.
	nodes := func() []*nodeinfo.NodeInfo {
		return []*nodeinfo.NodeInfo{
			on(node("a", 1000), pod("a1", 400, 1)),
			on(node("b", 1000), pod("b1", 800, 2)),
		}
	}
	waiting := nodeinfo.NewPodInfo(pod("vip", 600, 200))
	lower := nodeinfo.NewPodInfo(pod("meh", 300, 50))
	nominated := func(n string) []*nodeinfo.PodInfo {
		switch n {
		case "a":
			return []*nodeinfo.PodInfo{waiting}
		case "b":
			return []*nodeinfo.PodInfo{lower}
		}
		return nil
	}
	got, res := run(t, pod("p", 700, 100), nodes(), preempt.Options{Nominated: nominated})
	if got.String() != "b evicting [b1]" {
		t.Fatalf("got %s, want b evicting [b1]", got)
	}
	if len(res.LowerNominated) != 1 || res.LowerNominated[0] != lower {
		t.Fatalf("lower nominated pods on b: %v, want meh", res.LowerNominated)
	}
	// Without the nomination, a is the cheaper choice.
	if got, _ := run(t, pod("p", 700, 100), nodes(), preempt.Options{}); got.String() != "a evicting [a1]" {
		t.Fatalf("without nominations got %s", got)
	}
}

func TestPreemptKeepsSpreadCountsRight(t *testing.T) {
	// Spread app=web over hypervisors with maxSkew 1: h1 holds two web pods
	// of low priority, h2 none but no room (a pod too important to evict
	// fills it). On h1 one eviction leaves 1+1-0 > 1: both must go, which
	// only shows if the spread counts follow the simulated removals.
	web := func(name string, prio int32) *api.Pod { return pod(name, 100, prio, labels("app", "web")) }
	nodes := []*nodeinfo.NodeInfo{
		on(node("n1", 1000, api.LabelHypervisor, "h1"), web("w1", 1), web("w2", 2)),
		on(node("n2", 1000, api.LabelHypervisor, "h2"), pod("blocker", 1000, 1000)),
	}
	p := pod("p", 100, 100, labels("app", "web"), func(p *api.Pod) {
		p.Spec.TopologySpreadConstraints = []api.TopologySpreadConstraint{{MaxSkew: 1, TopologyKey: api.LabelHypervisor,
			WhenUnsatisfiable: api.DoNotSchedule, LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}}}
	})
	got, _ := run(t, p, nodes, preempt.Options{})
	if got.String() != "n1 evicting [w1 w2]" {
		t.Fatalf("got %s, want n1 evicting [w1 w2]", got)
	}
}

func TestPreemptWithoutSnapshot(t *testing.T) {
	fw := framework.New(plugins.NewPodProfile(plugins.Options{}))
	fe := &framework.FitError{NumCandidates: 1, Statuses: map[string]*framework.Status{"a": framework.NewStatus(framework.Unschedulable, "Insufficient cpu")}}
	_, _, err := preempt.Preempt(context.Background(), fw, framework.NewCycleState(), pod("p", 1, 1), fe, preempt.Options{})
	if !errors.Is(err, preempt.ErrNoSnapshot) {
		t.Fatalf("err %v, want ErrNoSnapshot", err)
	}
}

func TestAddNominated(t *testing.T) {
	n := on(node("a", 1000), pod("placed", 100, 1))
	p := pod("p", 100, 100)
	higher := nodeinfo.NewPodInfo(pod("higher", 200, 200))
	equal := nodeinfo.NewPodInfo(pod("equal", 300, 100))
	lower := nodeinfo.NewPodInfo(pod("lower", 400, 50))
	self := nodeinfo.NewPodInfo(p)
	already := n.PodKeys["default/placed"]
	tests := []struct {
		name      string
		nominated []*nodeinfo.PodInfo
		want      string
		same      bool
	}{
		{"none", nil, "[placed]", true},
		{"only lower, itself, or already placed", []*nodeinfo.PodInfo{lower, self, already}, "[placed]", true},
		{"higher and equal hold room", []*nodeinfo.PodInfo{higher, lower, equal}, "[equal higher placed]", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := preempt.AddNominated(n, p, tc.nominated)
			if (got == n) != tc.same {
				t.Fatalf("returned the node itself: %v, want %v", got == n, tc.same)
			}
			var names []string
			for _, pi := range got.Pods {
				names = append(names, pi.Pod.Name)
			}
			slices.Sort(names)
			if s := fmt.Sprint(names); s != tc.want {
				t.Fatalf("pods %s, want %s", s, tc.want)
			}
		})
	}
	if len(n.Pods) != 1 || n.ReqMilliCPU != 100 {
		t.Fatalf("the original node changed: %d pods, %dm", len(n.Pods), n.ReqMilliCPU)
	}
	if got := preempt.AddNominated(n, p, []*nodeinfo.PodInfo{higher, equal}); got.ReqMilliCPU != 600 || !strings.Contains(fmt.Sprint(got.PodKeys), "default/higher") {
		t.Fatalf("clone requests %dm, want 600m", got.ReqMilliCPU)
	}
}
