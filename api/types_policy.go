package api

import (
	"strconv"
	"strings"
	"time"
)

// The policy group holds disruption budgets: how many pods of a workload
// voluntary evictions (a drain) may take down at once.
const (
	GroupPolicy             = "policy"
	VersionPolicy           = "v1"
	APIVersionPolicy        = GroupPolicy + "/" + VersionPolicy
	KindPodDisruptionBudget = "PodDisruptionBudget"
	KindEviction            = "Eviction"
)

// PodDisruptionBudget bounds the voluntary disruption of the pods its
// selector matches: the disruption controller keeps in its status how many
// may go now (minAvailable, or maxUnavailable, against the scale their
// controllers declare), and an eviction (POST pods/NAME/eviction) beyond
// that, or before the status reflects the current spec, is refused with
// 429 Too Many Requests.
type PodDisruptionBudget struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       PodDisruptionBudgetSpec   `json:"spec"`
	Status     PodDisruptionBudgetStatus `json:"status,omitzero"`
}

// PodDisruptionBudgetSpec sets exactly one of MinAvailable and
// MaxUnavailable, each a number or a percentage ("50%") of the matching
// pods.
type PodDisruptionBudgetSpec struct {
	Selector       *LabelSelector `json:"selector,omitempty"`
	MinAvailable   *IntOrString   `json:"minAvailable,omitempty"`
	MaxUnavailable *IntOrString   `json:"maxUnavailable,omitempty"`
}

// PodDisruptionBudgetStatus is the observed state of a budget, written by
// the disruption controller and, for DisruptionsAllowed and DisruptedPods,
// by each eviction it allows (in the transaction that marks the pod
// deleted). An eviction trusts it only once ObservedGeneration has caught
// up with the budget's generation.
type PodDisruptionBudgetStatus struct {
	// ObservedGeneration is the generation of the spec the rest was
	// computed from.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// DisruptedPods are the pods an eviction allowed that the controller
	// has not yet seen terminating, with the time of the eviction. An entry
	// older than DisruptedPodTimeout is dropped (the deletion failed).
	DisruptedPods map[string]Time `json:"disruptedPods,omitempty"`
	// DisruptionsAllowed is how many more pods may be evicted now.
	DisruptionsAllowed int32 `json:"disruptionsAllowed"`
	// CurrentHealthy counts the selected pods that are Ready and not
	// terminating.
	CurrentHealthy int32 `json:"currentHealthy"`
	// DesiredHealthy is the fewest healthy pods the budget allows.
	DesiredHealthy int32 `json:"desiredHealthy"`
	// ExpectedPods is how many pods the budget's pods' owners declare
	// (their spec.replicas), or for bare pods how many exist.
	ExpectedPods int32                          `json:"expectedPods"`
	Conditions   []PodDisruptionBudgetCondition `json:"conditions,omitempty"`
}

// PodDisruptionBudgetConditionType names a condition of a budget.
type PodDisruptionBudgetConditionType string

// DisruptionAllowed is True while DisruptionsAllowed > 0.
const DisruptionAllowed PodDisruptionBudgetConditionType = "DisruptionAllowed"

// Reasons of the DisruptionAllowed condition.
const (
	// ReasonSufficientPods: more pods are healthy than the budget needs.
	ReasonSufficientPods = "SufficientPods"
	// ReasonInsufficientPods: no pod may be disrupted now.
	ReasonInsufficientPods = "InsufficientPods"
	// ReasonSyncFailed: the controller could not compute the status (a
	// percentage with owners that declare no scale).
	ReasonSyncFailed = "SyncFailed"
)

// DisruptedPodTimeout is how long an entry of DisruptedPods counts against
// the budget while its pod is not seen terminating.
const DisruptedPodTimeout = 2 * time.Minute

// PodDisruptionBudgetCondition is one condition of a budget.
type PodDisruptionBudgetCondition struct {
	Type               PodDisruptionBudgetConditionType `json:"type"`
	Status             ConditionStatus                  `json:"status"`
	LastTransitionTime Time                             `json:"lastTransitionTime,omitzero"`
	Reason             string                           `json:"reason,omitempty"`
	Message            string                           `json:"message,omitempty"`
}

