package plugins_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

func checkScores(t *testing.T, got, want map[string]int64) {
	t.Helper()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("scores %v, want %v", got, want)
	}
}

func TestLeastAllocated(t *testing.T) {
	nodes := []*nodeinfo.NodeInfo{
		newNode("empty", 4000, 4096),
		place(newNode("half", 4000, 4096), makePod("a", 1500, 1536)),
		place(newNode("full", 4000, 4096), makePod("b", 3500, 3584)),
		newNode("small", 500, 4096),
	}
	// cpu (4000-500)/4000=87, mem (4096-512)/4096=87 -> 87; half: 50, 50;
	// full: 0, 0; small: cpu over (0), mem 87 -> 43.
	checkScores(t, scoreEach(t, plugins.LeastAllocated{}, makePod("p", 500, 512), nodes),
		map[string]int64{"empty": 87, "half": 50, "full": 0, "small": 43})
}

func TestBalancedAllocation(t *testing.T) {
	nodes := []*nodeinfo.NodeInfo{
		newNode("even", 4000, 4096),
		place(newNode("cpu-heavy", 4000, 4096), makePod("a", 3000, 0)),
		place(newNode("mem-heavy", 4000, 4096), makePod("b", 0, 2048)),
	}
	// even: 1/4 and 1/4 -> 100; cpu-heavy: 1 and 1/4 -> 1-0.375 = 62;
	// mem-heavy: 1/4 and 3/4 -> 75.
	checkScores(t, scoreEach(t, plugins.BalancedAllocation{}, makePod("p", 1000, 1024), nodes),
		map[string]int64{"even": 100, "cpu-heavy": 62, "mem-heavy": 75})
}

func TestLeastMeasuredCPU(t *testing.T) {
	tests := []struct {
		name  string
		nodes []*nodeinfo.NodeInfo
		want  map[string]int64
	}{
		{"lowest use wins", []*nodeinfo.NodeInfo{
			newNode("idle", 4000, 4096, usage(0)),
			newNode("busy", 4000, 4096, usage(3000)),
			newNode("pegged", 2000, 4096, usage(2500)),
		}, map[string]int64{"idle": 100, "busy": 25, "pegged": 0}},
		{"unmeasured nodes are neutral", []*nodeinfo.NodeInfo{
			newNode("idle", 4000, 4096, usage(400)),
			newNode("busy", 4000, 4096, usage(3000)),
			newNode("new", 4000, 4096),
		}, map[string]int64{"idle": 90, "busy": 25, "new": 57}},
		{"nothing measured", []*nodeinfo.NodeInfo{newNode("a", 4000, 4096), newNode("b", 1000, 4096)},
			map[string]int64{"a": 50, "b": 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkScores(t, scoreEach(t, plugins.LeastMeasuredCPU{}, makePod("p", 100, 100), tc.nodes), tc.want)
		})
	}
}

func TestNodeAffinityScore(t *testing.T) {
	nodes := []*nodeinfo.NodeInfo{
		newNode("ssd-a", 1000, 1024, label("disk", "ssd", api.LabelZone, "a")),
		newNode("ssd-b", 1000, 1024, label("disk", "ssd", api.LabelZone, "b")),
		newNode("hdd-a", 1000, 1024, label("disk", "hdd", api.LabelZone, "a")),
		newNode("bare", 1000, 1024),
	}
	pod := makePod("p", 0, 0, preferred(80, term("disk", api.NodeSelectorOpIn, "ssd")), preferred(20, term(api.LabelZone, api.NodeSelectorOpIn, "a")))
	checkScores(t, scoreEach(t, plugins.NodeAffinity{}, pod, nodes),
		map[string]int64{"ssd-a": 100, "ssd-b": 80, "hdd-a": 20, "bare": 0})
	if got := scoreEach(t, plugins.NodeAffinity{}, makePod("p", 0, 0), nodes); got != nil {
		t.Fatalf("a pod without preferences was scored: %v", got)
	}
}

