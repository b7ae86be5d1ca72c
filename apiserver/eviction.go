package apiserver

import (
	"fmt"
	"net/http"
	"sync"

	"github.com/cloudmgr/cloud/api"
)

// evictionLocks serializes the evictions of one namespace within this
// server, so that two evictions never both count the same pods as
// available. (Servers sharing an etcd cluster do not share it: with
// several cloudd, a budget may be exceeded by concurrent evictions through
// different servers.)
type evictionLocks struct {
	mu sync.Mutex
	ns map[string]*sync.Mutex
}

func (l *evictionLocks) lock(ns string) func() {
	l.mu.Lock()
	if l.ns == nil {
		l.ns = map[string]*sync.Mutex{}
	}
	m, ok := l.ns[ns]
	if !ok {
		m = &sync.Mutex{}
		l.ns[ns] = m
	}
	l.mu.Unlock()
	m.Lock()
	return m.Unlock
}

// evict serves POST pods/NAME/eviction: it deletes the pod unless a
// PodDisruptionBudget of the namespace selecting it would then be broken,
// which it answers with 429 Too Many Requests. A pod that is finished,
// already terminating or not ready counts for no budget.
func (s *Server) evict(w http.ResponseWriter, r *http.Request, q *request) error {
	data, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var e api.Eviction
	if err := s.scheme.DecodeInto(data, &e); err != nil {
		return err
	}
	if (e.Kind != "" && e.Kind != api.KindEviction) || (e.APIVersion != "" && e.APIVersion != api.APIVersionPolicy) {
		return errBadRequest("the body is a %s %s but a policy/v1 Eviction is expected", e.APIVersion, e.Kind)
	}
	if e.Name != "" && e.Name != q.name {
		return errBadRequest("the name of the eviction (%s) does not match the name of the pod in the URL (%s)", e.Name, q.name)
	}
	if e.Namespace != "" && e.Namespace != q.ns {
		return errBadRequest("the namespace of the eviction (%s) does not match the namespace of the request (%s)", e.Namespace, q.ns)
	}
	var grace *int64
	if e.DeleteOptions != nil && e.DeleteOptions.GracePeriodSeconds != nil {
		if *e.DeleteOptions.GracePeriodSeconds < 0 {
			return errBadRequest("deleteOptions.gracePeriodSeconds: must be a non-negative integer")
		}
		grace = e.DeleteOptions.GracePeriodSeconds
	}
	ctx := r.Context()
	unlock := s.evictions.lock(q.ns)
	defer unlock()
	var pod api.Pod
	if err := s.store.Get(ctx, storeKey(q.kind, q.ns, q.name), &pod); err != nil {
		return err
	}
	if podHealthy(&pod) {
		if err := s.checkBudgets(r, q.ns, &pod); err != nil {
			return err
		}
	}
	return s.deleteObject(w, r, q, grace, "", nil)
}

// podHealthy is whether a pod counts as available for disruption budgets:
// not finished, not terminating, Ready.
func podHealthy(p *api.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// checkBudgets answers 429 if evicting the healthy pod would break a
// budget of namespace ns that selects it. The pods a budget counts are
// those that exist and are not finished (terminating ones count, as
// unavailable); the desired scale of their controllers is not consulted,
// so a pod already gone and not yet replaced counts for nothing.
func (s *Server) checkBudgets(r *http.Request, ns string, pod *api.Pod) error {
	ctx := r.Context()
	bk, _ := s.scheme.ByKind(api.APIVersionPolicy, api.KindPodDisruptionBudget)
	pk, _ := s.scheme.ByKind(api.APIVersionV1, api.KindPod)
	budgets, _, err := s.store.List(ctx, storePrefix(bk, ns), bk.New, func(o api.Object) bool {
		b := o.(*api.PodDisruptionBudget)
		return b.Spec.Selector != nil && b.Spec.Selector.Matches(pod.Labels)
	})
	if err != nil || len(budgets) == 0 {
		return err
	}
	pods, _, err := s.store.List(ctx, storePrefix(pk, ns), pk.New, nil)
	if err != nil {
		return err
	}
	for _, o := range budgets {
		b := o.(*api.PodDisruptionBudget)
		total, healthy := 0, 0
		for _, po := range pods {
			p := po.(*api.Pod)
			if !b.Spec.Selector.Matches(p.Labels) || p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
				continue
			}
			total++
			if podHealthy(p) {
				healthy++
			}
		}
		var desired int
		switch {
		case b.Spec.MinAvailable != nil:
			desired, _ = api.BudgetValue(*b.Spec.MinAvailable, total)
		case b.Spec.MaxUnavailable != nil:
			maxU, _ := api.BudgetValue(*b.Spec.MaxUnavailable, total)
			desired = total - maxU
		}
		if allowed := healthy - desired; allowed < 1 {
			return newStatus(http.StatusTooManyRequests, api.StatusReasonTooManyRequests,
				fmt.Sprintf("Cannot evict pod as it would violate the pod's disruption budget %s: %d of %d pods are available, the budget needs %d",
					b.Name, healthy, total, desired))
		}
	}
	return nil
}
