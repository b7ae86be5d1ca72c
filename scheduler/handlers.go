package scheduler

import (
	"maps"
	"slices"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// PodHandler feeds pod watch events to the cache (bound pods) and the
// queue (pending pods of this scheduler).
func (s *Scheduler) PodHandler() client.Handler {
	return client.Handler{
		OnAdd:    func(o api.Object) { s.onPod(o.(*api.Pod)) },
		OnUpdate: func(_, o api.Object) { s.onPod(o.(*api.Pod)) },
		OnDelete: func(o api.Object) { s.onPodDelete(o.(*api.Pod)) },
	}
}

// NodeHandler feeds node watch events to the cache, and retries the
// unschedulable pods when a node appears or changes in a way that can make
// room.
func (s *Scheduler) NodeHandler() client.Handler {
	return client.Handler{
		OnAdd: func(o api.Object) {
			s.cache.SetNode(o.(*api.Node))
			s.queue.MoveAll()
		},
		OnUpdate: func(old, o api.Object) {
			n := o.(*api.Node)
			s.cache.SetNode(n)
			if nodeMayFitMore(old.(*api.Node), n) {
				s.queue.MoveAll()
			}
		},
		OnDelete: func(o api.Object) { s.cache.RemoveNode(o.GetObjectMeta().Name) },
	}
}

func (s *Scheduler) onPod(p *api.Pod) {
	key := PodKey(p)
	if p.Spec.NodeName != "" {
		// Bound, by this scheduler or another: it leaves the queue and
		// counts on its node (a terminal pod frees its room).
		s.queue.Delete(key)
		s.report.forget(key)
		s.nominated.remove(key)
		if s.cache.SetPod(p) {
			s.queue.MoveAll()
		}
		return
	}
	if s.responsible(p) {
		s.queue.Add(p)
		s.nominated.observe(p)
	} else {
		s.queue.Delete(key)
		s.nominated.remove(key)
	}
}

func (s *Scheduler) onPodDelete(p *api.Pod) {
	key := PodKey(p)
	s.queue.Delete(key)
	s.report.forget(key)
	s.nominated.remove(key)
	if s.cache.RemovePod(key) {
		s.queue.MoveAll()
	}
}

// responsible reports whether this scheduler is to place an unbound pod.
func (s *Scheduler) responsible(p *api.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
		return false
	}
	name := p.Spec.SchedulerName
	return name == s.cfg.Name || (name == "" && s.cfg.Name == api.DefaultSchedulerName)
}

// nodeMayFitMore reports whether a node's update can let a pod fit that
// did not before: it became Ready or schedulable, its taints or labels
// changed, or its allocatable resources grew. Usage reports and heartbeats
// are not.
func nodeMayFitMore(old, n *api.Node) bool {
	if nodeReady(n) && !nodeReady(old) {
		return true
	}
	if old.Spec.Unschedulable && !n.Spec.Unschedulable {
		return true
	}
	if !slices.EqualFunc(old.Spec.Taints, n.Spec.Taints, func(a, b api.Taint) bool {
		return a.Key == b.Key && a.Value == b.Value && a.Effect == b.Effect
	}) {
		return true
	}
	if !maps.Equal(old.Labels, n.Labels) {
		return true
	}
	oa, na := allocatable(old), allocatable(n)
	for name, q := range na {
		if prev, ok := oa[name]; !ok || q.Cmp(prev) > 0 {
			return true
		}
	}
	return false
}

func allocatable(n *api.Node) api.ResourceList {
	if len(n.Status.Allocatable) > 0 {
		return n.Status.Allocatable
	}
	return n.Status.Capacity
}

func nodeReady(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == api.NodeReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}
