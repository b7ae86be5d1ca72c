package plugins

import (
	"context"
	"errors"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// Rejection reasons of PodTopologySpread.
const (
	ReasonSpreadConstraints = "node(s) didn't match pod topology spread constraints"
	ReasonSpreadMissingKey  = "node(s) didn't match pod topology spread constraints (missing required label)"
)

// Cycle state keys of PodTopologySpread.
const (
	spreadFilterKey framework.StateKey = "plugins/PodTopologySpread/filter"
	spreadScoreKey  framework.StateKey = "plugins/PodTopologySpread/score"
)

var errNoSnapshot = errors.New("no node snapshot in the cycle state")

// PodTopologySpread enforces the pod's topologySpreadConstraints, the
// Kubernetes subset maxSkew, topologyKey, whenUnsatisfiable and
// labelSelector (matched against pods of the pod's namespace).
//
// DoNotSchedule constraints filter: PreFilter counts the matching pods per
// domain (value of the topology key) over every node that passes the pod's
// nodeSelector and required affinity and carries every constrained key;
// Filter rejects a node when placing the pod there would make its domain
// exceed the least populated domain by more than maxSkew, and rejects
// nodes lacking a key outright. ScheduleAnyway constraints score: the fewer
// matching pods in the node's domains, the higher.
type PodTopologySpread struct{}

// Name is the plugin's name.
func (PodTopologySpread) Name() string { return "PodTopologySpread" }

type spreadConstraint struct {
	maxSkew  int32
	key      string
	selector selector
	// self is 1 when the pod matches its own selector: placing it adds one.
	self int32
}

func constraintsOf(pod *api.Pod, action api.UnsatisfiableConstraintAction) []spreadConstraint {
	var out []spreadConstraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != action && !(action == api.DoNotSchedule && c.WhenUnsatisfiable == "") {
			continue
		}
		sc := spreadConstraint{maxSkew: max(c.MaxSkew, 1), key: c.TopologyKey, selector: compileSelector(c.LabelSelector)}
		if c.LabelSelector.Matches(pod.Labels) {
			sc.self = 1
		}
		out = append(out, sc)
	}
	return out
}

// selector is an api.LabelSelector made quick to match over many pods:
// its matchLabels as a slice (ranging over a map costs more than matching).
type selector struct {
	none  bool // a nil selector matches nothing
	pairs []labelPair
	exprs *api.LabelSelector // only the expressions; nil when there are none
}

type labelPair struct{ key, value string }

func compileSelector(s *api.LabelSelector) selector {
	if s == nil {
		return selector{none: true}
	}
	var out selector
	for k, v := range s.MatchLabels {
		out.pairs = append(out.pairs, labelPair{k, v})
	}
	if len(s.MatchExpressions) > 0 {
		out.exprs = &api.LabelSelector{MatchExpressions: s.MatchExpressions}
	}
	return out
}

// Matches is api.LabelSelector.Matches.
func (s *selector) Matches(labels map[string]string) bool {
	if s.none {
		return false
	}
	for _, p := range s.pairs {
		if v, ok := labels[p.key]; !ok || v != p.value {
			return false
		}
	}
	return s.exprs == nil || s.exprs.Matches(labels)
}

// hasKeys reports whether labels carry every constraint's key.
func hasKeys(labels map[string]string, cs []spreadConstraint) bool {
	for i := range cs {
		if _, ok := labels[cs[i].key]; !ok {
			return false
		}
	}
	return true
}

// counts reports whether a placed pod counts toward the pod's constraints:
// same namespace, not terminating (as in Kubernetes).
func counts(pod *api.Pod, other *nodeinfo.PodInfo) bool {
	return other.Pod.Namespace == pod.Namespace && other.Pod.DeletionTimestamp == nil
}

// countMatching counts the node's pods that count for pod and match sel.
func countMatching(pod *api.Pod, n *nodeinfo.NodeInfo, sel *selector) int32 {
	var c int32
	for _, pi := range n.Pods {
		if counts(pod, pi) && sel.Matches(pi.Pod.Labels) {
			c++
		}
	}
	return c
}

// countDomains adds to counts[i] (skipped when nil) the pods matching
// constraint i per domain, over the nodes that pass the pod's nodeSelector
// and required affinity and carry every constrained key; such a node's
// domains are present even when they hold no matching pod.
func countDomains(pod *api.Pod, nodes []*nodeinfo.NodeInfo, cs []spreadConstraint, counts []map[string]int32) {
	values := make([]string, len(cs))
	affinity := hasRequiredNodeConstraints(pod)
nodes:
	for _, n := range nodes {
		labels := n.Labels()
		for i := range cs {
			v, ok := labels[cs[i].key]
			if !ok {
				continue nodes
			}
			values[i] = v
		}
		if affinity && !matchesNodeSelectorAndAffinity(pod, n) {
			continue
		}
		for i := range cs {
			if counts[i] != nil {
				counts[i][values[i]] += countMatching(pod, n, &cs[i].selector)
			}
		}
	}
}

// spreadFilterState is the per-domain count of matching pods for each
// DoNotSchedule constraint, with each constraint's least count.
type spreadFilterState struct {
	constraints []spreadConstraint // shared by clones, never changed
	counts      []map[string]int32
	minCounts   []int32
}

// Clone deep-copies the counts, which preemption changes.
func (s *spreadFilterState) Clone() framework.StateData {
	c := &spreadFilterState{constraints: s.constraints, counts: make([]map[string]int32, len(s.counts)), minCounts: append([]int32(nil), s.minCounts...)}
	for i, m := range s.counts {
		c.counts[i] = make(map[string]int32, len(m))
		for k, v := range m {
			c.counts[i][k] = v
		}
	}
	return c
}

