package api

// PodReasonUnschedulable is the reason of a PodScheduled=False condition
// when the scheduler found no node for the pod; the message says why
// ("0/12 nodes are available: 8 Insufficient cpu, ...").
const PodReasonUnschedulable = "Unschedulable"

// KindBinding is the kind of the body of a pods/NAME/binding request.
const KindBinding = "Binding"

// Binding asks the API server to place a pod on a node: the body of
// POST /api/v1/namespaces/NS/pods/NAME/binding. Metadata.UID, when set,
// must be the pod's (a pod deleted and created again under the same name
// is another pod), and Metadata.ResourceVersion, when set, its current
// revision.
type Binding struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Target names the node (kind Node, or no kind).
	Target ObjectReference `json:"target"`
}

// PodConditionByType returns the condition of a type, or nil.
func PodConditionByType(s *PodStatus, t PodConditionType) *PodCondition {
	for i := range s.Conditions {
		if s.Conditions[i].Type == t {
			return &s.Conditions[i]
		}
	}
	return nil
}

// SetPodCondition replaces the condition of c's type, or adds it. The
// transition time moves only when the status changes, so that it says
// since when the condition holds.
func SetPodCondition(s *PodStatus, c PodCondition) {
	old := PodConditionByType(s, c.Type)
	if old == nil {
		if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = Now()
		}
		s.Conditions = append(s.Conditions, c)
		return
	}
	if old.Status == c.Status {
		c.LastTransitionTime = old.LastTransitionTime
	} else if c.LastTransitionTime.IsZero() {
		c.LastTransitionTime = Now()
	}
	*old = c
}

// BindPod is what a binding does to a pod: bound to node, PodScheduled
// True, and no longer nominated anywhere.
func BindPod(p *Pod, node string) {
	p.Spec.NodeName = node
	p.Status.NominatedNodeName = ""
	SetPodCondition(&p.Status, PodCondition{Type: PodScheduled, Status: ConditionTrue})
}
