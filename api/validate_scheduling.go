package api

import (
	"strconv"
	"strings"
)

// validatePodScheduling checks the fields of a pod spec that steer the
// scheduler: priority class and preemption policy, node affinity and
// topology spread constraints.
func validatePodScheduling(s *PodSpec, p fieldPath) ErrorList {
	var errs ErrorList
	if s.PriorityClassName != "" {
		errs = append(errs, each(p.child("priorityClassName"), s.PriorityClassName, IsDNS1123Subdomain(s.PriorityClassName))...)
	}
	if pp := s.PreemptionPolicy; pp != nil {
		errs = append(errs, validatePreemptionPolicy(*pp, p.child("preemptionPolicy"))...)
	}
	if s.Affinity != nil && s.Affinity.NodeAffinity != nil {
		errs = append(errs, validateNodeAffinity(s.Affinity.NodeAffinity, p.child("affinity").child("nodeAffinity"))...)
	}
	errs = append(errs, validateTopologySpread(s.TopologySpreadConstraints, p.child("topologySpreadConstraints"))...)
	return errs
}

func validatePreemptionPolicy(pp PreemptionPolicy, p fieldPath) ErrorList {
	if !oneOf(pp, PreemptLowerPriority, PreemptNever) {
		return ErrorList{notSupported(p, pp, PreemptLowerPriority, PreemptNever)}
	}
	return nil
}

func validateNodeAffinity(na *NodeAffinity, p fieldPath) ErrorList {
	var errs ErrorList
	if na.Required != nil {
		rp := p.child("requiredDuringSchedulingIgnoredDuringExecution")
		errs = append(errs, ValidateNodeSelector(na.Required, rp.String())...)
	}
	pp := p.child("preferredDuringSchedulingIgnoredDuringExecution")
	for i := range na.Preferred {
		term := &na.Preferred[i]
		tp := pp.index(i)
		if term.Weight < 1 || term.Weight > 100 {
			errs = append(errs, invalid(tp.child("weight"), term.Weight, "must be in the range 1-100"))
		}
		errs = append(errs, validateNodeSelectorTerm(&term.Preference, tp.child("preference"))...)
	}
	return errs
}

// ValidateNodeSelector checks a node selector at path: at least one term,
// and every requirement well formed (operators and their values, label
// keys, metadata.name as the only field).
func ValidateNodeSelector(ns *NodeSelector, path string) ErrorList {
	p := fieldPath(path).child("nodeSelectorTerms")
	if len(ns.NodeSelectorTerms) == 0 {
		return ErrorList{required(p, "must have at least one node selector term")}
	}
	var errs ErrorList
	for i := range ns.NodeSelectorTerms {
		errs = append(errs, validateNodeSelectorTerm(&ns.NodeSelectorTerms[i], p.index(i))...)
	}
	return errs
}

func validateNodeSelectorTerm(t *NodeSelectorTerm, p fieldPath) ErrorList {
	var errs ErrorList
	for i, r := range t.MatchExpressions {
		rp := p.child("matchExpressions").index(i)
		if r.Key == "" {
			errs = append(errs, required(rp.child("key"), ""))
		} else {
			errs = append(errs, each(rp.child("key"), r.Key, IsQualifiedName(r.Key))...)
		}
		errs = append(errs, validateNodeSelectorOperator(r, rp)...)
	}
	for i, r := range t.MatchFields {
		rp := p.child("matchFields").index(i)
		if r.Key != "metadata.name" {
			errs = append(errs, notSupported(rp.child("key"), r.Key, "metadata.name"))
		}
		switch r.Operator {
		case NodeSelectorOpIn, NodeSelectorOpNotIn:
			if len(r.Values) == 0 {
				errs = append(errs, required(rp.child("values"), "must be specified when `operator` is 'In' or 'NotIn'"))
			}
		default:
			errs = append(errs, notSupported(rp.child("operator"), r.Operator, NodeSelectorOpIn, NodeSelectorOpNotIn))
		}
	}
	return errs
}

