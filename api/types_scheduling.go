package api

import (
	"slices"
	"strconv"
)

// Well-known node labels the scheduler and the autoscaler read. A node is
// usually a VM: LabelHypervisor names the physical host it runs on, so that
// replicas can be spread across physical failure domains.
const (
	LabelHostname   = "kubernetes.io/hostname"
	LabelZone       = "topology.kubernetes.io/zone"
	LabelHypervisor = "topology.cloud/hypervisor"
)

// Affinity holds a pod's scheduling constraints on nodes.
type Affinity struct {
	NodeAffinity *NodeAffinity `json:"nodeAffinity,omitempty"`
}

// NodeAffinity constrains (required) or steers (preferred) a pod onto
// nodes by their labels.
type NodeAffinity struct {
	// Required must be met for the pod to be placed on a node.
	Required *NodeSelector `json:"requiredDuringSchedulingIgnoredDuringExecution,omitempty"`
	// Preferred terms add their weight to a node's score when they match.
	Preferred []PreferredSchedulingTerm `json:"preferredDuringSchedulingIgnoredDuringExecution,omitempty"`
}

// NodeSelector matches a node when any of its terms matches (terms are
// ORed; the requirements within a term are ANDed).
type NodeSelector struct {
	NodeSelectorTerms []NodeSelectorTerm `json:"nodeSelectorTerms"`
}

// NodeSelectorTerm matches a node when all its requirements do. An empty
// term matches nothing, as in Kubernetes.
type NodeSelectorTerm struct {
	MatchExpressions []NodeSelectorRequirement `json:"matchExpressions,omitempty"`
	// MatchFields may only use the field metadata.name.
	MatchFields []NodeSelectorRequirement `json:"matchFields,omitempty"`
}

// NodeSelectorOperator relates a node label to values.
type NodeSelectorOperator string

// Node selector operators.
const (
	NodeSelectorOpIn           NodeSelectorOperator = "In"
	NodeSelectorOpNotIn        NodeSelectorOperator = "NotIn"
	NodeSelectorOpExists       NodeSelectorOperator = "Exists"
	NodeSelectorOpDoesNotExist NodeSelectorOperator = "DoesNotExist"
	NodeSelectorOpGt           NodeSelectorOperator = "Gt"
	NodeSelectorOpLt           NodeSelectorOperator = "Lt"
)

// NodeSelectorRequirement is one condition on a node label (or field).
type NodeSelectorRequirement struct {
	Key      string               `json:"key"`
	Operator NodeSelectorOperator `json:"operator"`
	Values   []string             `json:"values,omitempty"`
}

// PreferredSchedulingTerm is a preference with a weight of 1-100.
type PreferredSchedulingTerm struct {
	Weight     int32            `json:"weight"`
	Preference NodeSelectorTerm `json:"preference"`
}

// UnsatisfiableConstraintAction says what to do when a spread constraint
// cannot be met.
type UnsatisfiableConstraintAction string

// Spread constraint actions.
const (
	DoNotSchedule  UnsatisfiableConstraintAction = "DoNotSchedule"
	ScheduleAnyway UnsatisfiableConstraintAction = "ScheduleAnyway"
)

// TopologySpreadConstraint bounds how unevenly the pods matching
// LabelSelector may be spread over the domains of TopologyKey (a node
// label, such as topology.cloud/hypervisor).
type TopologySpreadConstraint struct {
	MaxSkew           int32                         `json:"maxSkew"`
	TopologyKey       string                        `json:"topologyKey"`
	WhenUnsatisfiable UnsatisfiableConstraintAction `json:"whenUnsatisfiable"`
	LabelSelector     *LabelSelector                `json:"labelSelector,omitempty"`
}

// LabelSelector is the structured form of a label selector: every
// matchLabels pair and every expression must match. An empty selector
// matches everything; a nil one matches nothing.
type LabelSelector struct {
	MatchLabels      map[string]string          `json:"matchLabels,omitempty"`
	MatchExpressions []LabelSelectorRequirement `json:"matchExpressions,omitempty"`
}

// LabelSelectorOperator relates a label to values.
type LabelSelectorOperator string

// Label selector operators.
const (
	LabelSelectorOpIn           LabelSelectorOperator = "In"
	LabelSelectorOpNotIn        LabelSelectorOperator = "NotIn"
	LabelSelectorOpExists       LabelSelectorOperator = "Exists"
	LabelSelectorOpDoesNotExist LabelSelectorOperator = "DoesNotExist"
)

// LabelSelectorRequirement is one expression of a LabelSelector.
type LabelSelectorRequirement struct {
	Key      string                `json:"key"`
	Operator LabelSelectorOperator `json:"operator"`
	Values   []string              `json:"values,omitempty"`
}

// PreemptionPolicy says whether a pod may evict lower-priority pods.
type PreemptionPolicy string

