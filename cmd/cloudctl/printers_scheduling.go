package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

func priorityClassColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "VALUE", "GLOBAL-DEFAULT", "AGE"},
		wide:    []string{"PREEMPTIONPOLICY"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			pc := obj.(*api.PriorityClass)
			policy := api.PreemptLowerPriority
			if pc.PreemptionPolicy != nil {
				policy = *pc.PreemptionPolicy
			}
			return []string{pc.Name, strconv.Itoa(int(pc.Value)), strconv.FormatBool(pc.GlobalDefault), age(pc.CreationTimestamp, now)},
				[]string{string(policy)}
		},
	}
}

// priorityClass describes a priority class as kubectl does.
func (d *describer) priorityClass(pc *api.PriorityClass) {
	d.line(0, "Name:\t%s", pc.Name)
	d.line(0, "Value:\t%d", pc.Value)
	d.line(0, "GlobalDefault:\t%t", pc.GlobalDefault)
	policy := api.PreemptLowerPriority
	if pc.PreemptionPolicy != nil {
		policy = *pc.PreemptionPolicy
	}
	d.line(0, "PreemptionPolicy:\t%s", policy)
	d.line(0, "Description:\t%s", pc.Description)
	d.stringMap(0, "Annotations", pc.Annotations)
}

// podConditions writes a pod's conditions; with reasons and messages when
// any condition has one, so that why a pod waits (PodScheduled False,
// Unschedulable, "0/12 nodes are available: ...") reads in full.
func (d *describer) podConditions(conds []api.PodCondition) {
	if len(conds) == 0 {
		return
	}
	detailed := false
	for _, c := range conds {
		detailed = detailed || c.Reason != "" || c.Message != ""
	}
	d.line(0, "Conditions:")
	if !detailed {
		d.line(1, "Type\tStatus")
		for _, c := range conds {
			d.line(1, "%s \t%s ", c.Type, c.Status)
		}
		return
	}
	d.line(1, "Type\tStatus\tReason\tMessage")
	d.line(1, "----\t------\t------\t-------")
	for _, c := range conds {
		d.line(1, "%s\t%s\t%s\t%s", c.Type, c.Status, c.Reason, oneLine(c.Message))
	}
}

// oneLine keeps a message on its table row.
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// topologySpread writes spread constraints as kubectl does:
// "topology.cloud/hypervisor:DoNotSchedule when max skew 1 is exceeded for
// selector app=web".
func (d *describer) topologySpread(cs []api.TopologySpreadConstraint) {
	for i, c := range cs {
		s := fmt.Sprintf("%s:%s when max skew %d is exceeded for selector %s",
			c.TopologyKey, c.WhenUnsatisfiable, c.MaxSkew, formatLabelSelector(c.LabelSelector))
		if i == 0 {
			d.line(0, "Topology Spread Constraints:\t%s", s)
		} else {
			d.line(0, "\t%s", s)
		}
	}
}

// formatLabelSelector renders a selector in the label selector syntax:
// "app=web,tier in (a,b),!canary"; "<none>" for nil, "<all>"... as
// kubectl: an empty selector is "<none>" too, since it selects everything
// only where that is said.
func formatLabelSelector(s *api.LabelSelector) string {
	if s == nil {
		return "<none>"
	}
	var parts []string
	for _, k := range sortedKeys(s.MatchLabels) {
		parts = append(parts, k+"="+s.MatchLabels[k])
	}
	for _, r := range s.MatchExpressions {
		values := append([]string(nil), r.Values...)
		sort.Strings(values)
		switch r.Operator {
		case api.LabelSelectorOpIn:
			parts = append(parts, r.Key+" in ("+strings.Join(values, ",")+")")
		case api.LabelSelectorOpNotIn:
			parts = append(parts, r.Key+" notin ("+strings.Join(values, ",")+")")
		case api.LabelSelectorOpExists:
			parts = append(parts, r.Key)
		case api.LabelSelectorOpDoesNotExist:
			parts = append(parts, "!"+r.Key)
		}
	}
	if len(parts) == 0 {
		return "<none>"
	}
	return strings.Join(parts, ",")
}
