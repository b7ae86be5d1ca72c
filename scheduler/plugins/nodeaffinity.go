package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// ReasonNodeAffinity rejects nodes that fail the pod's nodeSelector or
// required node affinity.
const ReasonNodeAffinity = "node(s) didn't match Pod's node affinity/selector"

// NodeAffinity keeps a pod on nodes that match its nodeSelector and its
// required node affinity, and scores nodes by the summed weights of the
// preferred terms they match.
type NodeAffinity struct{}

// Name is the plugin's name.
func (NodeAffinity) Name() string { return "NodeAffinity" }

// PreFilter skips the filter for a pod with no nodeSelector and no
// required affinity.
func (NodeAffinity) PreFilter(_ context.Context, _ *framework.CycleState, pod *api.Pod) *framework.Status {
	if !hasRequiredNodeConstraints(pod) {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Filter rejects a node that fails the nodeSelector or required affinity.
func (NodeAffinity) Filter(_ context.Context, _ *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	if !matchesNodeSelectorAndAffinity(pod, n) {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonNodeAffinity)
	}
	return nil
}

func preferredTerms(pod *api.Pod) []api.PreferredSchedulingTerm {
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil {
		return a.NodeAffinity.Preferred
	}
	return nil
}

// PreScore skips scoring for a pod with no preferred terms.
func (NodeAffinity) PreScore(_ context.Context, _ *framework.CycleState, pod *api.Pod, _ []*nodeinfo.NodeInfo) *framework.Status {
	if len(preferredTerms(pod)) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Score sums the weights of the preferred terms the node matches.
func (NodeAffinity) Score(_ context.Context, _ *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) (int64, *framework.Status) {
	var sum int64
	terms := preferredTerms(pod)
	for i := range terms {
		if terms[i].Weight > 0 && terms[i].Preference.Matches(n.Name, n.Labels()) {
			sum += int64(terms[i].Weight)
		}
	}
	return sum, nil
}

// NormalizeScore scales the sums so the best-matching node gets MaxScore.
func (NodeAffinity) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *api.Pod, scores []framework.CandidateScore) *framework.Status {
	framework.DefaultNormalizeScore(framework.MaxScore, false, scores)
	return nil
}
