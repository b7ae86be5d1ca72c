package api

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
)

// DaemonSet runs one pod per eligible node (apps/v1). The apps group's
// constants (GroupApps, APIVersionApps) live with ReplicaSet and
// Deployment; DaemonSet names its own so that either can be merged first.
const (
	KindDaemonSet          = "DaemonSet"
	APIVersionDaemonSet    = "apps/v1"
	groupDaemonSet         = GroupApps
	versionDaemonSet       = "v1"
	LabelControllerRevHash = "controller-revision-hash"
)

// Update strategies of a DaemonSet.
const (
	DaemonSetRollingUpdate = "RollingUpdate"
	DaemonSetOnDelete      = "OnDelete"
)

// DaemonSet runs a copy of its pod template on every node its template's
// nodeSelector (and required node affinity) matches and whose taints the
// template tolerates.
type DaemonSet struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       DaemonSetSpec   `json:"spec"`
	Status     DaemonSetStatus `json:"status,omitzero"`
}

// DaemonSetSpec is the desired state of a DaemonSet.
type DaemonSetSpec struct {
	// Selector picks the pods the DaemonSet owns; it must match the
	// template's labels.
	Selector *LabelSelector `json:"selector"`
	// Template is the pod run on each node.
	Template PodTemplateSpec `json:"template"`
	// UpdateStrategy says how pods of an older template are replaced.
	UpdateStrategy DaemonSetUpdateStrategy `json:"updateStrategy,omitzero"`
	// MinReadySeconds is how long a pod must be Ready to count as
	// available (and for a rolling update to move on).
	MinReadySeconds int32 `json:"minReadySeconds,omitempty"`
}

// DaemonSetUpdateStrategy is RollingUpdate (default: replace old pods, at
// most MaxUnavailable nodes without a ready pod at a time) or OnDelete
// (replace a pod only once someone deleted it).
type DaemonSetUpdateStrategy struct {
	Type          string                  `json:"type,omitempty"`
	RollingUpdate *RollingUpdateDaemonSet `json:"rollingUpdate,omitempty"`
}

// RollingUpdateDaemonSet bounds a rolling update.
type RollingUpdateDaemonSet struct {
	// MaxUnavailable is a number or a percentage of the eligible nodes
	// (default 1).
	MaxUnavailable *IntOrString `json:"maxUnavailable,omitempty"`
}

// DaemonSetStatus is what the controller observed.
type DaemonSetStatus struct {
	ObservedGeneration     int64 `json:"observedGeneration,omitempty"`
	DesiredNumberScheduled int32 `json:"desiredNumberScheduled"`
	CurrentNumberScheduled int32 `json:"currentNumberScheduled"`
	NumberMisscheduled     int32 `json:"numberMisscheduled"`
	NumberReady            int32 `json:"numberReady"`
	UpdatedNumberScheduled int32 `json:"updatedNumberScheduled,omitempty"`
	NumberAvailable        int32 `json:"numberAvailable,omitempty"`
	NumberUnavailable      int32 `json:"numberUnavailable,omitempty"`
}

// DaemonSetList is a list of daemon sets.
type DaemonSetList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta    `json:"metadata"`
	Items    []DaemonSet `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *DaemonSetList) GetListMeta() *ListMeta { return &l.Metadata }

// DaemonSetTemplateHash is the short hash of a daemon set's pod template,
// set as LabelControllerRevHash on its pods to tell old ones from new.
func DaemonSetTemplateHash(t *PodTemplateSpec) string {
	b, _ := json.Marshal(t)
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])[:10]
}

// DefaultDaemonSet fills the update strategy (RollingUpdate, maxUnavailable 1).
func DefaultDaemonSet(d *DaemonSet) {
	s := &d.Spec.UpdateStrategy
	if s.Type == "" {
		s.Type = DaemonSetRollingUpdate
	}
	if s.Type == DaemonSetRollingUpdate {
		if s.RollingUpdate == nil {
			s.RollingUpdate = &RollingUpdateDaemonSet{}
		}
		if s.RollingUpdate.MaxUnavailable == nil {
			one := FromInt(1)
			s.RollingUpdate.MaxUnavailable = &one
		}
	}
}

// ValidateDaemonSet checks a daemon set.
func ValidateDaemonSet(d *DaemonSet) ErrorList {
	errs := ValidateObjectMeta(&d.ObjectMeta, true, false)
	s := &d.Spec
	p := fieldPath("spec")
	tp := p.child("template")
	if s.Selector == nil {
		errs = append(errs, required(p.child("selector"), "pods the daemon set owns"))
	} else {
		serrs := ValidateLabelSelector(s.Selector, p.child("selector").String())
		errs = append(errs, serrs...)
		if len(serrs) == 0 && (len(s.Selector.MatchLabels) == 0 && len(s.Selector.MatchExpressions) == 0 || !s.Selector.Matches(s.Template.Labels)) {
			errs = append(errs, invalid(tp.child("metadata").child("labels"), s.Template.Labels, "`selector` does not match template `labels`"))
		}
	}
	errs = append(errs, validateNonNegative(p.child("minReadySeconds"), s.MinReadySeconds)...)
	errs = append(errs, ValidateLabels(s.Template.Labels, tp.child("metadata").child("labels").String())...)
	errs = append(errs, validateAnnotations(s.Template.Annotations, tp.child("metadata").child("annotations"))...)
	errs = append(errs, validatePodSpec(&s.Template.Spec, tp.child("spec"))...)
	if s.Template.Spec.NodeName != "" {
		errs = append(errs, forbidden(tp.child("spec").child("nodeName"), "the scheduler places daemon set pods"))
	}
	if rp := s.Template.Spec.RestartPolicy; rp != "" && rp != RestartPolicyAlways {
		errs = append(errs, notSupported(tp.child("spec").child("restartPolicy"), rp, RestartPolicyAlways))
	}
	up := p.child("updateStrategy")
	switch s.UpdateStrategy.Type {
	case DaemonSetRollingUpdate:
		if ru := s.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
			mp := up.child("rollingUpdate").child("maxUnavailable")
			v := *ru.MaxUnavailable
			switch {
			case v.IsString:
				if n, ok := parsePercent(v.StrVal); !ok || n == 0 {
					errs = append(errs, invalid(mp, v.StrVal, "must be a percentage between 1% and 100%"))
				}
			case v.IntVal < 1:
				errs = append(errs, invalid(mp, v.IntVal, "must be greater than 0"))
			}
		}
	case DaemonSetOnDelete:
	default:
		errs = append(errs, notSupported(up.child("type"), s.UpdateStrategy.Type, DaemonSetRollingUpdate, DaemonSetOnDelete))
	}
	return errs
}

// ValidateDaemonSetUpdate checks an update: the selector is immutable.
func ValidateDaemonSetUpdate(n, o *DaemonSet) ErrorList {
	errs := ValidateObjectMetaUpdate(&n.ObjectMeta, &o.ObjectMeta)
	if !sameJSON(n.Spec.Selector, o.Spec.Selector) {
		errs = append(errs, forbidden("spec.selector", "field is immutable"))
	}
	return append(errs, ValidateDaemonSet(n)...)
}
