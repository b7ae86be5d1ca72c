package preempt

import (
	"cmp"
	"context"
	"fmt"
	"slices"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

// simulator runs the pod's filters on clones of nodes and states with pods
// added or removed.
type simulator struct {
	fw   *Framework
	base *framework.CycleState // after the pod's pre-filters
	skip map[string]bool
	pod  *api.Pod
	prio int32
	exts []plugins.PreFilterExtensions
}

// victims finds the fewest, least important lower-priority pods to evict
// from n for the pod to fit; ok is false when evicting them all is not
// enough.
func (s *simulator) victims(ctx context.Context, n *nodeinfo.NodeInfo, nominated []*nodeinfo.PodInfo) (*choice, bool, error) {
	ni := n.Clone()
	st := s.base.Clone()
	if err := s.addNominated(ctx, st, ni, nominated); err != nil {
		return nil, false, err
	}
	var potential []*nodeinfo.PodInfo
	for _, pi := range ni.Pods {
		if pi.Priority < s.prio {
			potential = append(potential, pi)
		}
	}
	for _, pi := range potential {
		if err := s.remove(ctx, st, ni, pi); err != nil {
			return nil, false, err
		}
	}
	fits, err := s.fits(ctx, st, ni)
	if err != nil || !fits {
		return nil, false, err
	}
	// Reprieve the most important first: they are the last evicted.
	slices.SortFunc(potential, moreImportant)
	var victims []*nodeinfo.PodInfo
	for _, pi := range potential {
		if err := s.add(ctx, st, ni, pi); err != nil {
			return nil, false, err
		}
		fits, err := s.fits(ctx, st, ni)
		if err != nil {
			return nil, false, err
		}
		if fits {
			continue
		}
		if err := s.remove(ctx, st, ni, pi); err != nil {
			return nil, false, err
		}
		victims = append(victims, pi)
	}
	slices.Reverse(victims)
	return newChoice(n.Name, victims), true, nil
}

// moreImportant orders pods by priority, highest first, then by start
// time, earliest first.
func moreImportant(a, b *nodeinfo.PodInfo) int {
	if r := cmp.Compare(b.Priority, a.Priority); r != 0 {
		return r
	}
	if r := startTime(a).Compare(startTime(b).Time); r != 0 {
		return r
	}
	return cmp.Compare(a.Key, b.Key)
}

func startTime(pi *nodeinfo.PodInfo) api.Time {
	if t := pi.Pod.Status.StartTime; t != nil {
		return *t
	}
	return pi.Pod.CreationTimestamp
}

func (s *simulator) fits(ctx context.Context, st *framework.CycleState, ni *nodeinfo.NodeInfo) (bool, error) {
	res := s.fw.RunFilters(ctx, st, s.pod, ni, s.skip)
	if res.Code() == framework.Error {
		return false, fmt.Errorf("preempt: filter %s on %s: %w", res.Plugin(), ni.Name, res.Err())
	}
	return res.IsSuccess(), nil
}

func (s *simulator) add(ctx context.Context, st *framework.CycleState, ni *nodeinfo.NodeInfo, pi *nodeinfo.PodInfo) error {
	ni.AddPod(pi)
	for _, ext := range s.exts {
		if res := ext.AddPod(ctx, st, s.pod, pi, ni); res.Code() == framework.Error {
			return fmt.Errorf("preempt: add pod %s: %w", pi.Key, res.Err())
		}
	}
	return nil
}

func (s *simulator) remove(ctx context.Context, st *framework.CycleState, ni *nodeinfo.NodeInfo, pi *nodeinfo.PodInfo) error {
	ni.RemovePod(pi.Key)
	for _, ext := range s.exts {
		if res := ext.RemovePod(ctx, st, s.pod, pi, ni); res.Code() == framework.Error {
			return fmt.Errorf("preempt: remove pod %s: %w", pi.Key, res.Err())
		}
	}
	return nil
}

// addNominated counts on ni (and in st) the pods nominated to it that the
// pod may not take the room of.
func (s *simulator) addNominated(ctx context.Context, st *framework.CycleState, ni *nodeinfo.NodeInfo, nominated []*nodeinfo.PodInfo) error {
	for _, pi := range nominated {
		if !counts(s.pod, s.prio, ni, pi) {
			continue
		}
		if err := s.add(ctx, st, ni, pi); err != nil {
			return err
		}
	}
	return nil
}

// counts reports whether a pod nominated to n holds room against pod: its
// priority is at least pod's, it is not pod itself and not already placed.
func counts(pod *api.Pod, prio int32, n *nodeinfo.NodeInfo, nominated *nodeinfo.PodInfo) bool {
	if nominated.Priority < prio || nominated.Pod.UID == pod.UID {
		return false
	}
	_, placed := n.PodKeys[nominated.Key]
	return !placed
}

// AddNominated returns node with the pods nominated to it (waiting for
// their victims to go) of priority at least pod's added, as a clone, so
// that pod cannot take the room they were promised; it returns node itself
// when none applies. The scheduler core substitutes the result for the
// node among the candidates it filters. Only the node is adjusted, not
// pre-filter state: a nominated pod is not yet counted by topology spread.
func AddNominated(node *nodeinfo.NodeInfo, pod *api.Pod, nominated []*nodeinfo.PodInfo) *nodeinfo.NodeInfo {
	prio := api.PodPriority(pod)
	out := node
	for _, pi := range nominated {
		if !counts(pod, prio, out, pi) {
			continue
		}
		if out == node {
			out = node.Clone()
		}
		out.AddPod(pi)
	}
	return out
}
