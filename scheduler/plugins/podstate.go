package plugins

import (
	"context"
	"sync/atomic"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// PodInfoKey is where the pod being placed has its nodeinfo.PodInfo (its
// requests, host ports, key and owner, computed once per cycle).
const PodInfoKey framework.StateKey = "plugins/podinfo"

type podInfoState struct{ pi *nodeinfo.PodInfo }

// Clone returns the state itself: a PodInfo never changes.
func (s *podInfoState) Clone() framework.StateData { return s }

// SetPodInfo records the PodInfo of the pod being placed, so that plugins
// do not derive it again. The scheduler core, which builds one to assume
// the pod anyway, may call it before Schedule; otherwise the first
// PreFilter that needs it computes it.
func SetPodInfo(s *framework.CycleState, pi *nodeinfo.PodInfo) {
	s.Write(PodInfoKey, &podInfoState{pi: pi})
}

// podInfo returns the PodInfo of pod from the state, computing (and, when
// write is set, recording) it when absent or stale. Only PreFilter and
// PreScore may write.
func podInfo(s *framework.CycleState, pod *api.Pod, write bool) *nodeinfo.PodInfo {
	if d, ok := s.Read(PodInfoKey); ok {
		if ps, ok := d.(*podInfoState); ok && ps.pi.Pod == pod {
			return ps.pi
		}
	}
	pi := nodeinfo.NewPodInfo(pod)
	if write {
		SetPodInfo(s, pi)
	}
	return pi
}

// podInfoCache remembers the PodInfo of the last pod a profile's plugins
// looked at. They ask for it on hundreds of nodes per cycle, and a PodInfo
// depends only on the pod object (never modified; the cached PodInfo keeps
// it alive, so its address cannot be reused), so comparing pointers finds
// it without taking the CycleState's lock. Safe for concurrent use; a miss
// (another pod's cycle in between) falls back to the CycleState.
type podInfoCache struct {
	last atomic.Pointer[nodeinfo.PodInfo]
}

// get returns the PodInfo of pod; write is as for podInfo. A nil cache
// (a plugin's zero value) reads the CycleState.
func (c *podInfoCache) get(s *framework.CycleState, pod *api.Pod, write bool) *nodeinfo.PodInfo {
	if c == nil {
		return podInfo(s, pod, write)
	}
	if pi := c.last.Load(); pi != nil && pi.Pod == pod {
		if write {
			if d, ok := s.Read(PodInfoKey); !ok || d.(*podInfoState).pi != pi {
				SetPodInfo(s, pi)
			}
		}
		return pi
	}
	pi := podInfo(s, pod, write)
	c.last.Store(pi)
	return pi
}

// PreFilterExtensions is the optional extension of a PreFilterPlugin whose
// per-cycle state depends on the pods already placed (found by type
// assertion). Preemption calls it to keep that state right while it
// simulates removing victims from (or adding nominated pods to) a cloned
// node, on a cloned CycleState. node is the node the pod goes onto or
// comes off; only its labels and name are read.
type PreFilterExtensions interface {
	AddPod(ctx context.Context, s *framework.CycleState, pod *api.Pod, added *nodeinfo.PodInfo, node *nodeinfo.NodeInfo) *framework.Status
	RemovePod(ctx context.Context, s *framework.CycleState, pod *api.Pod, removed *nodeinfo.PodInfo, node *nodeinfo.NodeInfo) *framework.Status
}

// TaintNodeUnschedulable is the taint key of a cordoned node: a pod that
// tolerates it (effect NoSchedule) may be placed on a cordoned node.
const TaintNodeUnschedulable = "node.kubernetes.io/unschedulable"

// TaintNodeNotReady is the taint key of a node that is not ready: a pod
// that tolerates it (effect NoSchedule) may be placed on such a node.
const TaintNodeNotReady = "node.kubernetes.io/not-ready"

// tolerates reports whether any toleration matches the taint.
func tolerates(tols []api.Toleration, t *api.Taint) bool {
	for i := range tols {
		if tols[i].ToleratesTaint(t) {
			return true
		}
	}
	return false
}

// matchesNodeSelectorAndAffinity reports whether the node satisfies the
// pod's nodeSelector and its required node affinity.
func matchesNodeSelectorAndAffinity(pod *api.Pod, n *nodeinfo.NodeInfo) bool {
	labels := n.Labels()
	for k, v := range pod.Spec.NodeSelector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	if a := pod.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.Required != nil {
		return a.NodeAffinity.Required.Matches(n.Name, labels)
	}
	return true
}

// hasRequiredNodeConstraints reports whether the pod has a nodeSelector or
// required node affinity.
func hasRequiredNodeConstraints(pod *api.Pod) bool {
	if len(pod.Spec.NodeSelector) > 0 {
		return true
	}
	a := pod.Spec.Affinity
	return a != nil && a.NodeAffinity != nil && a.NodeAffinity.Required != nil
}

// normalizeByRange rescales raw scores so that the lowest raw score gets
// MaxScore and the highest 0 (all MaxScore when they are equal). Scores
// below zero are "not applicable" and get 0.
func normalizeByRange(scores []framework.CandidateScore) {
	lo, hi := int64(-1), int64(-1)
	for _, s := range scores {
		if s.Score < 0 {
			continue
		}
		if lo < 0 || s.Score < lo {
			lo = s.Score
		}
		hi = max(hi, s.Score)
	}
	for i := range scores {
		switch v := scores[i].Score; {
		case v < 0:
			scores[i].Score = 0
		case hi == lo:
			scores[i].Score = framework.MaxScore
		default:
			scores[i].Score = framework.MaxScore * (hi - v) / (hi - lo)
		}
	}
}