func TestTaintTolerationScore(t *testing.T) {
	nodes := []*nodeinfo.NodeInfo{
		newNode("clean", 1000, 1024),
		newNode("spot", 1000, 1024, taint("spot", "", api.TaintEffectPreferNoSchedule)),
		newNode("spot-old", 1000, 1024, taint("spot", "", api.TaintEffectPreferNoSchedule), taint("old", "", api.TaintEffectPreferNoSchedule)),
		newNode("hard", 1000, 1024, taint("x", "", api.TaintEffectNoSchedule)),
	}
	checkScores(t, scoreEach(t, plugins.TaintToleration{}, makePod("p", 0, 0), nodes),
		map[string]int64{"clean": 100, "spot": 50, "spot-old": 0, "hard": 100})
	tol := makePod("p", 0, 0, tolerate(api.Toleration{Key: "spot", Operator: api.TolerationOpExists, Effect: api.TaintEffectPreferNoSchedule}))
	checkScores(t, scoreEach(t, plugins.TaintToleration{}, tol, nodes),
		map[string]int64{"clean": 100, "spot": 100, "spot-old": 0, "hard": 100})
	if got := scoreEach(t, plugins.TaintToleration{}, makePod("p", 0, 0), nodes[:1]); got != nil {
		t.Fatalf("nodes without PreferNoSchedule taints were scored: %v", got)
	}
}

func TestDefaultSpread(t *testing.T) {
	rs := func(name string) *api.Pod { return makePod(name, 0, 0, ownedBy("rs1")) }
	nodes := func() []*nodeinfo.NodeInfo {
		return []*nodeinfo.NodeInfo{
			place(newNode("h1-a", 1000, 1024, label(hv, "h1")), rs("r1"), rs("r2")),
			place(newNode("h1-b", 1000, 1024, label(hv, "h1")), makePod("x", 0, 0, ownedBy("other"))),
			place(newNode("h2-a", 1000, 1024, label(hv, "h2")), rs("r3")),
			newNode("h2-b", 1000, 1024, label(hv, "h2")),
			newNode("h3-a", 1000, 1024, label(hv, "h3")),
			place(newNode("loose", 1000, 1024), rs("r4")),
		}
	}
	// Hypervisor counts: h1=2, h2=1, h3=0, loose (its own)=1 -> 0, 50,
	// 100, 50. Node counts: 2, 0, 1, 0, 0, 1 -> 0, 100, 50, 100, 100, 50.
	// Blend (2h+n)/3.
	checkScores(t, scoreEach(t, plugins.DefaultSpread{}, rs("new"), nodes()), map[string]int64{
		"h1-a": 0, "h1-b": 33, "h2-a": 50, "h2-b": 66, "h3-a": 100, "loose": 50,
	})
	// The same without the snapshot's per-hypervisor index: every node is
	// scanned.
	ns := nodes()
	s := framework.NewCycleState()
	s.Write(nodeinfo.SnapshotKey, plainLister{nodeinfo.NewSnapshot(ns)})
	pl := plugins.DefaultSpread{}
	pod := rs("new")
	if st := pl.PreScore(context.Background(), s, pod, ns); !st.IsSuccess() {
		t.Fatal(st.Err())
	}
	scores := make([]framework.CandidateScore, len(ns))
	for i, n := range ns {
		v, _ := pl.Score(context.Background(), s, pod, n)
		scores[i] = framework.CandidateScore{Name: n.Name, Score: v}
	}
	pl.NormalizeScore(context.Background(), s, pod, scores)
	if got := fmt.Sprint(scores); got != "[{h1-a 0} {h1-b 33} {h2-a 50} {h2-b 66} {h3-a 100} {loose 50}]" {
		t.Fatalf("scores from a scan %s", got)
	}
	tests := []struct {
		name string
		pod  *api.Pod
	}{
		{"no owner", makePod("new", 0, 0)},
		{"own spread constraints", makePod("new", 0, 0, ownedBy("rs1"), spread(1, hv, api.ScheduleAnyway, "app", "web"))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := scoreEach(t, plugins.DefaultSpread{}, tc.pod, nodes()); got != nil {
				t.Fatalf("scored %v, want skipped", got)
			}
		})
	}
}

// plainLister hides the snapshot's optional HypervisorCounter.
type plainLister struct{ s *nodeinfo.Snapshot }

func (l plainLister) List() []*nodeinfo.NodeInfo                 { return l.s.List() }
func (l plainLister) Get(name string) (*nodeinfo.NodeInfo, bool) { return l.s.Get(name) }
func (l plainLister) Clone() framework.StateData                 { return l }
