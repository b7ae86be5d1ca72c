package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// Rejection reasons of NodeResourcesFit.
const (
	ReasonInsufficientCPU    = "Insufficient cpu"
	ReasonInsufficientMemory = "Insufficient memory"
	ReasonTooManyPods        = "Too many pods"
)

// NodeResourcesFit rejects a node whose allocatable cpu, memory or pod
// count, minus what its pods already request, cannot hold the pod's
// requests. A request of zero always fits, as in Kubernetes. The code is
// Unschedulable (evicting pods frees room) unless the request exceeds the
// node's whole allocatable.
type NodeResourcesFit struct{ pods *podInfoCache }

// Name is the plugin's name.
func (NodeResourcesFit) Name() string { return "NodeResourcesFit" }

// PreFilter computes the pod's requests once for the cycle.
func (f NodeResourcesFit) PreFilter(_ context.Context, s *framework.CycleState, pod *api.Pod) *framework.Status {
	f.pods.get(s, pod, true)
	return nil
}

// Filter checks the pod's requests against the node's free room.
func (f NodeResourcesFit) Filter(_ context.Context, s *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	pi := f.pods.get(s, pod, false)
	var reasons []string
	code := framework.Unschedulable
	if int64(len(n.Pods))+1 > n.AllocPods {
		reasons = append(reasons, ReasonTooManyPods)
		if n.AllocPods <= 0 {
			code = framework.UnschedulableAndUnresolvable
		}
	}
	if pi.MilliCPU > 0 && n.ReqMilliCPU+pi.MilliCPU > n.AllocMilliCPU {
		reasons = append(reasons, ReasonInsufficientCPU)
		if pi.MilliCPU > n.AllocMilliCPU {
			code = framework.UnschedulableAndUnresolvable
		}
	}
	if pi.Memory > 0 && n.ReqMemory+pi.Memory > n.AllocMemory {
		reasons = append(reasons, ReasonInsufficientMemory)
		if pi.Memory > n.AllocMemory {
			code = framework.UnschedulableAndUnresolvable
		}
	}
	if len(reasons) == 0 {
		return nil
	}
	return framework.NewStatus(code, reasons...)
}
