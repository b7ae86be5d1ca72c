// Package preempt chooses, for a pod that fits on no node, a node and the
// lower-priority pods to evict there so that it fits, disturbing as little
// as possible (after the Kubernetes scheduler's default preemption). It is
// pure logic over the cycle's snapshot and the pod profile: the scheduler
// core evicts the victims and nominates the pod to the node.
package preempt

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

// Framework is the pod pipeline preemption re-runs on simulated nodes.
type Framework = framework.Framework[*api.Pod, *nodeinfo.NodeInfo]

// Result is where the pod is to go once its victims are gone.
type Result struct {
	// Node is the node chosen.
	Node string
	// Victims are the pods to evict from Node, lowest priority first.
	Victims []*nodeinfo.PodInfo
	// LowerNominated are pods of lower priority than the preemptor that
	// were nominated to Node: the room freed is the preemptor's now, so
	// their nomination should be cleared.
	LowerNominated []*nodeinfo.PodInfo
}

// Options tune Preempt.
type Options struct {
	// Nominated lists the pods nominated to a node (status.nominatedNodeName
	// set, waiting for their own victims to go). Those of priority at least
	// the preemptor's are counted as placed when simulating. nil: none.
	Nominated func(node string) []*nodeinfo.PodInfo
	// MinCandidates and CandidatePercent bound how many nodes where
	// preemption works are compared (the larger of MinCandidates and
	// CandidatePercent of the rejected nodes); 0 means 100 and 10%, as in
	// Kubernetes. Nodes are tried from a random offset.
	MinCandidates    int
	CandidatePercent int
}

// ErrNoSnapshot is returned when the cycle state carries no snapshot.
var ErrNoSnapshot = errors.New("preempt: no node snapshot in the cycle state")

// Preempt finds a node where pod fits once some pods of strictly lower
// priority are evicted, given the FitError of the cycle that placed it
// nowhere and that cycle's state (which carries the snapshot). It returns
// false when preemption cannot help: the pod's preemptionPolicy is Never,
// the pod already waits on a node for victims still terminating, no node
// was rejected for a reason eviction can remove (code Unschedulable), or
// no such node has enough lower-priority pods. The state is not changed.
//
// On each candidate node (a clone), every lower-priority pod is removed and
// the filters are run; if the pod fits, the victims are reprieved from the
// most important down (higher priority, then earlier start) while the pod
// still fits. The node chosen disturbs least: the lowest priority among its
// victims' highest, then the smallest sum of victim priorities, then the
// fewest victims, then at random.
func Preempt(ctx context.Context, fw *Framework, state *framework.CycleState, pod *api.Pod, fitErr *framework.FitError, opts Options) (Result, bool, error) {
	if fitErr == nil || fitErr.PreFilter != nil || !mayPreempt(pod) {
		return Result{}, false, nil
	}
	snap := nodeinfo.SnapshotFrom(state)
	if snap == nil {
		return Result{}, false, ErrNoSnapshot
	}
	if waitingForVictims(pod, snap) {
		return Result{}, false, nil
	}
	candidates := candidateNodes(fitErr, snap)
	if len(candidates) == 0 {
		return Result{}, false, nil
	}
	base := state.Clone()
	skip, st := fw.RunPreFilters(ctx, base, pod)
	switch {
	case st.Code() == framework.Error:
		return Result{}, false, fmt.Errorf("preempt: prefilter %s: %w", st.Plugin(), st.Err())
	case !st.IsSuccess():
		return Result{}, false, nil
	}
	sim := simulator{fw: fw, base: base, skip: skip, pod: pod, prio: api.PodPriority(pod), exts: extensions(fw)}
	want := numCandidates(len(candidates), opts)
	start := rand.IntN(len(candidates))
	var (
		best  *choice
		ties  int
		found int
	)
	for i := range candidates {
		if found >= want {
			break
		}
		if err := ctx.Err(); err != nil {
			return Result{}, false, err
		}
		n := candidates[(start+i)%len(candidates)]
		var nominated []*nodeinfo.PodInfo
		if opts.Nominated != nil {
			nominated = opts.Nominated(n.Name)
		}
		c, ok, err := sim.victims(ctx, n, nominated)
		if err != nil {
			return Result{}, false, err
		}
		if !ok {
			continue
		}
		found++
		switch cmp := c.compare(best); {
		case best == nil || cmp < 0:
			best, ties = c, 1
		case cmp == 0:
			ties++
			if rand.IntN(ties) == 0 {
				best = c
			}
		}
	}
	if best == nil {
		return Result{}, false, nil
	}
	res := Result{Node: best.node, Victims: best.victims}
	if opts.Nominated != nil {
		for _, pi := range opts.Nominated(best.node) {
			if pi.Priority < sim.prio && pi.Pod.UID != pod.UID {
				res.LowerNominated = append(res.LowerNominated, pi)
			}
		}
	}
	return res, true, nil
}