func (s *spreadFilterState) updateMin(i int) {
	first := true
	for _, v := range s.counts[i] {
		if first || v < s.minCounts[i] {
			s.minCounts[i], first = v, false
		}
	}
	if first {
		s.minCounts[i] = 0
	}
}

// PreFilter counts matching pods per domain for the DoNotSchedule
// constraints; a pod with none skips the filter.
func (PodTopologySpread) PreFilter(_ context.Context, s *framework.CycleState, pod *api.Pod) *framework.Status {
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	cs := constraintsOf(pod, api.DoNotSchedule)
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	snap := nodeinfo.SnapshotFrom(s)
	if snap == nil {
		return framework.AsStatus(errNoSnapshot)
	}
	st := &spreadFilterState{constraints: cs, counts: make([]map[string]int32, len(cs)), minCounts: make([]int32, len(cs))}
	for i := range cs {
		st.counts[i] = map[string]int32{}
	}
	countDomains(pod, snap.List(), cs, st.counts)
	for i := range cs {
		st.updateMin(i)
	}
	s.Write(spreadFilterKey, st)
	return nil
}

// Filter rejects a node lacking a constrained key, or whose domain would
// exceed the least populated one by more than maxSkew.
func (PodTopologySpread) Filter(_ context.Context, s *framework.CycleState, _ *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	d, ok := s.Read(spreadFilterKey)
	if !ok {
		return framework.AsStatus(errors.New("PodTopologySpread: filter state missing (PreFilter not run)"))
	}
	st := d.(*spreadFilterState)
	labels := n.Labels()
	for i := range st.constraints {
		c := &st.constraints[i]
		v, ok := labels[c.key]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ReasonSpreadMissingKey)
		}
		if st.counts[i][v]+c.self-st.minCounts[i] > c.maxSkew {
			return framework.NewStatus(framework.Unschedulable, ReasonSpreadConstraints)
		}
	}
	return nil
}

// AddPod counts a pod added to a node (PreFilterExtensions).
func (p PodTopologySpread) AddPod(_ context.Context, s *framework.CycleState, pod *api.Pod, added *nodeinfo.PodInfo, n *nodeinfo.NodeInfo) *framework.Status {
	p.update(s, pod, added, n, 1)
	return nil
}

// RemovePod uncounts a pod removed from a node (PreFilterExtensions).
func (p PodTopologySpread) RemovePod(_ context.Context, s *framework.CycleState, pod *api.Pod, removed *nodeinfo.PodInfo, n *nodeinfo.NodeInfo) *framework.Status {
	p.update(s, pod, removed, n, -1)
	return nil
}

func (PodTopologySpread) update(s *framework.CycleState, pod *api.Pod, other *nodeinfo.PodInfo, n *nodeinfo.NodeInfo, delta int32) {
	d, ok := s.Read(spreadFilterKey)
	if !ok {
		return
	}
	st := d.(*spreadFilterState)
	labels := n.Labels()
	if !counts(pod, other) || !hasKeys(labels, st.constraints) || !matchesNodeSelectorAndAffinity(pod, n) {
		return
	}
	for i := range st.constraints {
		if st.constraints[i].selector.Matches(other.Pod.Labels) {
			st.counts[i][labels[st.constraints[i].key]] += delta
			st.updateMin(i)
		}
	}
}

// spreadScoreState counts matching pods per domain for the ScheduleAnyway
// constraints. A hostname constraint has no map: its domain is the node,
// counted when scoring it.
type spreadScoreState struct {
	constraints []spreadConstraint
	counts      []map[string]int32
}

// Clone returns the state itself: scoring never changes it.
func (s *spreadScoreState) Clone() framework.StateData { return s }

// PreScore counts matching pods per domain for the ScheduleAnyway
// constraints; a pod with none skips scoring.
func (PodTopologySpread) PreScore(_ context.Context, s *framework.CycleState, pod *api.Pod, _ []*nodeinfo.NodeInfo) *framework.Status {
	if len(pod.Spec.TopologySpreadConstraints) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	cs := constraintsOf(pod, api.ScheduleAnyway)
	if len(cs) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	st := &spreadScoreState{constraints: cs, counts: make([]map[string]int32, len(cs))}
	global := false
	for i := range cs {
		if cs[i].key != api.LabelHostname {
			st.counts[i] = map[string]int32{}
			global = true
		}
	}
	if global {
		snap := nodeinfo.SnapshotFrom(s)
		if snap == nil {
			return framework.AsStatus(errNoSnapshot)
		}
		countDomains(pod, snap.List(), cs, st.counts)
	}
	s.Write(spreadScoreKey, st)
	return nil
}

// Score sums the matching pods in the node's domains, or -1 when the node
// lacks a constrained key (it then scores 0).
func (PodTopologySpread) Score(_ context.Context, s *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) (int64, *framework.Status) {
	d, ok := s.Read(spreadScoreKey)
	if !ok {
		return 0, framework.AsStatus(errors.New("PodTopologySpread: score state missing (PreScore not run)"))
	}
	st := d.(*spreadScoreState)
	labels := n.Labels()
	var sum int64
	for i := range st.constraints {
		c := &st.constraints[i]
		v, ok := labels[c.key]
		if !ok {
			return -1, nil
		}
		if st.counts[i] == nil {
			sum += int64(countMatching(pod, n, &c.selector))
		} else {
			sum += int64(st.counts[i][v])
		}
	}
	return sum, nil
}

// NormalizeScore gives MaxScore to the nodes whose domains hold the fewest
// matching pods and 0 to those with the most.
func (PodTopologySpread) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *api.Pod, scores []framework.CandidateScore) *framework.Status {
	normalizeByRange(scores)
	return nil
}