// Preemption policies.
const (
	PreemptLowerPriority PreemptionPolicy = "PreemptLowerPriority"
	PreemptNever         PreemptionPolicy = "Never"
)

// Matches reports whether labels satisfy the selector. A nil selector
// matches nothing.
func (s *LabelSelector) Matches(labels map[string]string) bool {
	if s == nil {
		return false
	}
	for k, v := range s.MatchLabels {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	for _, r := range s.MatchExpressions {
		v, has := labels[r.Key]
		switch r.Operator {
		case LabelSelectorOpIn:
			if !has || !slices.Contains(r.Values, v) {
				return false
			}
		case LabelSelectorOpNotIn:
			if has && slices.Contains(r.Values, v) {
				return false
			}
		case LabelSelectorOpExists:
			if !has {
				return false
			}
		case LabelSelectorOpDoesNotExist:
			if has {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// Matches reports whether a node with these labels and this name satisfies
// the selector (any term).
func (s *NodeSelector) Matches(nodeName string, labels map[string]string) bool {
	if s == nil {
		return true
	}
	for i := range s.NodeSelectorTerms {
		if s.NodeSelectorTerms[i].Matches(nodeName, labels) {
			return true
		}
	}
	return false
}

// Matches reports whether a node satisfies every requirement of the term.
// A term with no requirements matches nothing.
func (t *NodeSelectorTerm) Matches(nodeName string, labels map[string]string) bool {
	if len(t.MatchExpressions) == 0 && len(t.MatchFields) == 0 {
		return false
	}
	for _, r := range t.MatchExpressions {
		v, has := labels[r.Key]
		if !r.matches(v, has) {
			return false
		}
	}
	for _, r := range t.MatchFields {
		if r.Key != "metadata.name" || !r.matches(nodeName, true) {
			return false
		}
	}
	return true
}

func (r NodeSelectorRequirement) matches(v string, has bool) bool {
	switch r.Operator {
	case NodeSelectorOpIn:
		return has && slices.Contains(r.Values, v)
	case NodeSelectorOpNotIn:
		return !has || !slices.Contains(r.Values, v)
	case NodeSelectorOpExists:
		return has
	case NodeSelectorOpDoesNotExist:
		return !has
	case NodeSelectorOpGt, NodeSelectorOpLt:
		if !has || len(r.Values) != 1 {
			return false
		}
		got, err1 := strconv.ParseInt(v, 10, 64)
		want, err2 := strconv.ParseInt(r.Values[0], 10, 64)
		if err1 != nil || err2 != nil {
			return false
		}
		if r.Operator == NodeSelectorOpGt {
			return got > want
		}
		return got < want
	}
	return false
}

// The scheduling group holds priority classes.
const (
	GroupScheduling      = "scheduling.cloudmgr.dev"
	VersionScheduling    = "v1"
	APIVersionScheduling = GroupScheduling + "/" + VersionScheduling
	// KindPriorityClass is the kind of PriorityClass objects.
	KindPriorityClass = "PriorityClass"
)

// PriorityClass names a pod priority: pods that set priorityClassName get
// its value as spec.priority when they are created. Cluster-scoped.
type PriorityClass struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Value is the priority; higher is more important.
	Value int32 `json:"value"`
	// GlobalDefault makes this the class of pods that name none.
	GlobalDefault bool `json:"globalDefault,omitempty"`
	// Description says when to use the class.
	Description string `json:"description,omitempty"`
	// PreemptionPolicy is copied to pods of the class that set none
	// (default PreemptLowerPriority).
	PreemptionPolicy *PreemptionPolicy `json:"preemptionPolicy,omitempty"`
}

// PriorityClassList is a list of priority classes.
type PriorityClassList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta        `json:"metadata"`
	Items    []PriorityClass `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *PriorityClassList) GetListMeta() *ListMeta { return &l.Metadata }

// PodPriority is the pod's priority (0 when unset).
func PodPriority(p *Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

// PodRequests sums the requests of a pod's containers: what the scheduler
// reserves on a node for it. A container with a limit and no request
// requests its limit, as in Kubernetes.
func PodRequests(p *Pod) (milliCPU, memoryBytes int64) {
	for i := range p.Spec.Containers {
		c := &p.Spec.Containers[i]
		cpu, okc := c.Resources.Requests[ResourceCPU]
		if !okc {
			cpu, okc = c.Resources.Limits[ResourceCPU]
		}
		if okc {
			milliCPU += cpu.MilliValue()
		}
		mem, okm := c.Resources.Requests[ResourceMemory]
		if !okm {
			mem, okm = c.Resources.Limits[ResourceMemory]
		}
		if okm {
			memoryBytes += mem.Value()
		}
	}
	return milliCPU, memoryBytes
}
