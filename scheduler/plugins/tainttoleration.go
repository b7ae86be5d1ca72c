package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// ReasonUntoleratedTaint rejects nodes with a NoSchedule or NoExecute taint
// the pod does not tolerate.
const ReasonUntoleratedTaint = "node(s) had untolerated taint"

// TaintToleration keeps pods off nodes with NoSchedule or NoExecute taints
// they do not tolerate, and scores nodes by how few untolerated
// PreferNoSchedule taints they have.
type TaintToleration struct{}

// Name is the plugin's name.
func (TaintToleration) Name() string { return "TaintToleration" }

// Filter rejects a node with an untolerated NoSchedule or NoExecute taint.
func (TaintToleration) Filter(_ context.Context, _ *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	for i := range n.Taints {
		t := &n.Taints[i]
		if t.Effect != api.TaintEffectNoSchedule && t.Effect != api.TaintEffectNoExecute {
			continue
		}
		if !tolerates(pod.Spec.Tolerations, t) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonUntoleratedTaint)
		}
	}
	return nil
}

// PreScore skips scoring when no feasible node has a PreferNoSchedule taint.
func (TaintToleration) PreScore(_ context.Context, _ *framework.CycleState, _ *api.Pod, feasible []*nodeinfo.NodeInfo) *framework.Status {
	for _, n := range feasible {
		for i := range n.Taints {
			if n.Taints[i].Effect == api.TaintEffectPreferNoSchedule {
				return nil
			}
		}
	}
	return framework.NewStatus(framework.Skip)
}

// Score counts the node's PreferNoSchedule taints the pod does not
// tolerate; NormalizeScore turns fewer into higher.
func (TaintToleration) Score(_ context.Context, _ *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) (int64, *framework.Status) {
	var count int64
	for i := range n.Taints {
		t := &n.Taints[i]
		if t.Effect == api.TaintEffectPreferNoSchedule && !tolerates(pod.Spec.Tolerations, t) {
			count++
		}
	}
	return count, nil
}

// NormalizeScore gives MaxScore to nodes with no untolerated
// PreferNoSchedule taint and 0 to those with the most.
func (TaintToleration) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *api.Pod, scores []framework.CandidateScore) *framework.Status {
	framework.DefaultNormalizeScore(framework.MaxScore, true, scores)
	return nil
}
