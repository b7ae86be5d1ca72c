package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

const defaultSpreadKey framework.StateKey = "plugins/DefaultHypervisorSpread"

// DefaultSpread spreads the pods of one owner (a ReplicaSet, say) that set
// no topologySpreadConstraints of their own: first over hypervisors (the
// topology.cloud/hypervisor label, the physical host a node VM runs on),
// then over nodes, so that losing one physical host never takes every
// replica when another host had room. A node without the hypervisor label
// (or with an empty one) is its own hypervisor.
//
// A node's score blends the hypervisor part (2/3) and the node part (1/3);
// each part gives MaxScore to the scored nodes whose domain holds the
// fewest pods of the owner and 0 to those whose domain holds the most.
// Counts come from the snapshot's nodeinfo.HypervisorCounts when it keeps
// them (nodeinfo.HypervisorCounter), else from nodeinfo.OwnerCounts over
// every node of the snapshot.
type DefaultSpread struct{ pods *podInfoCache }

// Name is the plugin's name.
func (DefaultSpread) Name() string { return "DefaultHypervisorSpread" }

type defaultSpreadState struct {
	owner string
	// hypervisors counts the owner's pods per hypervisor label value
	// (read only: it may be the snapshot's own index).
	hypervisors map[string]int
}

// Clone returns the state itself: scoring never changes it.
func (s *defaultSpreadState) Clone() framework.StateData { return s }

// PreScore counts the owner's pods per hypervisor; a pod with no owner, or
// with spread constraints of its own, skips this plugin.
func (d DefaultSpread) PreScore(_ context.Context, s *framework.CycleState, pod *api.Pod, _ []*nodeinfo.NodeInfo) *framework.Status {
	if len(pod.Spec.TopologySpreadConstraints) > 0 || len(pod.OwnerReferences) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	owner := d.pods.get(s, pod, true).Owner
	if owner == "" {
		return framework.NewStatus(framework.Skip)
	}
	snap := nodeinfo.SnapshotFrom(s)
	if snap == nil {
		return framework.AsStatus(errNoSnapshot)
	}
	st := &defaultSpreadState{owner: owner}
	if hc, ok := snap.(nodeinfo.HypervisorCounter); ok {
		st.hypervisors = hc.HypervisorCounts().Owner(owner)
	} else {
		st.hypervisors = map[string]int{}
		for _, n := range snap.List() {
			if c := n.OwnerCounts[owner]; c > 0 {
				if n.Hypervisor != "" {
					st.hypervisors[n.Hypervisor] += c
				}
			}
		}
	}
	s.Write(defaultSpreadKey, st)
	return nil
}

// Score packs the owner's pods in the node's hypervisor (high 32 bits) and
// on the node (low 32 bits); NormalizeScore unpacks them.
func (DefaultSpread) Score(_ context.Context, s *framework.CycleState, _ *api.Pod, n *nodeinfo.NodeInfo) (int64, *framework.Status) {
	d, ok := s.Read(defaultSpreadKey)
	if !ok {
		return 0, nil
	}
	st := d.(*defaultSpreadState)
	node := int64(n.OwnerCounts[st.owner])
	hyper := node
	if n.Hypervisor != "" {
		hyper = int64(st.hypervisors[n.Hypervisor])
	}
	return hyper<<32 | node, nil
}

// NormalizeScore blends the hypervisor and node parts, 2:1.
func (DefaultSpread) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *api.Pod, scores []framework.CandidateScore) *framework.Status {
	if len(scores) == 0 {
		return nil
	}
	const low = 1<<32 - 1
	hLo, hHi := scores[0].Score>>32, scores[0].Score>>32
	nLo, nHi := scores[0].Score&low, scores[0].Score&low
	for _, s := range scores[1:] {
		h, n := s.Score>>32, s.Score&low
		hLo, hHi = min(hLo, h), max(hHi, h)
		nLo, nHi = min(nLo, n), max(nHi, n)
	}
	for i := range scores {
		h, n := scores[i].Score>>32, scores[i].Score&low
		scores[i].Score = (2*rangeScore(h, hLo, hHi) + rangeScore(n, nLo, nHi)) / 3
	}
	return nil
}

// rangeScore is MaxScore at lo, 0 at hi, linear between.
func rangeScore(v, lo, hi int64) int64 {
	if hi == lo {
		return framework.MaxScore
	}
	return framework.MaxScore * (hi - v) / (hi - lo)
}