// validateNodeSelectorOperator checks the operator of a label requirement
// and the number and form of its values.
func validateNodeSelectorOperator(r NodeSelectorRequirement, p fieldPath) ErrorList {
	vp := p.child("values")
	switch r.Operator {
	case NodeSelectorOpIn, NodeSelectorOpNotIn:
		// Values are not checked as label values, as in Kubernetes: one
		// that no label can have simply never matches.
		if len(r.Values) == 0 {
			return ErrorList{required(vp, "must be specified when `operator` is 'In' or 'NotIn'")}
		}
	case NodeSelectorOpExists, NodeSelectorOpDoesNotExist:
		if len(r.Values) > 0 {
			return ErrorList{forbidden(vp, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'")}
		}
	case NodeSelectorOpGt, NodeSelectorOpLt:
		if len(r.Values) != 1 {
			return ErrorList{required(vp, "must be specified single value when `operator` is 'Lt' or 'Gt'")}
		}
		if _, err := strconv.ParseInt(r.Values[0], 10, 64); err != nil {
			return ErrorList{invalid(vp.index(0), r.Values[0], "must be an integer when `operator` is 'Lt' or 'Gt'")}
		}
	default:
		return ErrorList{notSupported(p.child("operator"), r.Operator, NodeSelectorOpIn, NodeSelectorOpNotIn,
			NodeSelectorOpExists, NodeSelectorOpDoesNotExist, NodeSelectorOpGt, NodeSelectorOpLt)}
	}
	return nil
}

// validateTopologySpread checks spread constraints: each well formed, and
// no two with the same topology key and action.
func validateTopologySpread(cs []TopologySpreadConstraint, p fieldPath) ErrorList {
	var errs ErrorList
	seen := map[string]bool{}
	for i := range cs {
		c := &cs[i]
		cp := p.index(i)
		if c.MaxSkew < 1 {
			errs = append(errs, invalid(cp.child("maxSkew"), c.MaxSkew, "must be greater than zero"))
		}
		if c.TopologyKey == "" {
			errs = append(errs, required(cp.child("topologyKey"), "can not be empty"))
		} else {
			errs = append(errs, each(cp.child("topologyKey"), c.TopologyKey, IsQualifiedName(c.TopologyKey))...)
		}
		switch {
		case c.WhenUnsatisfiable == "":
			errs = append(errs, required(cp.child("whenUnsatisfiable"), ""))
		case !oneOf(c.WhenUnsatisfiable, DoNotSchedule, ScheduleAnyway):
			errs = append(errs, notSupported(cp.child("whenUnsatisfiable"), c.WhenUnsatisfiable, DoNotSchedule, ScheduleAnyway))
		}
		if c.LabelSelector != nil {
			errs = append(errs, ValidateLabelSelector(c.LabelSelector, cp.child("labelSelector").String())...)
		}
		id := c.TopologyKey + "\x00" + string(c.WhenUnsatisfiable)
		if c.TopologyKey != "" && seen[id] {
			errs = append(errs, duplicate(cp.child("{topologyKey, whenUnsatisfiable}"),
				"{"+c.TopologyKey+", "+string(c.WhenUnsatisfiable)+"}"))
		}
		seen[id] = true
	}
	return errs
}

// ValidateLabelSelector checks a structured label selector at path: label
// keys and values, operators and their values.
func ValidateLabelSelector(sel *LabelSelector, path string) ErrorList {
	p := fieldPath(path)
	errs := ValidateLabels(sel.MatchLabels, p.child("matchLabels").String())
	for i, r := range sel.MatchExpressions {
		rp := p.child("matchExpressions").index(i)
		if r.Key == "" {
			errs = append(errs, required(rp.child("key"), ""))
		} else {
			errs = append(errs, each(rp.child("key"), r.Key, IsQualifiedName(r.Key))...)
		}
		vp := rp.child("values")
		switch r.Operator {
		case LabelSelectorOpIn, LabelSelectorOpNotIn:
			if len(r.Values) == 0 {
				errs = append(errs, required(vp, "must be specified when `operator` is 'In' or 'NotIn'"))
			}
			for j, v := range r.Values {
				errs = append(errs, each(vp.index(j), v, IsValidLabelValue(v))...)
			}
		case LabelSelectorOpExists, LabelSelectorOpDoesNotExist:
			if len(r.Values) > 0 {
				errs = append(errs, forbidden(vp, "may not be specified when `operator` is 'Exists' or 'DoesNotExist'"))
			}
		default:
			errs = append(errs, notSupported(rp.child("operator"), r.Operator, LabelSelectorOpIn, LabelSelectorOpNotIn,
				LabelSelectorOpExists, LabelSelectorOpDoesNotExist))
		}
	}
	return errs
}

// ValidatePriorityClass checks a priority class: a DNS subdomain name, a
// value no higher than HighestUserDefinablePriority, and the system- names
// reserved for the system classes with their own values.
func ValidatePriorityClass(pc *PriorityClass) ErrorList {
	errs := ValidateObjectMeta(&pc.ObjectMeta, false, false)
	if strings.HasPrefix(pc.Name, SystemPriorityClassPrefix) {
		var sys *PriorityClass
		for _, c := range SystemPriorityClasses() {
			if c.Name == pc.Name {
				sys = c
			}
		}
		switch {
		case sys == nil:
			errs = append(errs, forbidden("metadata.name", "priority class names with the '"+SystemPriorityClassPrefix+
				"' prefix are reserved for the system classes"))
		case pc.Value != sys.Value:
			errs = append(errs, forbidden("value", "the system class "+pc.Name+" has the value "+strconv.Itoa(int(sys.Value))))
		}
	} else if pc.Value > HighestUserDefinablePriority {
		errs = append(errs, forbidden("value", "may not be greater than "+strconv.Itoa(HighestUserDefinablePriority)+
			" (only the system classes may be higher)"))
	}
	if pc.PreemptionPolicy != nil {
		errs = append(errs, validatePreemptionPolicy(*pc.PreemptionPolicy, "preemptionPolicy")...)
	}
	return errs
}

// ValidatePriorityClassUpdate checks what may not change in a priority
// class: its value and preemption policy, which pods already carry.
func ValidatePriorityClassUpdate(newPC, oldPC *PriorityClass) ErrorList {
	errs := ValidateObjectMetaUpdate(&newPC.ObjectMeta, &oldPC.ObjectMeta)
	if newPC.Value != oldPC.Value {
		errs = append(errs, forbidden("value", "may not be changed in an update"))
	}
	if !sameJSON(newPC.PreemptionPolicy, oldPC.PreemptionPolicy) {
		errs = append(errs, forbidden("preemptionPolicy", "may not be changed in an update"))
	}
	return errs
}

// ValidateBinding checks the body of a binding: a target node name, and a
// target kind that is Node when given.
func ValidateBinding(b *Binding) ErrorList {
	var errs ErrorList
	t := fieldPath("target")
	if b.Target.Kind != "" && b.Target.Kind != KindNode {
		errs = append(errs, notSupported(t.child("kind"), b.Target.Kind, KindNode))
	}
	if b.Target.Name == "" {
		errs = append(errs, required(t.child("name"), "the node to bind the pod to"))
	} else {
		errs = append(errs, each(t.child("name"), b.Target.Name, IsDNS1123Subdomain(b.Target.Name))...)
	}
	return errs
}
