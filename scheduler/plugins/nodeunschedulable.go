package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// ReasonNodeUnschedulable rejects cordoned nodes.
const ReasonNodeUnschedulable = "node(s) were unschedulable"

var unschedulableTaint = api.Taint{Key: TaintNodeUnschedulable, Effect: api.TaintEffectNoSchedule}

// NodeUnschedulable keeps pods off cordoned nodes (spec.unschedulable),
// except pods that tolerate the node.kubernetes.io/unschedulable:NoSchedule
// taint.
type NodeUnschedulable struct{}

// Name is the plugin's name.
func (NodeUnschedulable) Name() string { return "NodeUnschedulable" }

// Filter rejects a cordoned node.
func (NodeUnschedulable) Filter(_ context.Context, _ *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	if !n.Unschedulable || tolerates(pod.Spec.Tolerations, &unschedulableTaint) {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNodeUnschedulable)
}
