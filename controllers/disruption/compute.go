// Package disruption is the disruption controller: it keeps the status of
// each PodDisruptionBudget (how many of its pods are expected, healthy and
// needed, and how many may be evicted now), which the API server's
// eviction subresource reads and charges.
package disruption

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/controllers"
)

// Scale is the declared size of a pod's controller: the owner whose
// spec.replicas counts (a Deployment for the pods of its ReplicaSets),
// named "Kind/name" so pods of one owner count it once.
type Scale struct {
	Owner    string
	Replicas int32
}

// ScaleFunc finds the Scale of a pod's controller; ok is false when the
// pod has no controller or one that declares no scale (a Job, a DaemonSet).
type ScaleFunc func(pod *api.Pod) (s Scale, ok bool)

// Compute is the status of budget b over pods (those its selector
// matches, finished ones included) at now. The error says why the budget
// cannot be evaluated: maxUnavailable and percentages need every pod to
// have a controller that declares its scale; the returned status then
// allows no disruption, with a False condition saying why.
//
// As Kubernetes' disruption controller: expectedPods sums the declared
// replicas of the pods' controllers (each counted once) and, with
// minAvailable as a count, the pods without one; currentHealthy counts the
// Ready pods not terminating; desiredHealthy is minAvailable (a
// percentage of expectedPods rounded up) or expectedPods less
// maxUnavailable (likewise rounded up); an entry of disruptedPods stays,
// and counts against disruptionsAllowed, until its pod is seen terminating
// or gone or api.DisruptedPodTimeout passes.
func Compute(b *api.PodDisruptionBudget, pods []*api.Pod, scaleOf ScaleFunc, now time.Time) (api.PodDisruptionBudgetStatus, error) {
	st := api.PodDisruptionBudgetStatus{ObservedGeneration: b.Generation, Conditions: cloneConditions(b.Status.Conditions)}
	byName := make(map[string]*api.Pod, len(pods))
	for _, p := range pods {
		byName[p.Name] = p
	}
	for name, at := range b.Status.DisruptedPods {
		p, ok := byName[name]
		if !ok || p.DeletionTimestamp != nil || !at.Add(api.DisruptedPodTimeout).After(now) {
			continue // gone, terminating, or the deletion never came
		}
		if st.DisruptedPods == nil {
			st.DisruptedPods = map[string]api.Time{}
		}
		st.DisruptedPods[name] = at
	}
	expected, err := expectedPods(b, pods, scaleOf)
	if err != nil {
		api.SetDisruptionAllowedCondition(&st, api.ReasonSyncFailed, err.Error(), now)
		return st, err
	}
	st.ExpectedPods = expected
	for _, p := range pods {
		if controllers.IsPodActive(p) && controllers.IsPodReady(p) {
			st.CurrentHealthy++
		}
	}
	switch {
	case b.Spec.MinAvailable != nil:
		v, _ := api.BudgetValue(*b.Spec.MinAvailable, int(expected))
		st.DesiredHealthy = int32(v)
	case b.Spec.MaxUnavailable != nil:
		v, _ := api.BudgetValue(*b.Spec.MaxUnavailable, int(expected))
		st.DesiredHealthy = max(0, expected-int32(v))
	}
	pending := int32(0)
	for name := range st.DisruptedPods {
		if p := byName[name]; controllers.IsPodActive(p) && controllers.IsPodReady(p) {
			pending++ // evicted but still counted healthy above
		}
	}
	st.DisruptionsAllowed = max(0, st.CurrentHealthy-st.DesiredHealthy-pending)
	api.SetDisruptionAllowedCondition(&st, "", "", now)
	return st, nil
}

// expectedPods is how many pods budget b expects: the declared replicas of
// the pods' controllers, each once, and for pods without a scale (allowed
// only with minAvailable as a count) one each.
func expectedPods(b *api.PodDisruptionBudget, pods []*api.Pod, scaleOf ScaleFunc) (int32, error) {
	needScale := b.Spec.MaxUnavailable != nil || (b.Spec.MinAvailable != nil && b.Spec.MinAvailable.IsString)
	seen := map[string]bool{}
	var expected int32
	var unscaled []string
	for _, p := range pods {
		s, ok := scaleOf(p)
		if !ok {
			if controllers.IsPodActive(p) {
				expected++
				unscaled = append(unscaled, p.Name)
			}
			continue
		}
		if !seen[s.Owner] {
			seen[s.Owner] = true
			expected += s.Replicas
		}
	}
	if needScale && len(unscaled) > 0 {
		sort.Strings(unscaled)
		return 0, fmt.Errorf("pods %s have no controller that declares a scale (spec.replicas): maxUnavailable and percentages need one", strings.Join(unscaled, ", "))
	}
	return expected, nil
}

func cloneConditions(in []api.PodDisruptionBudgetCondition) []api.PodDisruptionBudgetCondition {
	if len(in) == 0 {
		return nil
	}
	return append([]api.PodDisruptionBudgetCondition(nil), in...)
}
