package api

// DefaultHorizontalPodAutoscaler fills what Kubernetes fills: minReplicas
// 1, a cpu Utilization metric of 80% when none is given (and the target
// type and utilization of a cpu metric that omits them), the scale-down
// stabilization window (300 s), and apps/v1 as the target's apiVersion.
func DefaultHorizontalPodAutoscaler(h *HorizontalPodAutoscaler) {
	s := &h.Spec
	if s.MinReplicas == nil {
		s.MinReplicas = int32Ptr(DefaultHPAMinReplicas)
	}
	if s.ScaleTargetRef.APIVersion == "" && (s.ScaleTargetRef.Kind == KindDeployment || s.ScaleTargetRef.Kind == KindReplicaSet) {
		s.ScaleTargetRef.APIVersion = APIVersionApps
	}
	if len(s.Metrics) == 0 {
		s.Metrics = []MetricSpec{{Type: ResourceMetricSourceType, Resource: &ResourceMetricSource{Name: ResourceCPU}}}
	}
	for i := range s.Metrics {
		m := &s.Metrics[i]
		if m.Type == "" && m.Resource != nil {
			m.Type = ResourceMetricSourceType
		}
		if m.Resource == nil || m.Resource.Name != ResourceCPU {
			continue
		}
		if m.Resource.Target.Type == "" {
			m.Resource.Target.Type = UtilizationMetricType
		}
		if m.Resource.Target.Type == UtilizationMetricType && m.Resource.Target.AverageUtilization == nil {
			m.Resource.Target.AverageUtilization = int32Ptr(DefaultHPACPUUtilization)
		}
	}
	if s.Behavior == nil {
		s.Behavior = &HorizontalPodAutoscalerBehavior{}
	}
	if s.Behavior.ScaleDown == nil {
		s.Behavior.ScaleDown = &HPAScalingRules{}
	}
	if s.Behavior.ScaleDown.StabilizationWindowSeconds == nil {
		s.Behavior.ScaleDown.StabilizationWindowSeconds = int32Ptr(DefaultHPAScaleDownStabilizationSeconds)
	}
}

// ValidateHorizontalPodAutoscaler checks an autoscaler: a Deployment or
// ReplicaSet of apps/v1 as the target, 1 <= minReplicas <= maxReplicas,
// exactly one metric (cpu, Utilization, above 0%), stabilization windows
// within 0..3600 s, and a status without negative counts.
func ValidateHorizontalPodAutoscaler(h *HorizontalPodAutoscaler) ErrorList {
	errs := ValidateObjectMeta(&h.ObjectMeta, true, false)
	s := &h.Spec
	sp := fieldPath("spec")
	errs = append(errs, validateScaleTargetRef(&s.ScaleTargetRef, sp.child("scaleTargetRef"))...)
	minR := int32(DefaultHPAMinReplicas)
	if s.MinReplicas != nil {
		minR = *s.MinReplicas
		if minR < 1 {
			errs = append(errs, invalid(sp.child("minReplicas"), minR, "must be greater than or equal to 1"))
		}
	}
	switch {
	case s.MaxReplicas < 1:
		errs = append(errs, invalid(sp.child("maxReplicas"), s.MaxReplicas, "must be greater than or equal to 1"))
	case s.MaxReplicas < minR:
		errs = append(errs, invalid(sp.child("maxReplicas"), s.MaxReplicas, "must be greater than or equal to minReplicas"))
	}
	mp := sp.child("metrics")
	if len(s.Metrics) > 1 {
		errs = append(errs, invalid(mp, len(s.Metrics), "only one metric (cpu) is supported"))
	}
	for i := range s.Metrics {
		errs = append(errs, validateMetricSpec(&s.Metrics[i], mp.index(i))...)
	}
	if b := s.Behavior; b != nil {
		bp := sp.child("behavior")
		for _, r := range []struct {
			name  string
			rules *HPAScalingRules
		}{{"scaleUp", b.ScaleUp}, {"scaleDown", b.ScaleDown}} {
			if r.rules == nil || r.rules.StabilizationWindowSeconds == nil {
				continue
			}
			if w := *r.rules.StabilizationWindowSeconds; w < 0 || w > MaxHPAStabilizationWindowSeconds {
				errs = append(errs, invalid(bp.child(r.name).child("stabilizationWindowSeconds"), w, "must be between 0 and 3600"))
			}
		}
	}
	st := fieldPath("status")
	errs = append(errs, validateNonNegative(st.child("observedGeneration"), h.Status.ObservedGeneration)...)
	errs = append(errs, validateNonNegative(st.child("currentReplicas"), h.Status.CurrentReplicas)...)
	errs = append(errs, validateNonNegative(st.child("desiredReplicas"), h.Status.DesiredReplicas)...)
	return errs
}

func validateScaleTargetRef(r *CrossVersionObjectReference, p fieldPath) ErrorList {
	var errs ErrorList
	switch {
	case r.Kind == "":
		errs = append(errs, required(p.child("kind"), "Deployment or ReplicaSet"))
	case r.Kind != KindDeployment && r.Kind != KindReplicaSet:
		errs = append(errs, notSupported(p.child("kind"), r.Kind, KindDeployment, KindReplicaSet))
	}
	if r.APIVersion != APIVersionApps {
		errs = append(errs, notSupported(p.child("apiVersion"), r.APIVersion, APIVersionApps))
	}
	if r.Name == "" {
		errs = append(errs, required(p.child("name"), "the name of the object to scale"))
	} else {
		errs = append(errs, each(p.child("name"), r.Name, IsDNS1123Subdomain(r.Name))...)
	}
	return errs
}

func validateMetricSpec(m *MetricSpec, p fieldPath) ErrorList {
	if m.Type != ResourceMetricSourceType {
		return ErrorList{notSupported(p.child("type"), m.Type, ResourceMetricSourceType)}
	}
	if m.Resource == nil {
		return ErrorList{required(p.child("resource"), "a resource metric needs its resource")}
	}
	rp := p.child("resource")
	var errs ErrorList
	if m.Resource.Name != ResourceCPU {
		errs = append(errs, notSupported(rp.child("name"), m.Resource.Name, ResourceCPU))
	}
	tp := rp.child("target")
	t := &m.Resource.Target
	switch {
	case t.Type != UtilizationMetricType:
		errs = append(errs, notSupported(tp.child("type"), t.Type, UtilizationMetricType))
	case t.AverageUtilization == nil:
		errs = append(errs, required(tp.child("averageUtilization"), "a Utilization target needs a percentage"))
	case *t.AverageUtilization < 1:
		errs = append(errs, invalid(tp.child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
	}
	return errs
}
