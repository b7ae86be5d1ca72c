package plugins_test

import (
	"context"
	"errors"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

type podFramework = framework.Framework[*api.Pod, *nodeinfo.NodeInfo]

func newFramework(pct int) *podFramework {
	return framework.New(plugins.NewPodProfile(plugins.Options{PercentageToScore: pct}))
}

// schedule places pod with the pod profile, as the scheduler core does: a
// fresh cycle state holding the snapshot.
func schedule(fw *podFramework, pod *api.Pod, nodes []*nodeinfo.NodeInfo) (framework.Result, error) {
	return fw.Schedule(context.Background(), stateFor(nodes), pod, nodes)
}

func TestProfileExplainsWhyNothingFits(t *testing.T) {
	nodes := []*nodeinfo.NodeInfo{
		place(newNode("full-1", 1000, 1024), makePod("a", 900, 0)),
		place(newNode("full-2", 1000, 1024), makePod("b", 900, 0)),
		newNode("gpu", 4000, 4096, taint("gpu", "", api.TaintEffectNoSchedule)),
		newNode("cordoned", 4000, 4096, cordon),
		newNode("down", 4000, 4096, notReady),
	}
	_, err := schedule(newFramework(0), makePod("p", 500, 0), nodes)
	var fe *framework.FitError
	if !errors.As(err, &fe) {
		t.Fatalf("Schedule = %v, want a FitError", err)
	}
	want := "0/5 nodes are available: 2 Insufficient cpu, 1 node(s) had untolerated taint, 1 node(s) were not ready, 1 node(s) were unschedulable."
	if fe.Error() != want {
		t.Fatalf("message\n got %q\nwant %q", fe.Error(), want)
	}
	if !fe.Resolvable() {
		t.Fatal("Insufficient cpu should be resolvable by preemption")
	}
}

func TestProfilePlacesOnTheBestNode(t *testing.T) {
	fw := newFramework(100)
	tests := []struct {
		name  string
		pod   *api.Pod
		nodes []*nodeinfo.NodeInfo
		want  string
	}{
		{"least allocated", makePod("p", 500, 512), []*nodeinfo.NodeInfo{
			place(newNode("busy", 4000, 4096), makePod("a", 3000, 3000)),
			newNode("idle", 4000, 4096),
		}, "idle"},
		{"least measured cpu breaks an allocation tie", makePod("p", 500, 512), []*nodeinfo.NodeInfo{
			newNode("hot", 4000, 4096, usage(3500)),
			newNode("cool", 4000, 4096, usage(200)),
		}, "cool"},
		{"preferred affinity", makePod("p", 0, 0, preferred(50, term("disk", api.NodeSelectorOpIn, "ssd"))), []*nodeinfo.NodeInfo{
			newNode("hdd", 4000, 4096, label("disk", "hdd")),
			newNode("ssd", 4000, 4096, label("disk", "ssd")),
		}, "ssd"},
		{"avoids PreferNoSchedule", makePod("p", 0, 0), []*nodeinfo.NodeInfo{
			newNode("spot", 4000, 4096, taint("spot", "", api.TaintEffectPreferNoSchedule)),
			newNode("plain", 4000, 4096),
		}, "plain"},
		{"replica goes to an empty hypervisor over a freer node", makePod("r3", 100, 100, ownedBy("rs")), []*nodeinfo.NodeInfo{
			place(newNode("h1-a", 8000, 8192, label(hv, "h1")), makePod("r1", 100, 100, ownedBy("rs"))),
			place(newNode("h1-b", 8000, 8192, label(hv, "h1"))),
			place(newNode("h2-a", 4000, 4096, label(hv, "h2")), makePod("big", 3000, 3000)),
			place(newNode("h3-a", 8000, 8192, label(hv, "h3")), makePod("r2", 100, 100, ownedBy("rs"))),
		}, "h2-a"},
		{"the only node that fits", makePod("p", 3000, 0), []*nodeinfo.NodeInfo{
			newNode("small", 2000, 4096), newNode("big", 4000, 4096), newNode("tainted", 8000, 8192, taint("x", "", api.TaintEffectNoExecute)),
		}, "big"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			for range 20 {
				res, err := schedule(fw, tc.pod, tc.nodes)
				if err != nil {
					t.Fatal(err)
				}
				if res.Selected != tc.want {
					t.Fatalf("selected %s, want %s", res.Selected, tc.want)
				}
			}
		})
	}
}

func TestProfileRegistersEveryPlugin(t *testing.T) {
	p := plugins.NewPodProfile(plugins.Options{PercentageToScore: 30, Parallelism: 3})
	if p.PercentageToScore != 30 || p.Parallelism != 3 {
		t.Fatalf("options not carried: %+v", p)
	}
	var filters, scores []string
	for _, f := range p.Filters {
		filters = append(filters, f.Name())
	}
	for _, s := range p.Scores {
		scores = append(scores, s.Plugin.Name())
	}
	wantF := "[NodeUnschedulable NodeName NodeReady TaintToleration NodeAffinity DuplicatePodName NodePorts NodeResourcesFit PodTopologySpread]"
	wantS := "[NodeResourcesLeastAllocated NodeResourcesBalancedAllocation LeastMeasuredCPU NodeAffinity TaintToleration PodTopologySpread DefaultHypervisorSpread]"
	if got := sprint(filters); got != wantF {
		t.Errorf("filters %s, want %s", got, wantF)
	}
	if got := sprint(scores); got != wantS {
		t.Errorf("scores %s, want %s", got, wantS)
	}
	// Every plugin that keeps per-pod state derived from placed pods
	// supports simulated additions and removals for preemption.
	var ext int
	for _, pf := range p.PreFilters {
		if _, ok := pf.(plugins.PreFilterExtensions); ok {
			ext++
		}
	}
	if ext != 1 {
		t.Errorf("%d pre-filters with extensions, want 1 (PodTopologySpread)", ext)
	}
}
