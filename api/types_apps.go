package api

// The apps group holds the workload controllers' kinds.
const (
	GroupApps      = "apps"
	VersionApps    = "v1"
	APIVersionApps = GroupApps + "/" + VersionApps
	// KindReplicaSet is the kind of ReplicaSet objects.
	KindReplicaSet = "ReplicaSet"
	// KindDeployment is the kind of Deployment objects.
	KindDeployment = "Deployment"
)

// Labels and annotations of the Deployment and ReplicaSet controllers.
const (
	// LabelPodTemplateHash is set on a Deployment's ReplicaSets (in their
	// selector and template) and on their pods: the hash of the pod
	// template that tells the ReplicaSets of one Deployment apart.
	LabelPodTemplateHash = "pod-template-hash"
	// AnnotationRevision on a ReplicaSet (and its Deployment) is the
	// rollout revision, "1", "2", ...
	AnnotationRevision = "deployment.kubernetes.io/revision"
	// AnnotationDesiredReplicas on a ReplicaSet is the Deployment's
	// replicas when the ReplicaSet was last scaled.
	AnnotationDesiredReplicas = "deployment.kubernetes.io/desired-replicas"
	// AnnotationMaxReplicas on a ReplicaSet is the Deployment's replicas
	// plus its maxSurge when the controller last scaled it: the size the
	// ReplicaSet's share is measured against when the Deployment is scaled
	// mid-rollout (proportional scaling).
	AnnotationMaxReplicas = "deployment.kubernetes.io/max-replicas"
	// AnnotationChangeCause records why a revision was made (copied from
	// the Deployment to its ReplicaSet and shown by rollout history).
	AnnotationChangeCause = "kubernetes.io/change-cause"
	// AnnotationRestartedAt in a pod template forces a new rollout
	// (cloudctl rollout restart sets it).
	AnnotationRestartedAt = "cloudmgr.dev/restartedAt"
)

// PodTemplateSpec is the pod a workload controller creates: its metadata
// (labels and annotations) and spec.
type PodTemplateSpec struct {
	ObjectMeta `json:"metadata"`
	Spec       PodSpec `json:"spec"`
}

// ReplicaSet keeps Replicas pods matching Selector running, creating them
// from Template.
type ReplicaSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       ReplicaSetSpec   `json:"spec"`
	Status     ReplicaSetStatus `json:"status,omitzero"`
}

// ReplicaSetSpec is the desired state of a ReplicaSet.
type ReplicaSetSpec struct {
	// Replicas is the number of pods wanted (default 1).
	Replicas *int32 `json:"replicas,omitempty"`
	// MinReadySeconds is how long a pod must be Ready to count as available.
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// Selector picks the pods the ReplicaSet counts; it must match the
	// template's labels.
	Selector *LabelSelector `json:"selector"`
	// Template is the pod created when there are too few.
	Template PodTemplateSpec `json:"template"`
}

// ReplicaSetStatus is what the controller last observed.
type ReplicaSetStatus struct {
	// Replicas is the number of active (not terminating, not finished) pods.
	Replicas             int32 `json:"replicas"`
	FullyLabeledReplicas int32 `json:"fullyLabeledReplicas,omitempty"`
	ReadyReplicas        int32 `json:"readyReplicas,omitempty"`
	AvailableReplicas    int32 `json:"availableReplicas,omitempty"`
	// ObservedGeneration is the metadata.generation the status describes.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
}

