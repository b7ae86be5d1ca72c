package api

import (
	"strings"
	"testing"
	"time"
)

func validHPA() *HorizontalPodAutoscaler {
	h := &HorizontalPodAutoscaler{
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"},
		Spec: HorizontalPodAutoscalerSpec{
			ScaleTargetRef: CrossVersionObjectReference{Kind: KindDeployment, Name: "web"},
			MaxReplicas:    10,
		},
	}
	DefaultHorizontalPodAutoscaler(h)
	return h
}

func TestDefaultHorizontalPodAutoscaler(t *testing.T) {
	h := validHPA()
	if h.MinReplicasOrDefault() != 1 || h.CPUTargetUtilization() != 80 || h.ScaleDownWindow() != 5*time.Minute || h.ScaleUpWindow() != 0 {
		t.Errorf("defaults: min=%d target=%d down=%v up=%v", h.MinReplicasOrDefault(), h.CPUTargetUtilization(), h.ScaleDownWindow(), h.ScaleUpWindow())
	}
	if h.Spec.ScaleTargetRef.APIVersion != APIVersionApps {
		t.Errorf("apiVersion defaulted to %q", h.Spec.ScaleTargetRef.APIVersion)
	}
	m := h.Spec.Metrics
	if len(m) != 1 || m[0].Type != ResourceMetricSourceType || m[0].Resource.Name != ResourceCPU || m[0].Resource.Target.Type != UtilizationMetricType {
		t.Errorf("metrics defaulted to %+v", m)
	}
	// A given cpu metric keeps its target; a missing utilization is filled.
	h = &HorizontalPodAutoscaler{Spec: HorizontalPodAutoscalerSpec{Metrics: []MetricSpec{{Resource: &ResourceMetricSource{Name: ResourceCPU}}}}}
	DefaultHorizontalPodAutoscaler(h)
	if h.CPUTargetUtilization() != 80 || h.Spec.Metrics[0].Type != ResourceMetricSourceType {
		t.Errorf("partial metric defaulted to %+v", h.Spec.Metrics[0])
	}
	if errs := ValidateHorizontalPodAutoscaler(validHPA()); len(errs) != 0 {
		t.Errorf("valid autoscaler rejected: %v", errs)
	}
}

func TestValidateHorizontalPodAutoscaler(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	for _, tc := range []struct {
		name   string
		mutate func(h *HorizontalPodAutoscaler)
		field  string
		detail string
	}{
		{"no target kind", func(h *HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Kind = "" }, "spec.scaleTargetRef.kind", "Deployment or ReplicaSet"},
		{"bad target kind", func(h *HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Kind = "Job" }, "spec.scaleTargetRef.kind", `"Deployment", "ReplicaSet"`},
		{"bad apiVersion", func(h *HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.APIVersion = "batch/v1" }, "spec.scaleTargetRef.apiVersion", `"apps/v1"`},
		{"no target name", func(h *HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "" }, "spec.scaleTargetRef.name", "name"},
		{"bad target name", func(h *HorizontalPodAutoscaler) { h.Spec.ScaleTargetRef.Name = "Web_1" }, "spec.scaleTargetRef.name", "lower case"},
		{"min 0", func(h *HorizontalPodAutoscaler) { h.Spec.MinReplicas = i32(0) }, "spec.minReplicas", "greater than or equal to 1"},
		{"max 0", func(h *HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 }, "spec.maxReplicas", "greater than or equal to 1"},
		{"max below min", func(h *HorizontalPodAutoscaler) { h.Spec.MinReplicas = i32(5); h.Spec.MaxReplicas = 3 }, "spec.maxReplicas", "minReplicas"},
		{"memory metric", func(h *HorizontalPodAutoscaler) { h.Spec.Metrics[0].Resource.Name = ResourceMemory }, "spec.metrics[0].resource.name", `"cpu"`},
		{"pods metric", func(h *HorizontalPodAutoscaler) { h.Spec.Metrics[0].Type = "Pods" }, "spec.metrics[0].type", `"Resource"`},
		{"no resource", func(h *HorizontalPodAutoscaler) { h.Spec.Metrics[0].Resource = nil }, "spec.metrics[0].resource", "resource"},
		{"value target", func(h *HorizontalPodAutoscaler) { h.Spec.Metrics[0].Resource.Target.Type = "AverageValue" }, "spec.metrics[0].resource.target.type", `"Utilization"`},
		{"zero utilization", func(h *HorizontalPodAutoscaler) { h.Spec.Metrics[0].Resource.Target.AverageUtilization = i32(0) }, "spec.metrics[0].resource.target.averageUtilization", "greater than 0"},
		{"two metrics", func(h *HorizontalPodAutoscaler) { h.Spec.Metrics = append(h.Spec.Metrics, h.Spec.Metrics[0]) }, "spec.metrics", "only one"},
		{"window too long", func(h *HorizontalPodAutoscaler) { h.Spec.Behavior.ScaleDown.StabilizationWindowSeconds = i32(3601) }, "spec.behavior.scaleDown.stabilizationWindowSeconds", "between 0 and 3600"},
		{"negative up window", func(h *HorizontalPodAutoscaler) {
			h.Spec.Behavior.ScaleUp = &HPAScalingRules{StabilizationWindowSeconds: i32(-1)}
		}, "spec.behavior.scaleUp.stabilizationWindowSeconds", "between 0 and 3600"},
		{"negative status", func(h *HorizontalPodAutoscaler) { h.Status.DesiredReplicas = -1 }, "status.desiredReplicas", "greater than or equal to 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := validHPA()
			tc.mutate(h)
			errs := ValidateHorizontalPodAutoscaler(h)
			for _, e := range errs {
				if e.Field == tc.field && strings.Contains(e.Error(), tc.detail) {
					return
				}
			}
			t.Errorf("errors %v, want one on %s mentioning %q", errs, tc.field, tc.detail)
		})
	}
}

func TestSetHPAConditionKeepsTransitionTime(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var s HorizontalPodAutoscalerStatus
	SetHPACondition(&s, AbleToScale, ConditionTrue, "SucceededRescale", "", t0)
	SetHPACondition(&s, AbleToScale, ConditionTrue, "ReadyForNewScale", "", t0.Add(time.Minute))
	if len(s.Conditions) != 1 || !s.Conditions[0].LastTransitionTime.Time.Equal(t0) || s.Conditions[0].Reason != "ReadyForNewScale" {
		t.Errorf("same status: %+v", s.Conditions)
	}
	SetHPACondition(&s, AbleToScale, ConditionFalse, "FailedGetScale", "", t0.Add(2*time.Minute))
	if !s.Conditions[0].LastTransitionTime.Time.Equal(t0.Add(2 * time.Minute)) {
		t.Errorf("changed status kept the old transition time: %+v", s.Conditions)
	}
}
