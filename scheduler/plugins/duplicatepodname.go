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
type DuplicatePodName struct{ pods *podInfoCache }

// Name is the plugin's name.
func (DuplicatePodName) Name() string { return "DuplicatePodName" }

// PreFilter computes the pod's key once for the cycle, and skips the
// filter when the snapshot knows that no node holds a pod of that key
// (nodeinfo.PodKeyIndex): the usual case, which then costs no look-up per
// node.
func (d DuplicatePodName) PreFilter(_ context.Context, s *framework.CycleState, pod *api.Pod) *framework.Status {
	pi := d.pods.get(s, pod, true)
	if idx, ok := nodeinfo.SnapshotFrom(s).(nodeinfo.PodKeyIndex); ok && !idx.HoldsPod(pi.Key) {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// scanBelow is the pod count under which comparing names beats looking
// the key up in PodKeys.
const scanBelow = 8

// Filter rejects a node holding another pod with the same key.
func (d DuplicatePodName) Filter(_ context.Context, s *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	if len(n.Pods) == 0 {
		return nil
	}
	key := d.pods.get(s, pod, false).Key
	var other *nodeinfo.PodInfo
	if len(n.Pods) < scanBelow {
		for _, pi := range n.Pods {
			if pi.Key == key {
				other = pi
				break
			}
		}
	} else {
		other = n.PodKeys[key]
	}
	if other != nil && other.Pod.UID != pod.UID {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonDuplicatePodName)
	}
	return nil
}
