package api

import "time"

// The autoscaling group holds the workload autoscaler: a
// HorizontalPodAutoscaler keeps the replicas of a Deployment or ReplicaSet
// at the number that brings its pods' average CPU utilization (usage over
// requests) to a target, as Kubernetes' autoscaling/v2.
const (
	GroupAutoscaling            = "autoscaling"
	VersionAutoscaling          = "v2"
	APIVersionAutoscaling       = GroupAutoscaling + "/" + VersionAutoscaling
	KindHorizontalPodAutoscaler = "HorizontalPodAutoscaler"
)

// Defaults of a HorizontalPodAutoscaler, as in Kubernetes.
const (
	DefaultHPAMinReplicas                    = 1
	DefaultHPACPUUtilization                 = 80
	DefaultHPAScaleDownStabilizationSeconds  = 300
	MaxHPAStabilizationWindowSeconds         = 3600
	DefaultHPAScaleUpStabilizationWindowSecs = 0
)

// HorizontalPodAutoscaler scales the target of ScaleTargetRef between
// MinReplicas and MaxReplicas to keep the average CPU utilization of its
// ready pods near the target of Metrics.
type HorizontalPodAutoscaler struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       HorizontalPodAutoscalerSpec   `json:"spec"`
	Status     HorizontalPodAutoscalerStatus `json:"status,omitzero"`
}

// HorizontalPodAutoscalerSpec declares what to scale, within which bounds,
// on which metric.
type HorizontalPodAutoscalerSpec struct {
	// ScaleTargetRef names the Deployment or ReplicaSet (apps/v1) to scale,
	// in the autoscaler's namespace.
	ScaleTargetRef CrossVersionObjectReference `json:"scaleTargetRef"`
	// MinReplicas is the fewest replicas the autoscaler sets (default 1).
	MinReplicas *int32 `json:"minReplicas,omitempty"`
	// MaxReplicas is the most replicas the autoscaler sets.
	MaxReplicas int32 `json:"maxReplicas"`
	// Metrics is the metric to track: one Resource metric on cpu with a
	// Utilization target (default: 80% of the requests).
	Metrics []MetricSpec `json:"metrics,omitempty"`
	// Behavior tunes scaling up and down.
	Behavior *HorizontalPodAutoscalerBehavior `json:"behavior,omitempty"`
}

// CrossVersionObjectReference names an object of a kind in the same
// namespace.
type CrossVersionObjectReference struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind"`
	Name       string `json:"name"`
}

// MetricSourceType is the kind of a metric; only Resource is served.
type MetricSourceType string

// ResourceMetricSourceType is a resource (cpu) of the target's pods, as a
// share of their requests.
const ResourceMetricSourceType MetricSourceType = "Resource"

// MetricTargetType is the kind of a metric target; only Utilization is
// served.
type MetricTargetType string

// UtilizationMetricType is a percentage of the pods' requests.
const UtilizationMetricType MetricTargetType = "Utilization"

// MetricSpec is one metric the autoscaler tracks.
type MetricSpec struct {
	Type     MetricSourceType      `json:"type"`
	Resource *ResourceMetricSource `json:"resource,omitempty"`
}

// ResourceMetricSource is a resource of the pods (cpu) and its target.
type ResourceMetricSource struct {
	Name   string       `json:"name"`
	Target MetricTarget `json:"target"`
}

// MetricTarget is the value a metric should have.
type MetricTarget struct {
	Type MetricTargetType `json:"type"`
	// AverageUtilization is the target percentage of the requests, averaged
	// over the pods (default 80).
	AverageUtilization *int32 `json:"averageUtilization,omitempty"`
}

// HorizontalPodAutoscalerBehavior tunes each direction of scaling.
type HorizontalPodAutoscalerBehavior struct {
	ScaleUp   *HPAScalingRules `json:"scaleUp,omitempty"`
	ScaleDown *HPAScalingRules `json:"scaleDown,omitempty"`
}

// HPAScalingRules tune one direction of scaling.
type HPAScalingRules struct {
	// StabilizationWindowSeconds: the autoscaler acts on the most
	// conservative recommendation of this window (the highest when scaling
	// down, the lowest when scaling up). Defaults: 300 down, 0 up.
	StabilizationWindowSeconds *int32 `json:"stabilizationWindowSeconds,omitempty"`
}

// HorizontalPodAutoscalerStatus is what the autoscaler last observed and
// did, written by the controller.
type HorizontalPodAutoscalerStatus struct {
	// ObservedGeneration is the generation of the spec last acted on.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// LastScaleTime is when the autoscaler last changed the replicas.
	LastScaleTime *Time `json:"lastScaleTime,omitempty"`
	// CurrentReplicas is the target's replicas when last observed.
	CurrentReplicas int32 `json:"currentReplicas"`
	// DesiredReplicas is the replicas the autoscaler last computed.
	DesiredReplicas int32 `json:"desiredReplicas"`
	// CurrentMetrics is the last reading of each metric.
	CurrentMetrics []MetricStatus                     `json:"currentMetrics,omitempty"`
	Conditions     []HorizontalPodAutoscalerCondition `json:"conditions,omitempty"`
}

