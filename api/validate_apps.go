package api

import "reflect"

// Defaults of the apps kinds, as in Kubernetes.
const (
	DefaultRevisionHistoryLimit    = 10
	DefaultProgressDeadlineSeconds = 600
	DefaultMaxSurge                = "25%"
	DefaultMaxUnavailable          = "25%"
)

// defaultPodTemplate defaults a template's pod spec as a pod's would be,
// so that the pods created from it equal it.
func defaultPodTemplate(t *PodTemplateSpec) {
	p := Pod{Spec: t.Spec}
	DefaultPod(&p)
	t.Spec = p.Spec
}

func int32Ptr(v int32) *int32 { return &v }

// DefaultReplicaSet defaults replicas to 1 and the template's pod spec.
func DefaultReplicaSet(rs *ReplicaSet) {
	if rs.Spec.Replicas == nil {
		rs.Spec.Replicas = int32Ptr(1)
	}
	defaultPodTemplate(&rs.Spec.Template)
}

// DefaultDeployment defaults replicas (1), the strategy (RollingUpdate with
// 25% surge and 25% unavailable), the history limit (10), the progress
// deadline (600s) and the template's pod spec.
func DefaultDeployment(d *Deployment) {
	s := &d.Spec
	if s.Replicas == nil {
		s.Replicas = int32Ptr(1)
	}
	if s.Strategy.Type == "" {
		s.Strategy.Type = RollingUpdateDeploymentStrategyType
	}
	if s.Strategy.Type == RollingUpdateDeploymentStrategyType {
		if s.Strategy.RollingUpdate == nil {
			s.Strategy.RollingUpdate = &RollingUpdateDeployment{}
		}
		ru := s.Strategy.RollingUpdate
		if ru.MaxSurge == nil {
			v := FromString(DefaultMaxSurge)
			ru.MaxSurge = &v
		}
		if ru.MaxUnavailable == nil {
			v := FromString(DefaultMaxUnavailable)
			ru.MaxUnavailable = &v
		}
	}
	if s.RevisionHistoryLimit == nil {
		s.RevisionHistoryLimit = int32Ptr(DefaultRevisionHistoryLimit)
	}
	if s.ProgressDeadlineSeconds == nil {
		s.ProgressDeadlineSeconds = int32Ptr(DefaultProgressDeadlineSeconds)
	}
	defaultPodTemplate(&s.Template)
}

// validateWorkload checks what ReplicaSets and Deployments share: a
// non-empty, well-formed selector that matches the template's labels,
// replicas >= 0, and a template whose pods restart Always.
func validateWorkload(replicas *int32, minReady int32, sel *LabelSelector, t *PodTemplateSpec) ErrorList {
	p := fieldPath("spec")
	var errs ErrorList
	if replicas != nil {
		errs = append(errs, validateNonNegative(p.child("replicas"), *replicas)...)
	}
	errs = append(errs, validateNonNegative(p.child("minReadySeconds"), minReady)...)
	sp := p.child("selector")
	switch {
	case sel == nil:
		errs = append(errs, required(sp, ""))
	case len(sel.MatchLabels) == 0 && len(sel.MatchExpressions) == 0:
		errs = append(errs, invalid(sp, "{}", "empty selector is invalid for this workload"))
	default:
		serrs := ValidateLabelSelector(sel, sp.String())
		errs = append(errs, serrs...)
		if len(serrs) == 0 && !sel.Matches(t.Labels) {
			errs = append(errs, invalid(p.child("template").child("metadata").child("labels"), t.Labels,
				"`selector` does not match template `labels`"))
		}
	}
	tp := p.child("template")
	errs = append(errs, ValidateLabels(t.Labels, tp.child("metadata").child("labels").String())...)
	errs = append(errs, validateAnnotations(t.Annotations, tp.child("metadata").child("annotations"))...)
	errs = append(errs, validatePodSpec(&t.Spec, tp.child("spec"))...)
	if rp := t.Spec.RestartPolicy; rp != "" && rp != RestartPolicyAlways {
		errs = append(errs, notSupported(tp.child("spec").child("restartPolicy"), rp, RestartPolicyAlways))
	}
	return errs
}

