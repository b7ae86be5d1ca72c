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

const hv = api.LabelHypervisor

// spreadCluster: hypervisors h1 (n1, n2), h2 (n3), h3 (n4), and n5 with no
// hypervisor label; app=web pods: 2 on n1, 1 on n2, 1 on n3.
func spreadCluster() []*nodeinfo.NodeInfo {
	web := func(name string, opts ...podOpt) *api.Pod {
		return makePod(name, 0, 0, append([]podOpt{podLabels("app", "web")}, opts...)...)
	}
	return []*nodeinfo.NodeInfo{
		place(newNode("n1", 4000, 4096, label(hv, "h1", "disk", "ssd")), web("w1"), web("w2"), makePod("other", 0, 0, podLabels("app", "db"))),
		place(newNode("n2", 4000, 4096, label(hv, "h1")), web("w3"), web("w-prod", inNamespace("prod")), web("w-going", terminating)),
		place(newNode("n3", 4000, 4096, label(hv, "h2", "disk", "ssd")), web("w4")),
		newNode("n4", 4000, 4096, label(hv, "h3")),
		newNode("n5", 4000, 4096),
	}
}

func TestPodTopologySpreadFilter(t *testing.T) {
	skewed := unsched + plugins.ReasonSpreadConstraints
	missing := unres + plugins.ReasonSpreadMissingKey
	web := func(opts ...podOpt) *api.Pod {
		return makePod("new", 0, 0, append([]podOpt{podLabels("app", "web")}, opts...)...)
	}
	tests := []struct {
		name string
		pod  *api.Pod
		want map[string]string
	}{
		// h1=3, h2=1, h3=0 (other namespaces and terminating pods do not count).
		{"hypervisor maxSkew 1", web(spread(1, hv, api.DoNotSchedule, "app", "web")),
			map[string]string{"n1": skewed, "n2": skewed, "n3": skewed, "n4": "ok", "n5": missing}},
		{"hypervisor maxSkew 2", web(spread(2, hv, api.DoNotSchedule, "app", "web")),
			map[string]string{"n1": skewed, "n3": "ok", "n4": "ok"}},
		{"hypervisor maxSkew 4", web(spread(4, hv, api.DoNotSchedule, "app", "web")),
			map[string]string{"n1": "ok", "n2": "ok"}},
		// Nodes per hostname: n1=2, n2=1, n3=1, n4=0, n5=0.
		{"hostname maxSkew 1", web(spread(1, api.LabelHostname, api.DoNotSchedule, "app", "web")),
			map[string]string{"n1": skewed, "n2": skewed, "n4": "ok", "n5": "ok"}},
		// Only ssd nodes are eligible: h1=2 (n1 only), h2=1: min 1.
		{"domains of ineligible nodes do not count", web(nodeSelector("disk", "ssd"), spread(1, hv, api.DoNotSchedule, "app", "web")),
			map[string]string{"n1": skewed, "n3": "ok"}},
		{"a pod not matching its own selector adds nothing", makePod("new", 0, 0, spread(2, hv, api.DoNotSchedule, "app", "web")),
			map[string]string{"n1": skewed, "n3": "ok", "n4": "ok"}},
		{"ScheduleAnyway does not filter", web(spread(1, hv, api.ScheduleAnyway, "app", "web")),
			map[string]string{"n1": "ok", "n5": "ok"}},
		{"every constraint applies", web(spread(4, hv, api.DoNotSchedule, "app", "web"), spread(1, api.LabelHostname, api.DoNotSchedule, "app", "web")),
			map[string]string{"n1": skewed, "n2": skewed, "n4": "ok", "n5": missing}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkVerdicts(t, filterEach(t, plugins.PodTopologySpread{}, tc.pod, spreadCluster()), tc.want)
		})
	}
}

func TestPodTopologySpreadSkipsPodsWithoutConstraints(t *testing.T) {
	st := plugins.PodTopologySpread{}.PreFilter(context.Background(), stateFor(spreadCluster()), makePod("p", 0, 0))
	if !st.IsSkip() {
		t.Fatalf("PreFilter without constraints = %v, want Skip", verdict(st))
	}
}

