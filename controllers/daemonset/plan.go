// Package daemonset runs the DaemonSet controller: one pod per eligible
// node (the template's nodeSelector and required node affinity match it,
// and the template tolerates its NoSchedule and NoExecute taints), pinned
// to the node with a required node affinity on metadata.name and placed by
// the scheduler; pods on nodes that left or stopped matching are deleted;
// pods of an older template are replaced at most maxUnavailable nodes at a
// time (RollingUpdate) or once deleted (OnDelete).
package daemonset

import (
	"sort"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/controllers"
)

// Taint keys daemon set pods tolerate whatever their template says, as in
// Kubernetes: they belong on the node however it fares.
const (
	taintNotReady      = "node.kubernetes.io/not-ready"
	taintUnreachable   = "node.kubernetes.io/unreachable"
	taintUnschedulable = "node.kubernetes.io/unschedulable"
)

// DefaultTolerations are added to every daemon set pod.
var DefaultTolerations = []api.Toleration{
	{Key: taintNotReady, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute},
	{Key: taintUnreachable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute},
	{Key: taintUnschedulable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule},
}

// Plan is what to do for one daemon set.
type Plan struct {
	// Create names the nodes that get a new pod.
	Create []string
	// Delete are the pods to delete.
	Delete []*api.Pod
	// Status is the status to write.
	Status api.DaemonSetStatus
	// RequeueAfter is when the next Ready pod becomes available
	// (minReadySeconds), which changes the status and may let a rolling
	// update go on; 0 for none.
	RequeueAfter time.Duration
}

// NodeOf is the node a daemon set pod runs on or is pinned to.
func NodeOf(p *api.Pod) string {
	if p.Spec.NodeName != "" {
		return p.Spec.NodeName
	}
	if a := p.Spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.Required != nil {
		for _, t := range a.NodeAffinity.Required.NodeSelectorTerms {
			for _, f := range t.MatchFields {
				if f.Key == "metadata.name" && f.Operator == api.NodeSelectorOpIn && len(f.Values) == 1 {
					return f.Values[0]
				}
			}
		}
	}
	return ""
}

// Eligible reports whether the daemon set wants a pod on node n.
func Eligible(ds *api.DaemonSet, n *api.Node) bool {
	if n.DeletionTimestamp != nil {
		return false
	}
	spec := &ds.Spec.Template.Spec
	for k, v := range spec.NodeSelector {
		if n.Labels[k] != v {
			return false
		}
	}
	if a := spec.Affinity; a != nil && a.NodeAffinity != nil && a.NodeAffinity.Required != nil &&
		!a.NodeAffinity.Required.Matches(n.Name, n.Labels) {
		return false
	}
	tols := append(append([]api.Toleration(nil), spec.Tolerations...), DefaultTolerations...)
	for i := range n.Spec.Taints {
		t := &n.Spec.Taints[i]
		if t.Effect == api.TaintEffectPreferNoSchedule {
			continue
		}
		ok := false
		for j := range tols {
			if tols[j].ToleratesTaint(t) {
				ok = true
				break
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

func podReady(p *api.Pod) bool {
	if p.DeletionTimestamp != nil {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// plan decides for ds given every node and the pods it owns, at time now.
// A pod counts as available once it has been Ready for minReadySeconds;
// until then its node counts as unavailable for the rolling update.
func plan(ds *api.DaemonSet, nodes []*api.Node, pods []*api.Pod, now time.Time) Plan {
	var p Plan
	hash := api.DaemonSetTemplateHash(&ds.Spec.Template)
	byNode := map[string][]*api.Pod{}
	for _, pod := range pods {
		byNode[NodeOf(pod)] = append(byNode[NodeOf(pod)], pod)
	}
	eligible := map[string]bool{}
	for _, n := range nodes {
		if Eligible(ds, n) {
			eligible[n.Name] = true
		}
	}
	names := make([]string, 0, len(byNode))
	for name := range byNode {
		names = append(names, name)
	}
	for name := range eligible {
		if _, ok := byNode[name]; !ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)

	st := &p.Status
	st.ObservedGeneration = ds.Generation
	st.DesiredNumberScheduled = int32(len(eligible))
	var old []*api.Pod // available pods of an older template, candidates for the rolling update
	unavailable := 0
	for _, name := range names {
		ps := byNode[name]
		if !eligible[name] {
			for _, pod := range ps {
				if pod.DeletionTimestamp == nil {
					p.Delete = append(p.Delete, pod)
				}
			}
			if len(ps) > 0 {
				st.NumberMisscheduled++
			}
			continue
		}
		// Live pods on the node; failed ones are replaced.
		var live []*api.Pod
		terminating := false
		for _, pod := range ps {
			switch {
			case pod.DeletionTimestamp != nil:
				terminating = true
			case pod.Status.Phase == api.PodFailed || pod.Status.Phase == api.PodSucceeded:
				p.Delete = append(p.Delete, pod)
			default:
				live = append(live, pod)
			}
		}
		if len(live) == 0 {
			unavailable++
			if !terminating {
				p.Create = append(p.Create, name)
			}
			continue
		}
		// Keep one pod, preferring the current template, then ready ones.
		sort.SliceStable(live, func(i, j int) bool {
			ci, cj := live[i].Labels[api.LabelControllerRevHash] == hash, live[j].Labels[api.LabelControllerRevHash] == hash
			if ci != cj {
				return ci
			}
			return podReady(live[i]) && !podReady(live[j])
		})
		keep := live[0]
		p.Delete = append(p.Delete, live[1:]...)
		st.CurrentNumberScheduled++
		current := keep.Labels[api.LabelControllerRevHash] == hash
		if current {
			st.UpdatedNumberScheduled++
		}
		if podReady(keep) {
			st.NumberReady++
		}
		if controllers.PodAvailable(keep, ds.Spec.MinReadySeconds, now) {
			st.NumberAvailable++
			if !current {
				old = append(old, keep)
			}
		} else {
			unavailable++
			if d := controllers.PodAvailableIn(keep, ds.Spec.MinReadySeconds, now); d > 0 && (p.RequeueAfter == 0 || d < p.RequeueAfter) {
				p.RequeueAfter = d
			}
			if !current && ds.Spec.UpdateStrategy.Type != api.DaemonSetOnDelete {
				// An old pod that is not available costs nothing to replace.
				p.Delete = append(p.Delete, keep)
			}
		}
	}
	st.NumberUnavailable = int32(unavailable)
	if ds.Spec.UpdateStrategy.Type != api.DaemonSetOnDelete {
		maxU := 1
		if ru := ds.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.MaxUnavailable != nil {
			if v, ok := api.BudgetValue(*ru.MaxUnavailable, len(eligible)); ok {
				maxU = max(v, 1)
			}
		}
		for _, pod := range old {
			if unavailable >= maxU {
				break
			}
			p.Delete = append(p.Delete, pod)
			unavailable++
		}
	}
	return p
}