// ValidateReplicaSet checks a ReplicaSet's metadata and spec.
func ValidateReplicaSet(rs *ReplicaSet) ErrorList {
	errs := ValidateObjectMeta(&rs.ObjectMeta, true, false)
	return append(errs, validateWorkload(rs.Spec.Replicas, rs.Spec.MinReadySeconds, rs.Spec.Selector, &rs.Spec.Template)...)
}

// ValidateReplicaSetUpdate also keeps the selector immutable.
func ValidateReplicaSetUpdate(n, o *ReplicaSet) ErrorList {
	errs := ValidateObjectMetaUpdate(&n.ObjectMeta, &o.ObjectMeta)
	if !reflect.DeepEqual(n.Spec.Selector, o.Spec.Selector) {
		errs = append(errs, invalid("spec.selector", n.Spec.Selector, "field is immutable"))
	}
	return errs
}

// ValidateDeployment checks a Deployment's metadata and spec, including its
// strategy: RollingUpdate bounds that are counts or percentages, not both
// 0, and no rollingUpdate with Recreate.
func ValidateDeployment(d *Deployment) ErrorList {
	s := &d.Spec
	errs := ValidateObjectMeta(&d.ObjectMeta, true, false)
	errs = append(errs, validateWorkload(s.Replicas, s.MinReadySeconds, s.Selector, &s.Template)...)
	p := fieldPath("spec")
	if s.RevisionHistoryLimit != nil {
		errs = append(errs, validateNonNegative(p.child("revisionHistoryLimit"), *s.RevisionHistoryLimit)...)
	}
	if pd := s.ProgressDeadlineSeconds; pd != nil {
		if *pd <= 0 {
			errs = append(errs, invalid(p.child("progressDeadlineSeconds"), *pd, "must be greater than 0"))
		} else if *pd <= s.MinReadySeconds {
			errs = append(errs, invalid(p.child("progressDeadlineSeconds"), *pd, "must be greater than minReadySeconds"))
		}
	}
	return append(errs, validateStrategy(&s.Strategy, p.child("strategy"))...)
}

func validateStrategy(st *DeploymentStrategy, p fieldPath) ErrorList {
	switch st.Type {
	case RecreateDeploymentStrategyType:
		if st.RollingUpdate != nil {
			return ErrorList{forbidden(p.child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'")}
		}
		return nil
	case RollingUpdateDeploymentStrategyType, "":
	default:
		return ErrorList{notSupported(p.child("type"), st.Type, RecreateDeploymentStrategyType, RollingUpdateDeploymentStrategyType)}
	}
	ru := st.RollingUpdate
	if ru == nil {
		return nil
	}
	rp := p.child("rollingUpdate")
	var errs ErrorList
	check := func(name string, v *IntOrString) (zero bool) {
		if v == nil {
			return false
		}
		fp := rp.child(name)
		if !v.IsString {
			errs = append(errs, validateNonNegative(fp, v.IntVal)...)
			return v.IntVal == 0
		}
		pct, ok := parsePercent(v.StrVal)
		switch {
		case !ok:
			errs = append(errs, invalid(fp, v.StrVal, "a valid percent string must be a numeric string followed by an ending '%' (e.g. '25%')"))
		case name == "maxUnavailable" && pct > 100:
			errs = append(errs, invalid(fp, v.StrVal, "must not be greater than 100%"))
		}
		return ok && pct == 0
	}
	zs := check("maxSurge", ru.MaxSurge)
	zu := check("maxUnavailable", ru.MaxUnavailable)
	if zs && zu {
		errs = append(errs, invalid(rp.child("maxUnavailable"), ru.MaxUnavailable.String(), "may not be 0 when `maxSurge` is 0"))
	}
	return errs
}

// ValidateDeploymentUpdate also keeps the selector immutable.
func ValidateDeploymentUpdate(n, o *Deployment) ErrorList {
	errs := ValidateObjectMetaUpdate(&n.ObjectMeta, &o.ObjectMeta)
	if !reflect.DeepEqual(n.Spec.Selector, o.Spec.Selector) {
		errs = append(errs, invalid("spec.selector", n.Spec.Selector, "field is immutable"))
	}
	return errs
}