func TestPodTopologySpreadAddRemovePod(t *testing.T) {
	ctx := context.Background()
	nodes := spreadCluster()
	pl := plugins.PodTopologySpread{}
	var _ plugins.PreFilterExtensions = pl
	prefilter := func(maxSkew int32) (*api.Pod, *framework.CycleState) {
		pod := makePod("new", 0, 0, podLabels("app", "web"), spread(maxSkew, hv, api.DoNotSchedule, "app", "web"))
		s := stateFor(nodes)
		if st := pl.PreFilter(ctx, s, pod); !st.IsSuccess() {
			t.Fatal(st.Err())
		}
		return pod, s
	}
	// h1=3, h2=1, h3=0. With maxSkew 2, removing two web pods of n1 on a
	// clone of the state makes n1 fit (h1=1: 1+1-0 <= 2), leaving the
	// original state untouched.
	pod, s := prefilter(2)
	c := s.Clone()
	n1 := nodes[0].Clone()
	for _, key := range []string{"default/w1", "default/w2"} {
		pi := n1.PodKeys[key]
		n1.RemovePod(key)
		pl.RemovePod(ctx, c, pod, pi, n1)
	}
	if got := verdict(pl.Filter(ctx, c, pod, n1)); got != "ok" {
		t.Fatalf("after removing two pods from h1: %s", got)
	}
	if got := verdict(pl.Filter(ctx, s, pod, nodes[0])); got == "ok" {
		t.Fatal("removing pods on a cloned state changed the original")
	}
	// With maxSkew 3, h1 is too full (3+1-0 > 3) until a web pod is added
	// to h3, raising the minimum to 1 (3+1-1 <= 3).
	pod, s = prefilter(3)
	if got := verdict(pl.Filter(ctx, s, pod, nodes[1])); got == "ok" {
		t.Fatal("n2 fits before the minimum rises")
	}
	c2 := s.Clone()
	n4 := nodes[3].Clone()
	extra := nodeinfo.NewPodInfo(makePod("w9", 0, 0, podLabels("app", "web")))
	n4.AddPod(extra)
	pl.AddPod(ctx, c2, pod, extra, n4)
	if got := verdict(pl.Filter(ctx, c2, pod, nodes[1])); got != "ok" {
		t.Fatalf("after adding a pod to h3, n2 (h1=3, min 1): %s", got)
	}
	// Pods of another namespace are not counted either way.
	c3 := s.Clone()
	prod := nodeinfo.NewPodInfo(makePod("x", 0, 0, podLabels("app", "web"), inNamespace("prod")))
	pl.AddPod(ctx, c3, pod, prod, nodes[3])
	if got := verdict(pl.Filter(ctx, c3, pod, nodes[1])); got == "ok" {
		t.Fatal("a pod of another namespace raised the minimum")
	}
}

func TestPodTopologySpreadScore(t *testing.T) {
	pl := plugins.PodTopologySpread{}
	// h1=3 -> 0, h2=1 -> 66, h3=0 -> 100, n5 lacks the key -> 0.
	got := scoreEach(t, pl, makePod("new", 0, 0, podLabels("app", "web"), spread(1, hv, api.ScheduleAnyway, "app", "web")), spreadCluster())
	want := map[string]int64{"n1": 0, "n2": 0, "n3": 66, "n4": 100, "n5": 0}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("hypervisor scores %v, want %v", got, want)
	}
	// Per hostname, counted on the node: n1=2, n2=1, n3=1, n4=0, n5=0.
	got = scoreEach(t, pl, makePod("new", 0, 0, podLabels("app", "web"), spread(1, api.LabelHostname, api.ScheduleAnyway, "app", "web")), spreadCluster())
	want = map[string]int64{"n1": 0, "n2": 50, "n3": 50, "n4": 100, "n5": 100}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("hostname scores %v, want %v", got, want)
	}
	if got := scoreEach(t, pl, makePod("new", 0, 0, spread(1, hv, api.DoNotSchedule, "app", "web")), spreadCluster()); got != nil {
		t.Fatalf("DoNotSchedule constraints scored: %v", got)
	}
}

func TestPodTopologySpreadNeedsTheSnapshot(t *testing.T) {
	st := plugins.PodTopologySpread{}.PreFilter(context.Background(), framework.NewCycleState(),
		makePod("p", 0, 0, spread(1, hv, api.DoNotSchedule, "app", "web")))
	if st.Code() != framework.Error {
		t.Fatalf("PreFilter without a snapshot = %s, want an Error", verdict(st))
	}
}
