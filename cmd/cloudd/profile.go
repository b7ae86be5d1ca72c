package main

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// podProfile is the placement profile of cloudd's scheduler: ready,
// schedulable nodes with room for the pod's requests, the least allocated
// first.
func podProfile() framework.Profile[*api.Pod, *nodeinfo.NodeInfo] {
	return framework.Profile[*api.Pod, *nodeinfo.NodeInfo]{
		PreFilters: []framework.PreFilterPlugin[*api.Pod]{fit{}},
		Filters:    []framework.FilterPlugin[*api.Pod, *nodeinfo.NodeInfo]{usable{}, fit{}},
		Scores:     []framework.WeightedScore[*api.Pod, *nodeinfo.NodeInfo]{{Plugin: fit{}, Weight: 1}},
	}
}

type usable struct{}

func (usable) Name() string { return "NodeUsable" }
func (usable) Filter(_ context.Context, _ *framework.CycleState, _ *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	switch {
	case n.Node.Spec.Unschedulable:
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) were unschedulable")
	case !n.Ready:
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) were not ready")
	}
	return nil
}

type fit struct{}

type requests struct{ pi *nodeinfo.PodInfo }

func (r requests) Clone() framework.StateData { return r }

const fitKey framework.StateKey = "cloudd/fit"

func (fit) Name() string { return "NodeResourcesFit" }
func (fit) PreFilter(_ context.Context, s *framework.CycleState, p *api.Pod) *framework.Status {
	s.Write(fitKey, requests{nodeinfo.NewPodInfo(p)})
	return nil
}
func (fit) Filter(_ context.Context, s *framework.CycleState, _ *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	d, _ := s.Read(fitKey)
	pi := d.(requests).pi
	var reasons []string
	if int64(len(n.Pods))+1 > n.AllocPods {
		reasons = append(reasons, "Too many pods")
	}
	if n.ReqMilliCPU+pi.MilliCPU > n.AllocMilliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if n.ReqMemory+pi.Memory > n.AllocMemory {
		reasons = append(reasons, "Insufficient memory")
	}
	if len(reasons) > 0 {
		return framework.NewStatus(framework.Unschedulable, reasons...)
	}
	return nil
}
func (fit) Score(_ context.Context, s *framework.CycleState, _ *api.Pod, n *nodeinfo.NodeInfo) (int64, *framework.Status) {
	d, _ := s.Read(fitKey)
	pi := d.(requests).pi
	free := func(req, alloc int64) int64 {
		if alloc <= 0 {
			return 0
		}
		return max(alloc-req, 0) * framework.MaxScore / alloc
	}
	return (free(n.ReqMilliCPU+pi.MilliCPU, n.AllocMilliCPU) + free(n.ReqMemory+pi.Memory, n.AllocMemory)) / 2, nil
}
