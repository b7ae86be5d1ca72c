package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// LeastAllocated favours nodes with the most room left once the pod is
// placed: for cpu and memory, (allocatable - requested) * MaxScore /
// allocatable, averaged. It spreads load; Kubernetes' default.
type LeastAllocated struct{ pods *podInfoCache }

// Name is the plugin's name.
func (LeastAllocated) Name() string { return "NodeResourcesLeastAllocated" }

// Score is the mean share of cpu and memory left free, 0..MaxScore.
func (l LeastAllocated) Score(_ context.Context, s *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) (int64, *framework.Status) {
	pi := l.pods.get(s, pod, false)
	return (leastAllocated(n.ReqMilliCPU+pi.MilliCPU, n.AllocMilliCPU) + leastAllocated(n.ReqMemory+pi.Memory, n.AllocMemory)) / 2, nil
}

func leastAllocated(requested, alloc int64) int64 {
	if alloc <= 0 || requested > alloc {
		return 0
	}
	return (alloc - requested) * framework.MaxScore / alloc
}