// mayPreempt reports whether the pod's policy lets it evict others.
func mayPreempt(pod *api.Pod) bool {
	return pod.Spec.PreemptionPolicy == nil || *pod.Spec.PreemptionPolicy != api.PreemptNever
}

// waitingForVictims reports whether the pod was nominated to a node where
// lower-priority pods are still terminating (its earlier victims): it
// should wait for them rather than evict more, as in Kubernetes.
func waitingForVictims(pod *api.Pod, snap nodeinfo.Lister) bool {
	name := pod.Status.NominatedNodeName
	if name == "" {
		return false
	}
	n, ok := snap.Get(name)
	if !ok {
		return false
	}
	prio := api.PodPriority(pod)
	for _, pi := range n.Pods {
		if pi.Pod.DeletionTimestamp != nil && pi.Priority < prio {
			return true
		}
	}
	return false
}

// candidateNodes are the nodes rejected with code Unschedulable, by name.
func candidateNodes(fitErr *framework.FitError, snap nodeinfo.Lister) []*nodeinfo.NodeInfo {
	var out []*nodeinfo.NodeInfo
	for name, st := range fitErr.Statuses {
		if st.Code() != framework.Unschedulable {
			continue
		}
		if n, ok := snap.Get(name); ok {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b *nodeinfo.NodeInfo) int { return cmp.Compare(a.Name, b.Name) })
	return out
}

func numCandidates(n int, opts Options) int {
	minC, pct := opts.MinCandidates, opts.CandidatePercent
	if minC <= 0 {
		minC = 100
	}
	if pct <= 0 {
		pct = 10
	}
	return min(n, max(minC, n*pct/100))
}

// extensions are the pre-filter plugins whose state follows placed pods.
func extensions(fw *Framework) []plugins.PreFilterExtensions {
	var out []plugins.PreFilterExtensions
	for _, pl := range fw.Profile().PreFilters {
		if ext, ok := pl.(plugins.PreFilterExtensions); ok {
			out = append(out, ext)
		}
	}
	return out
}

// choice is one node where preemption works, and its cost.
type choice struct {
	node    string
	victims []*nodeinfo.PodInfo
	highest int64 // highest victim priority (MinInt64 with no victims)
	sum     int64 // sum of victim priorities, each offset to be >= 0
}

// compare orders choices by disturbance: negative when c disturbs less
// than o (a nil o disturbs most).
func (c *choice) compare(o *choice) int {
	if o == nil {
		return -1
	}
	if r := cmp.Compare(c.highest, o.highest); r != 0 {
		return r
	}
	if r := cmp.Compare(c.sum, o.sum); r != 0 {
		return r
	}
	return cmp.Compare(len(c.victims), len(o.victims))
}

func newChoice(node string, victims []*nodeinfo.PodInfo) *choice {
	c := &choice{node: node, victims: victims, highest: math.MinInt64}
	for _, v := range victims {
		c.highest = max(c.highest, int64(v.Priority))
		c.sum += int64(v.Priority) - math.MinInt32
	}
	return c
}
