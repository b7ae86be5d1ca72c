package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// ReasonNodeName rejects nodes other than the one the pod names.
const ReasonNodeName = "node(s) didn't match the requested node name"

// NodeName keeps a pod that already names a node (spec.nodeName) off every
// other node. Pods are rarely created that way; the scheduler normally sets
// the field itself when it binds.
type NodeName struct{}

// Name is the plugin's name.
func (NodeName) Name() string { return "NodeName" }

// Filter rejects nodes the pod does not name.
func (NodeName) Filter(_ context.Context, _ *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	if pod.Spec.NodeName != "" && pod.Spec.NodeName != n.Name {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNodeName)
	}
	return nil
}
