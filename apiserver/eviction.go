package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// evict serves POST pods/NAME/eviction: it deletes the pod unless a
// PodDisruptionBudget of the namespace selecting it allows no disruption
// now, which it answers with 429 Too Many Requests. A pod that is
// finished, already terminating or not ready counts for no budget and
// goes at once.
//
// The budget's status, kept by the disruption controller, says how many
// pods may go (disruptionsAllowed). An allowed eviction charges each budget
// of the pod (one disruption fewer, the pod listed in disruptedPods) in
// the same etcd transaction that marks the pod deleted, under a
// compare-and-swap on the revisions of the pod and of every budget read:
// two evictions through any number of API servers cannot both spend the
// last allowed disruption, the loser retries and reads none left.
func (s *Server) evict(w http.ResponseWriter, r *http.Request, q *request) error {
	grace, err := s.readEviction(w, r, q)
	if err != nil {
		return err
	}
	ctx := r.Context()
	key := storeKey(q.kind, q.ns, q.name)
	for attempt := 0; ; attempt++ {
		var pod api.Pod
		if err := s.store.Get(ctx, key, &pod); err != nil {
			return err
		}
		if !podHealthy(&pod) {
			return s.deleteObject(w, r, q, grace, "", nil)
		}
		budgets, err := s.chargeBudgets(ctx, &pod, time.Now())
		if err != nil {
			return err
		}
		if len(budgets) == 0 {
			return s.deleteObject(w, r, q, grace, "", nil)
		}
		podRev, _ := api.ParseResourceVersion(pod.ResourceVersion)
		write := store.Write{Key: key, Obj: &pod, Rev: podRev}
		if len(pod.Finalizers) > 0 || awaitsTermination(&pod) && (grace == nil || *grace > 0) {
			setDeletionMark(&pod, grace, "", time.Now())
		} else {
			write.Delete = true
		}
		writes := []store.Write{write}
		for _, b := range budgets {
			rev, _ := api.ParseResourceVersion(b.ResourceVersion)
			writes = append(writes, store.Write{Key: storeKey(s.budgetKind(), b.Namespace, b.Name), Obj: b, Rev: rev})
		}
		err = s.store.Commit(ctx, writes)
		if errors.Is(err, store.ErrConflict) {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
			continue // the pod or a budget changed: decide again on the new state
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, &pod)
		return nil
	}
}

// readEviction decodes and checks the Eviction body; it returns the grace
// period it asks for, if any.
func (s *Server) readEviction(w http.ResponseWriter, r *http.Request, q *request) (*int64, error) {
	data, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	var e api.Eviction
	if err := s.scheme.DecodeInto(data, &e); err != nil {
		return nil, err
	}
	if (e.Kind != "" && e.Kind != api.KindEviction) || (e.APIVersion != "" && e.APIVersion != api.APIVersionPolicy) {
		return nil, errBadRequest("the body is a %s %s but a policy/v1 Eviction is expected", e.APIVersion, e.Kind)
	}
	if e.Name != "" && e.Name != q.name {
		return nil, errBadRequest("the name of the eviction (%s) does not match the name of the pod in the URL (%s)", e.Name, q.name)
	}
	if e.Namespace != "" && e.Namespace != q.ns {
		return nil, errBadRequest("the namespace of the eviction (%s) does not match the namespace of the request (%s)", e.Namespace, q.ns)
	}
	if e.DeleteOptions != nil && e.DeleteOptions.GracePeriodSeconds != nil {
		if *e.DeleteOptions.GracePeriodSeconds < 0 {
			return nil, errBadRequest("deleteOptions.gracePeriodSeconds: must be a non-negative integer")
		}
		return e.DeleteOptions.GracePeriodSeconds, nil
	}
	return nil, nil
}

func (s *Server) budgetKind() *api.KindInfo {
	k, _ := s.scheme.ByKind(api.APIVersionPolicy, api.KindPodDisruptionBudget)
	return k
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

// chargeBudgets reads the budgets of the pod's namespace that select it
// and returns them charged with its eviction at now: one disruption
// fewer, the pod in disruptedPods. It answers 429 if one of them allows
// no disruption or has a status the controller has not yet computed for
// its current spec.
func (s *Server) chargeBudgets(ctx context.Context, pod *api.Pod, now time.Time) ([]*api.PodDisruptionBudget, error) {
	bk := s.budgetKind()
	objs, _, err := s.store.List(ctx, storePrefix(bk, pod.Namespace), bk.New, func(o api.Object) bool {
		b := o.(*api.PodDisruptionBudget)
		return b.Spec.Selector != nil && b.Spec.Selector.Matches(pod.Labels)
	})
	if err != nil {
		return nil, err
	}
	budgets := make([]*api.PodDisruptionBudget, 0, len(objs))
	for _, o := range objs {
		b := o.(*api.PodDisruptionBudget)
		st := &b.Status
		if st.ObservedGeneration < b.Generation {
			return nil, newStatus(http.StatusTooManyRequests, api.StatusReasonTooManyRequests,
				fmt.Sprintf("Cannot evict pod as it would violate the pod's disruption budget %s: the disruption controller has not yet processed its generation %d (observed %d)",
					b.Name, b.Generation, st.ObservedGeneration))
		}
		if st.DisruptionsAllowed <= 0 {
			return nil, newStatus(http.StatusTooManyRequests, api.StatusReasonTooManyRequests,
				fmt.Sprintf("Cannot evict pod as it would violate the pod's disruption budget %s: needs %d healthy, has %d",
					b.Name, st.DesiredHealthy, st.CurrentHealthy))
		}
		st.DisruptionsAllowed--
		if st.DisruptedPods == nil {
			st.DisruptedPods = map[string]api.Time{}
		}
		st.DisruptedPods[pod.Name] = api.NewTime(now)
		if st.DisruptionsAllowed == 0 {
			api.SetDisruptionAllowedCondition(st, "", "", now)
		}
		budgets = append(budgets, b)
	}
	return budgets, nil
}
