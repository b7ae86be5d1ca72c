package api

// The node autoscaler's record of its decisions (issue 8): one
// ScaleDecision per decision, and per decision not to act while a trigger
// held, so that "why did it (not) scale?" has an answer.

// KindScaleDecision is the kind of a node autoscaler decision record.
const KindScaleDecision = "ScaleDecision"

// Annotations that keep a pod's node from being scaled down.
const (
	// AnnotationSafeToEvict set to "false" on a pod keeps the node
	// autoscaler from removing its node (the Kubernetes
	// cluster-autoscaler's annotation).
	AnnotationSafeToEvict = "cluster-autoscaler.kubernetes.io/safe-to-evict"
	// AnnotationNoScaleDown set to "true" on a pod does the same (ours).
	AnnotationNoScaleDown = "iaas.cloudmgr.dev/no-scale-down"
)

// ScaleTriggerType is what made the autoscaler look at a pool.
type ScaleTriggerType string

// Triggers.
const (
	// TriggerUtilization: a pool's CPU utilization held at or above the
	// scale-up threshold for the window.
	TriggerUtilization ScaleTriggerType = "Utilization"
	// TriggerPendingPods: pods the scheduler could not place that a pool's
	// node template would fit.
	TriggerPendingPods ScaleTriggerType = "PendingPods"
	// TriggerUnderutilized: a node's utilization held under the scale-down
	// threshold for the window.
	TriggerUnderutilized ScaleTriggerType = "Underutilized"
)

// ScaleOutcomeType is what a decision did.
type ScaleOutcomeType string

// Outcomes.
const (
	OutcomeScaledUp   ScaleOutcomeType = "ScaledUp"
	OutcomeScaledDown ScaleOutcomeType = "ScaledDown"
	OutcomeNoAction   ScaleOutcomeType = "NoAction"
)

// Reasons a pool was skipped, or a decision not acted on.
const (
	ReasonPoolAtMax            = "AtMax"
	ReasonPoolAtMin            = "AtMin"
	ReasonPoolBackedOff        = "BackedOff"
	ReasonInsufficientCapacity = "InsufficientCapacity"
	ReasonQuota                = "Quota"
	ReasonTemplateDoesNotFit   = "TemplateDoesNotFit"
	ReasonProviderError        = "ProviderError"
	ReasonGlobalMax            = "GlobalMax"
	ReasonCooldown             = "Cooldown"
	ReasonBooting              = "CapacityBooting"
	ReasonTaken                = "Taken"
	ReasonPodsDoNotFit         = "PodsDoNotFitElsewhere"
	ReasonNotEvictable         = "PodNotEvictable"
	ReasonNoPoolFits           = "NoPoolFits"
	ReasonAboveTarget          = "WouldExceedTarget"
	// ReasonPublicFirst: a node of a lower-priority (public) pool is
	// idle too and goes first once its own window ends.
	ReasonPublicFirst = "PublicFirst"
)

// ScaleDecision is one decision of the node autoscaler. It is written once
// and never changed; the oldest are pruned.
type ScaleDecision struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ScaleDecisionSpec `json:"spec"`
}

// ScaleDecisionSpec is what was decided, from what, and how it went.
type ScaleDecisionSpec struct {
	Trigger ScaleTrigger `json:"trigger"`
	// Pools are the pools considered, in the order they were tried.
	Pools []PoolConsideration `json:"pools,omitempty"`
	// Calls are the provider and API calls the decision made.
	Calls   []ScaleCall  `json:"calls,omitempty"`
	Outcome ScaleOutcome `json:"outcome"`
	// TriggeredTime is when the trigger started to hold (the window's
	// start, or the oldest pending pod's unschedulable time); DecidedTime
	// when the loop decided.
	TriggeredTime Time `json:"triggeredTime,omitzero"`
	DecidedTime   Time `json:"decidedTime"`
	// HeldTime is when the trigger came to hold (the window over, or the
	// oldest pending pod marked unschedulable), to the microsecond: the
	// decision latency is measured from it.
	HeldTime MicroTime `json:"heldTime,omitzero"`
}

