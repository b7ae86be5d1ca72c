package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// ReasonDuplicatePodName rejects nodes that hold another pod of the same
// namespace and name.
const ReasonDuplicatePodName = "node(s) already run a pod with this name"

// DuplicatePodName is the founding design's "duplicate name" predicate: a
// pod may not go to a node that still holds another pod (another uid) with
// its namespace and name, such as a previous incarnation still
// terminating, since the node agent names containers after the pod. The
// code is UnschedulableAndUnresolvable: the old pod is already going.
type DuplicatePodName struct{}

// Name is the plugin's name.
func (DuplicatePodName) Name() string { return "DuplicatePodName" }

// PreFilter computes the pod's key once for the cycle.
func (DuplicatePodName) PreFilter(_ context.Context, s *framework.CycleState, pod *api.Pod) *framework.Status {
	podInfo(s, pod, true)
	return nil
}

// Filter rejects a node holding another pod with the same key.
func (DuplicatePodName) Filter(_ context.Context, s *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	if len(n.PodKeys) == 0 {
		return nil
	}
	if other, ok := n.PodKeys[podInfo(s, pod, false).Key]; ok && other.Pod.UID != pod.UID {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonDuplicatePodName)
	}
	return nil
}
