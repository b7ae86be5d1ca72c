package scheduler

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// testProfile is a small profile for the tests of the loop: resources fit,
// readiness, and spreading an owner's pods over hypervisors then nodes.
func testProfile() framework.Profile[*api.Pod, *nodeinfo.NodeInfo] {
	return framework.Profile[*api.Pod, *nodeinfo.NodeInfo]{
		PreFilters: []framework.PreFilterPlugin[*api.Pod]{fitPlugin{}},
		Filters:    []framework.FilterPlugin[*api.Pod, *nodeinfo.NodeInfo]{readyPlugin{}, fitPlugin{}},
		PreScores:  []framework.PreScorePlugin[*api.Pod, *nodeinfo.NodeInfo]{spreadPlugin{}},
		Scores:     []framework.WeightedScore[*api.Pod, *nodeinfo.NodeInfo]{{Plugin: spreadPlugin{}, Weight: 1}},
	}
}

type readyPlugin struct{}

func (readyPlugin) Name() string { return "Ready" }
func (readyPlugin) Filter(_ context.Context, _ *framework.CycleState, _ *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	if !n.Ready {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) were not ready")
	}
	return nil
}

type fitPlugin struct{}

type podRequests struct{ cpu, mem int64 }

func (p podRequests) Clone() framework.StateData { return p }

const fitKey framework.StateKey = "test/fit"

func (fitPlugin) Name() string { return "Fit" }
func (fitPlugin) PreFilter(_ context.Context, s *framework.CycleState, p *api.Pod) *framework.Status {
	cpu, mem := api.PodRequests(p)
	s.Write(fitKey, podRequests{cpu, mem})
	return nil
}
func (fitPlugin) Filter(_ context.Context, s *framework.CycleState, _ *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	d, _ := s.Read(fitKey)
	r := d.(podRequests)
	var reasons []string
	if int64(len(n.Pods))+1 > n.AllocPods {
		reasons = append(reasons, "Too many pods")
	}
	if n.ReqMilliCPU+r.cpu > n.AllocMilliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if n.ReqMemory+r.mem > n.AllocMemory {
		reasons = append(reasons, "Insufficient memory")
	}
	if len(reasons) > 0 {
		return framework.NewStatus(framework.Unschedulable, reasons...)
	}
	return nil
}

// spreadPlugin prefers the hypervisor, then the node, with the fewest pods
// of the pod's owner.
type spreadPlugin struct{}

type hypervisorCounts map[string]int

func (h hypervisorCounts) Clone() framework.StateData { return h }

const spreadKey framework.StateKey = "test/spread"

func (spreadPlugin) Name() string { return "Spread" }
func (spreadPlugin) PreScore(_ context.Context, s *framework.CycleState, p *api.Pod, _ []*nodeinfo.NodeInfo) *framework.Status {
	owner := nodeinfo.OwnerOf(p)
	if owner == "" {
		return framework.NewStatus(framework.Skip)
	}
	counts := hypervisorCounts{}
	for _, n := range nodeinfo.SnapshotFrom(s).List() {
		counts[n.Labels()[api.LabelHypervisor]] += n.OwnerCounts[owner]
	}
	s.Write(spreadKey, counts)
	return nil
}
func (spreadPlugin) Score(_ context.Context, s *framework.CycleState, p *api.Pod, n *nodeinfo.NodeInfo) (int64, *framework.Status) {
	d, _ := s.Read(spreadKey)
	counts := d.(hypervisorCounts)
	return int64(counts[n.Labels()[api.LabelHypervisor]]*1000 + n.OwnerCounts[nodeinfo.OwnerOf(p)]), nil
}
func (spreadPlugin) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *api.Pod, scores []framework.CandidateScore) *framework.Status {
	framework.DefaultNormalizeScore(framework.MaxScore, true, scores)
	return nil
}
