package api

import "strconv"

// Priority values, as in Kubernetes: user classes go up to
// HighestUserDefinablePriority; the two system classes sit above, so that
// the control plane's own pods preempt any tenant's.
const (
	HighestUserDefinablePriority = 1_000_000_000
	SystemCriticalPriority       = 2 * HighestUserDefinablePriority
	// SystemPriorityClassPrefix starts the names reserved for the system
	// classes.
	SystemPriorityClassPrefix = "system-"
	SystemClusterCritical     = "system-cluster-critical"
	SystemNodeCritical        = "system-node-critical"
)

// SystemPriorityClasses are the classes the API server creates at its
// first start; no other class may take a name with the system- prefix.
func SystemPriorityClasses() []*PriorityClass {
	mk := func(name string, value int32, desc string) *PriorityClass {
		return &PriorityClass{
			TypeMeta:    TypeMeta{APIVersion: APIVersionScheduling, Kind: KindPriorityClass},
			ObjectMeta:  ObjectMeta{Name: name},
			Value:       value,
			Description: desc,
		}
	}
	return []*PriorityClass{
		mk(SystemClusterCritical, SystemCriticalPriority, "Used for system critical pods that must run in the cluster, but can be moved to another node if necessary."),
		mk(SystemNodeCritical, SystemCriticalPriority+1000, "Used for system critical pods that must not be moved from their current node."),
	}
}

// DefaultPriorityClass sets the preemption policy of a class that has none.
func DefaultPriorityClass(pc *PriorityClass) {
	if pc.PreemptionPolicy == nil {
		p := PreemptLowerPriority
		pc.PreemptionPolicy = &p
	}
}

// ResolvePodPriority sets a new pod's priority from its priority class,
// as Kubernetes' priority admission does. class is the class the pod
// names or, when it names none, the global default class (nil: there is
// none). A pod of a class gets the class's value, and its preemption
// policy when it sets none; a pod with neither class nor default gets 0.
// A priority the pod sets itself must be the one computed, except that
// callers with mayChoose (administrators) may set any priority on a pod
// that names no class. The caller reports an unknown class name itself.
func ResolvePodPriority(p *Pod, class *PriorityClass, mayChoose bool) ErrorList {
	s := &p.Spec
	if s.PriorityClassName == "" && s.Priority != nil && mayChoose {
		return nil
	}
	var value int32
	if class != nil {
		value = class.Value
		s.PriorityClassName = class.Name
		if s.PreemptionPolicy == nil {
			policy := PreemptLowerPriority
			if class.PreemptionPolicy != nil {
				policy = *class.PreemptionPolicy
			}
			s.PreemptionPolicy = &policy
		}
	}
	if s.Priority != nil && *s.Priority != value {
		from := "no priority class (and no global default class)"
		if class != nil {
			from = "the priority class " + class.Name
		}
		return ErrorList{forbidden("spec.priority", "must not differ from the value computed from "+from+
			": "+strconv.FormatInt(int64(value), 10)+"; leave it unset")}
	}
	s.Priority = &value
	return nil
}

// PreparePodForUpdate keeps what the server set on a pod when an update
// leaves it out: the priority, its class and preemption policy are
// resolved once, at creation, and a manifest applied again without them
// is no change.
func PreparePodForUpdate(newPod, oldPod *Pod) {
	n, o := &newPod.Spec, &oldPod.Spec
	if n.Priority == nil {
		n.Priority = o.Priority
	}
	if n.PriorityClassName == "" {
		n.PriorityClassName = o.PriorityClassName
	}
	if n.PreemptionPolicy == nil {
		n.PreemptionPolicy = o.PreemptionPolicy
	}
}
