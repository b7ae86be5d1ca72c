package plugins

import (
	"context"
	"math"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// BalancedAllocation favours nodes whose cpu and memory would be requested
// in the same proportion once the pod is placed, so that neither runs out
// while the other idles: (1 - |cpu share - memory share| / 2) * MaxScore.
type BalancedAllocation struct{ pods *podInfoCache }

// Name is the plugin's name.
func (BalancedAllocation) Name() string { return "NodeResourcesBalancedAllocation" }

// Score is higher the closer the cpu and memory shares are, 0..MaxScore.
func (b BalancedAllocation) Score(_ context.Context, s *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) (int64, *framework.Status) {
	pi := b.pods.get(s, pod, false)
	cpu := share(n.ReqMilliCPU+pi.MilliCPU, n.AllocMilliCPU)
	mem := share(n.ReqMemory+pi.Memory, n.AllocMemory)
	return int64((1 - math.Abs(cpu-mem)/2) * float64(framework.MaxScore)), nil
}

// share is requested/alloc capped at 1 (1 when nothing is allocatable).
func share(requested, alloc int64) float64 {
	if alloc <= 0 || requested >= alloc {
		return 1
	}
	return float64(requested) / float64(alloc)
}