// ReplicaSetList is a list of ReplicaSets.
type ReplicaSetList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta     `json:"metadata"`
	Items    []ReplicaSet `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *ReplicaSetList) GetListMeta() *ListMeta { return &l.Metadata }

// Deployment declares a pod template and rolls its pods out through
// ReplicaSets, one per template revision.
type Deployment struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       DeploymentSpec   `json:"spec"`
	Status     DeploymentStatus `json:"status,omitzero"`
}

// DeploymentSpec is the desired state of a Deployment.
type DeploymentSpec struct {
	// Replicas is the number of pods wanted (default 1).
	Replicas *int32             `json:"replicas,omitempty"`
	Selector *LabelSelector     `json:"selector"`
	Template PodTemplateSpec    `json:"template"`
	Strategy DeploymentStrategy `json:"strategy,omitzero"`
	// MinReadySeconds is how long a pod must be Ready to count as available.
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
	// RevisionHistoryLimit is how many old, scaled-down ReplicaSets to keep
	// for rollback (default 10).
	RevisionHistoryLimit *int32 `json:"revisionHistoryLimit,omitempty"`
	// Paused stops rollouts: template changes make no new ReplicaSet until
	// resumed (scaling still applies).
	Paused bool `json:"paused,omitempty"`
	// ProgressDeadlineSeconds is how long a rollout may make no progress
	// before Progressing turns False with ProgressDeadlineExceeded
	// (default 600).
	ProgressDeadlineSeconds *int32 `json:"progressDeadlineSeconds,omitempty"`
}

// DeploymentStrategyType says how old pods are replaced.
type DeploymentStrategyType string

// Deployment strategies.
const (
	// RollingUpdateDeploymentStrategyType replaces pods gradually, within
	// maxSurge and maxUnavailable.
	RollingUpdateDeploymentStrategyType DeploymentStrategyType = "RollingUpdate"
	// RecreateDeploymentStrategyType deletes every old pod before creating
	// new ones.
	RecreateDeploymentStrategyType DeploymentStrategyType = "Recreate"
)

// DeploymentStrategy is how a Deployment replaces its pods.
type DeploymentStrategy struct {
	Type          DeploymentStrategyType   `json:"type,omitempty"`
	RollingUpdate *RollingUpdateDeployment `json:"rollingUpdate,omitempty"`
}

// RollingUpdateDeployment bounds a rolling update. Each is a count (3) or
// a percentage of replicas ("25%"); percentages round up for maxSurge and
// down for maxUnavailable. They may not both be 0.
type RollingUpdateDeployment struct {
	// MaxUnavailable is how many pods may be unavailable below replicas
	// (default 25%).
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
	// MaxSurge is how many pods may exist above replicas (default 25%).
	MaxSurge *IntOrString `json:"maxSurge,omitempty"`
}

// DeploymentStatus is what the controller last observed.
type DeploymentStatus struct {
	ObservedGeneration  int64                 `json:"observedGeneration,omitempty"`
	Replicas            int32                 `json:"replicas,omitempty"`
	UpdatedReplicas     int32                 `json:"updatedReplicas,omitempty"`
	ReadyReplicas       int32                 `json:"readyReplicas,omitempty"`
	AvailableReplicas   int32                 `json:"availableReplicas,omitempty"`
	UnavailableReplicas int32                 `json:"unavailableReplicas,omitempty"`
	Conditions          []DeploymentCondition `json:"conditions,omitempty"`
}

// DeploymentConditionType names a condition of a Deployment.
type DeploymentConditionType string

// Deployment conditions.
const (
	// DeploymentAvailable is True when at least replicas-maxUnavailable
	// pods are available.
	DeploymentAvailable DeploymentConditionType = "Available"
	// DeploymentProgressing is True while a rollout progresses or has
	// completed, False once it exceeded its progress deadline.
	DeploymentProgressing DeploymentConditionType = "Progressing"
)

// Reasons of the Progressing condition, as in Kubernetes.
const (
	ReasonNewReplicaSetCreated     = "NewReplicaSetCreated"
	ReasonFoundNewReplicaSet       = "FoundNewReplicaSet"
	ReasonReplicaSetUpdated        = "ReplicaSetUpdated"
	ReasonNewRSAvailable           = "NewReplicaSetAvailable"
	ReasonProgressDeadlineExceeded = "ProgressDeadlineExceeded"
	ReasonDeploymentPaused         = "DeploymentPaused"
	ReasonDeploymentResumed        = "DeploymentResumed"
	ReasonMinimumReplicasAvailable = "MinimumReplicasAvailable"
	ReasonMinimumReplicasUnavail   = "MinimumReplicasUnavailable"
)

// DeploymentCondition is one observed condition of a Deployment.
type DeploymentCondition struct {
	Type   DeploymentConditionType `json:"type"`
	Status ConditionStatus         `json:"status"`
	// LastUpdateTime is when the condition was last confirmed with
	// progress; the progress deadline counts from it.
	LastUpdateTime     Time   `json:"lastUpdateTime,omitzero"`
	LastTransitionTime Time   `json:"lastTransitionTime,omitzero"`
	Reason             string `json:"reason,omitempty"`
	Message            string `json:"message,omitempty"`
}

// DeploymentList is a list of Deployments.
type DeploymentList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta     `json:"metadata"`
	Items    []Deployment `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *DeploymentList) GetListMeta() *ListMeta { return &l.Metadata }

// DeploymentConditionByType returns the condition of that type, or nil.
func DeploymentConditionByType(s *DeploymentStatus, t DeploymentConditionType) *DeploymentCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// SetDeploymentCondition adds or replaces the condition of c's type,
// keeping LastTransitionTime when the status did not change.
func SetDeploymentCondition(s *DeploymentStatus, c DeploymentCondition) {
	if old := DeploymentConditionByType(s, c.Type); old != nil {
		if old.Status == c.Status && !old.LastTransitionTime.IsZero() {
			c.LastTransitionTime = old.LastTransitionTime
		}
		*old = c
		return
	}
	s.Conditions = append(s.Conditions, c)
}

// ScaledValue resolves a count or a percentage of total: percentages round
// up when roundUp, down otherwise.
func ScaledValue(v *IntOrString, total int32, roundUp bool) (int32, error) {
	if v == nil {
		return 0, nil
	}
	if !v.IsString {
		return v.IntVal, nil
	}
	pct, ok := parsePercent(v.StrVal)
	if !ok {
		return 0, &FieldError{Type: ErrorTypeInvalid, Value: v.StrVal, Detail: "must be an integer or a percentage like '25%'"}
	}
	n := int64(pct) * int64(total)
	if roundUp {
		return int32((n + 99) / 100), nil
	}
	return int32(n / 100), nil
}

// parsePercent reads "NN%" with NN a non-negative integer.
func parsePercent(s string) (int, bool) {
	if len(s) < 2 || s[len(s)-1] != '%' {
		return 0, false
	}
	n := 0
	for _, c := range s[:len(s)-1] {
		if c < '0' || c > '9' || n > 1e6 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