// MetricStatus is the last reading of one metric.
type MetricStatus struct {
	Type     MetricSourceType      `json:"type"`
	Resource *ResourceMetricStatus `json:"resource,omitempty"`
}

// ResourceMetricStatus is the last reading of a resource metric.
type ResourceMetricStatus struct {
	Name    string            `json:"name"`
	Current MetricValueStatus `json:"current"`
}

// MetricValueStatus is a metric's value: the average utilization (percent
// of requests) and the average usage per pod.
type MetricValueStatus struct {
	AverageUtilization *int32    `json:"averageUtilization,omitempty"`
	AverageValue       *Quantity `json:"averageValue,omitempty"`
}

// HorizontalPodAutoscalerConditionType names a condition of an autoscaler.
type HorizontalPodAutoscalerConditionType string

// Conditions of an autoscaler, as in Kubernetes.
const (
	// AbleToScale: the target could be read and its scale written.
	AbleToScale HorizontalPodAutoscalerConditionType = "AbleToScale"
	// ScalingActive: the metric could be computed, so the autoscaler
	// computes a scale.
	ScalingActive HorizontalPodAutoscalerConditionType = "ScalingActive"
	// ScalingLimited: the computed scale was clamped to min or max.
	ScalingLimited HorizontalPodAutoscalerConditionType = "ScalingLimited"
)

// HorizontalPodAutoscalerCondition is one condition of an autoscaler.
type HorizontalPodAutoscalerCondition struct {
	Type               HorizontalPodAutoscalerConditionType `json:"type"`
	Status             ConditionStatus                      `json:"status"`
	LastTransitionTime Time                                 `json:"lastTransitionTime,omitzero"`
	Reason             string                               `json:"reason,omitempty"`
	Message            string                               `json:"message,omitempty"`
}

// HorizontalPodAutoscalerList is a list of autoscalers.
type HorizontalPodAutoscalerList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta                  `json:"metadata"`
	Items    []HorizontalPodAutoscaler `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *HorizontalPodAutoscalerList) GetListMeta() *ListMeta { return &l.Metadata }

// CPUTargetUtilization is the target percentage of the autoscaler's cpu
// metric (the default when none is set).
func (h *HorizontalPodAutoscaler) CPUTargetUtilization() int32 {
	for _, m := range h.Spec.Metrics {
		if m.Resource != nil && m.Resource.Name == ResourceCPU && m.Resource.Target.AverageUtilization != nil {
			return *m.Resource.Target.AverageUtilization
		}
	}
	return DefaultHPACPUUtilization
}

// CurrentCPUUtilization is the last observed average cpu utilization, if
// any.
func (h *HorizontalPodAutoscaler) CurrentCPUUtilization() (int32, bool) {
	for _, m := range h.Status.CurrentMetrics {
		if m.Resource != nil && m.Resource.Name == ResourceCPU && m.Resource.Current.AverageUtilization != nil {
			return *m.Resource.Current.AverageUtilization, true
		}
	}
	return 0, false
}

// MinReplicasOrDefault is spec.minReplicas, or 1 when unset.
func (h *HorizontalPodAutoscaler) MinReplicasOrDefault() int32 {
	if h.Spec.MinReplicas != nil {
		return *h.Spec.MinReplicas
	}
	return DefaultHPAMinReplicas
}

// ScaleDownWindow is the scale-down stabilization window (default 5 min).
func (h *HorizontalPodAutoscaler) ScaleDownWindow() time.Duration {
	if b := h.Spec.Behavior; b != nil && b.ScaleDown != nil && b.ScaleDown.StabilizationWindowSeconds != nil {
		return time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second
	}
	return DefaultHPAScaleDownStabilizationSeconds * time.Second
}

// ScaleUpWindow is the scale-up stabilization window (default 0: act at
// once).
func (h *HorizontalPodAutoscaler) ScaleUpWindow() time.Duration {
	if b := h.Spec.Behavior; b != nil && b.ScaleUp != nil && b.ScaleUp.StabilizationWindowSeconds != nil {
		return time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second
	}
	return DefaultHPAScaleUpStabilizationWindowSecs * time.Second
}

// SetHPACondition sets a condition of s, keeping its transition time while
// its status stays.
func SetHPACondition(s *HorizontalPodAutoscalerStatus, t HorizontalPodAutoscalerConditionType, status ConditionStatus, reason, message string, now time.Time) {
	c := HorizontalPodAutoscalerCondition{Type: t, Status: status, Reason: reason, Message: message, LastTransitionTime: NewTime(now)}
	for i := range s.Conditions {
		if s.Conditions[i].Type != t {
			continue
		}
		if s.Conditions[i].Status == status && !s.Conditions[i].LastTransitionTime.IsZero() {
			c.LastTransitionTime = s.Conditions[i].LastTransitionTime
		}
		s.Conditions[i] = c
		return
	}
	s.Conditions = append(s.Conditions, c)
}