// ScaleTrigger is a trigger and its figures.
type ScaleTrigger struct {
	Type ScaleTriggerType `json:"type"`
	// Pool is the pool whose utilization held (Utilization), or the pool
	// of the node (Underutilized).
	Pool string `json:"pool,omitempty"`
	// Node is the underutilized node (Underutilized).
	Node string `json:"node,omitempty"`
	// UtilizationPercent is the CPU the pods use over the allocatable CPU
	// of the pool's (or node's) Ready nodes, in percent.
	UtilizationPercent float64 `json:"utilizationPercent,omitempty"`
	// ThresholdPercent is the threshold it was compared with.
	ThresholdPercent float64 `json:"thresholdPercent,omitempty"`
	// WindowSeconds is how long it had to hold.
	WindowSeconds int32 `json:"windowSeconds,omitempty"`
	// PendingPods names ("namespace/name") up to 20 of the unschedulable
	// pods; PendingCount counts them all.
	PendingPods  []string `json:"pendingPods,omitempty"`
	PendingCount int32    `json:"pendingCount,omitempty"`
}

// PoolConsideration is one pool the decision looked at.
type PoolConsideration struct {
	Pool     string `json:"pool"`
	Priority int32  `json:"priority"`
	// Taken is true for a pool the decision grew or shrank.
	Taken bool `json:"taken"`
	// Reason is ReasonTaken or why the pool was skipped (ReasonPoolAtMax,
	// ReasonPoolBackedOff, ReasonInsufficientCapacity, ReasonQuota,
	// ReasonTemplateDoesNotFit, ...).
	Reason  string `json:"reason"`
	Message string `json:"message,omitempty"`
	// Delta is how many machines were asked of it (negative: removed).
	Delta int32 `json:"delta,omitempty"`
}

// ScaleCall is one call the decision made.
type ScaleCall struct {
	// Operation is e.g. "CheckCapacity", "UpdateReplicas", "MarkMachine".
	Operation string `json:"operation"`
	Pool      string `json:"pool,omitempty"`
	Error     string `json:"error,omitempty"`
	// DurationMilliseconds is how long the call took.
	DurationMilliseconds int64 `json:"durationMilliseconds"`
}

// ScaleOutcome is what the decision did.
type ScaleOutcome struct {
	Type ScaleOutcomeType `json:"type"`
	// Pool grew by Delta (ScaledUp), or lost Node (ScaledDown).
	Pool  string `json:"pool,omitempty"`
	Delta int32  `json:"delta,omitempty"`
	Node  string `json:"node,omitempty"`
	// Reason says why nothing was done (NoAction).
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ScaleDecisionList is a list of scale decisions.
type ScaleDecisionList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta        `json:"metadata"`
	Items    []ScaleDecision `json:"items"`
}

// GetListMeta returns the list's metadata.
func (l *ScaleDecisionList) GetListMeta() *ListMeta { return &l.Metadata }

// NewScaleDecisionKind describes the ScaleDecision kind for the scheme.
func NewScaleDecisionKind() *KindInfo {
	return &KindInfo{
		Group: GroupIaaS, Version: VersionIaaS, Kind: KindScaleDecision,
		Resource: "scaledecisions", Singular: "scaledecision", ShortNames: []string{"sd"},
		Namespaced: false,
		New: func() Object {
			return &ScaleDecision{TypeMeta: TypeMeta{APIVersion: APIVersionIaaS, Kind: KindScaleDecision}}
		},
		NewList: func() ObjectList {
			return &ScaleDecisionList{TypeMeta: TypeMeta{APIVersion: APIVersionIaaS, Kind: KindScaleDecision + "List"}}
		},
		Default:  func(o Object) {},
		Validate: func(o Object) ErrorList { return ValidateScaleDecision(o.(*ScaleDecision)) },
		ValidateUpdate: func(n, o Object) ErrorList {
			return ValidateScaleDecisionUpdate(n.(*ScaleDecision), o.(*ScaleDecision))
		},
	}
}