// PodDisruptionBudgetList is a list of disruption budgets.
type PodDisruptionBudgetList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta              `json:"metadata"`
	Items    []PodDisruptionBudget `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *PodDisruptionBudgetList) GetListMeta() *ListMeta { return &l.Metadata }

// Eviction is the body of POST pods/NAME/eviction: delete the pod unless a
// disruption budget forbids it.
type Eviction struct {
	TypeMeta      `json:",inline"`
	ObjectMeta    `json:"metadata"`
	DeleteOptions *EvictionDeleteOptions `json:"deleteOptions,omitempty"`
}

// EvictionDeleteOptions tune the deletion an eviction makes.
type EvictionDeleteOptions struct {
	GracePeriodSeconds *int64 `json:"gracePeriodSeconds,omitempty"`
}

// BudgetValue resolves a disruption budget value v against total: a number as is, a percentage of
// total rounded up (as Kubernetes does for minAvailable and
// maxUnavailable of disruption budgets).
func BudgetValue(v IntOrString, total int) (int, bool) {
	if !v.IsString {
		return int(v.IntVal), true
	}
	p, ok := parseBudgetPercent(v.StrVal)
	if !ok {
		return 0, false
	}
	return (p*total + 99) / 100, true
}

func parseBudgetPercent(s string) (int, bool) {
	n, err := strconv.Atoi(strings.TrimSuffix(s, "%"))
	if !strings.HasSuffix(s, "%") || err != nil || n < 0 || n > 100 {
		return 0, false
	}
	return n, true
}

// ValidatePodDisruptionBudget checks a disruption budget.
func ValidatePodDisruptionBudget(b *PodDisruptionBudget) ErrorList {
	errs := ValidateObjectMeta(&b.ObjectMeta, true, false)
	s := &b.Spec
	sp := fieldPath("spec")
	switch {
	case s.Selector == nil:
		errs = append(errs, required(sp.child("selector"), "pods to protect"))
	default:
		errs = append(errs, ValidateLabelSelector(s.Selector, sp.child("selector").String())...)
	}
	check := func(name string, v *IntOrString) {
		p := sp.child(name)
		switch {
		case v.IsString:
			if _, ok := parseBudgetPercent(v.StrVal); !ok {
				errs = append(errs, invalid(p, v.StrVal, "must be an integer or a percentage between 0% and 100%"))
			}
		case v.IntVal < 0:
			errs = append(errs, invalid(p, v.IntVal, "must be greater than or equal to 0"))
		}
	}
	switch {
	case s.MinAvailable != nil && s.MaxUnavailable != nil:
		errs = append(errs, invalid(sp, "minAvailable and maxUnavailable", "only one of minAvailable and maxUnavailable may be set"))
	case s.MinAvailable != nil:
		check("minAvailable", s.MinAvailable)
	case s.MaxUnavailable != nil:
		check("maxUnavailable", s.MaxUnavailable)
	default:
		errs = append(errs, required(sp.child("minAvailable"), "set minAvailable or maxUnavailable"))
	}
	st := fieldPath("status")
	for _, f := range []struct {
		name string
		v    int64
	}{
		{"observedGeneration", b.Status.ObservedGeneration}, {"disruptionsAllowed", int64(b.Status.DisruptionsAllowed)},
		{"currentHealthy", int64(b.Status.CurrentHealthy)}, {"desiredHealthy", int64(b.Status.DesiredHealthy)},
		{"expectedPods", int64(b.Status.ExpectedPods)},
	} {
		if f.v < 0 {
			errs = append(errs, invalid(st.child(f.name), f.v, "must be greater than or equal to 0"))
		}
	}
	return errs
}

// SetDisruptionAllowedCondition sets the DisruptionAllowed condition of s
// from s.DisruptionsAllowed (or to False with reason and message when
// reason is given), keeping the transition time while the status stays.
func SetDisruptionAllowedCondition(s *PodDisruptionBudgetStatus, reason, message string, now time.Time) {
	c := PodDisruptionBudgetCondition{Type: DisruptionAllowed, Status: ConditionFalse, Reason: reason, Message: message}
	if reason == "" {
		c.Reason = ReasonInsufficientPods
		if s.DisruptionsAllowed > 0 {
			c.Status, c.Reason = ConditionTrue, ReasonSufficientPods
		}
	}
	for i := range s.Conditions {
		if s.Conditions[i].Type != DisruptionAllowed {
			continue
		}
		c.LastTransitionTime = s.Conditions[i].LastTransitionTime
		if s.Conditions[i].Status != c.Status || c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = NewTime(now)
		}
		s.Conditions[i] = c
		return
	}
	c.LastTransitionTime = NewTime(now)
	s.Conditions = append(s.Conditions, c)
}
