package api

import (
	"strconv"
	"strings"
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
// selector matches: an eviction (POST pods/NAME/eviction) that would leave
// fewer than minAvailable of them ready, or more than maxUnavailable not
// ready, is refused with 429 Too Many Requests.
type PodDisruptionBudget struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       PodDisruptionBudgetSpec `json:"spec"`
}

// PodDisruptionBudgetSpec sets exactly one of MinAvailable and
// MaxUnavailable, each a number or a percentage ("50%") of the matching
// pods.
type PodDisruptionBudgetSpec struct {
	Selector       *LabelSelector `json:"selector,omitempty"`
	MinAvailable   *IntOrString   `json:"minAvailable,omitempty"`
	MaxUnavailable *IntOrString   `json:"maxUnavailable,omitempty"`
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
	return errs
}
