package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// ReasonNodeNotReady rejects nodes whose Ready condition is not True.
const ReasonNodeNotReady = "node(s) were not ready"

var notReadyTaint = api.Taint{Key: TaintNodeNotReady, Effect: api.TaintEffectNoSchedule}

// NodeReady keeps pods off nodes that are not Ready, except pods that
// tolerate the node.kubernetes.io/not-ready:NoSchedule taint.
type NodeReady struct{}

// Name is the plugin's name.
func (NodeReady) Name() string { return "NodeReady" }

// Filter rejects a node that is not ready.
func (NodeReady) Filter(_ context.Context, _ *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	if n.Ready || tolerates(pod.Spec.Tolerations, &notReadyTaint) {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNodeNotReady)
}
