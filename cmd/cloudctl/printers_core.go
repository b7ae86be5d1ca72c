package main

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

func namespaceColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "STATUS", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			ns := obj.(*api.Namespace)
			return []string{ns.Name, string(ns.Status.Phase), age(ns.CreationTimestamp, now)}, nil
		},
	}
}

func podColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "READY", "STATUS", "RESTARTS", "AGE"},
		wide:    []string{"IP", "NODE", "NOMINATED NODE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			p := obj.(*api.Pod)
			ready, restarts := 0, 0
			for _, cs := range p.Status.ContainerStatuses {
				if cs.Ready {
					ready++
				}
				restarts += int(cs.RestartCount)
			}
			total := max(len(p.Spec.Containers), len(p.Status.ContainerStatuses))
			return []string{
					p.Name,
					fmt.Sprintf("%d/%d", ready, total),
					podStatus(p),
					strconv.Itoa(restarts),
					age(p.CreationTimestamp, now),
				}, []string{
					orNone(p.Status.PodIP),
					orNone(p.Spec.NodeName),
					orNone(p.Status.NominatedNodeName),
				}
		},
	}
}

// podStatus is the STATUS column of a pod, computed as kubectl does: the
// pod's reason, else the reason of a waiting or terminated container, else
// the phase; Terminating once deletion started.
func podStatus(p *api.Pod) string {
	reason := string(p.Status.Phase)
	if p.Status.Reason != "" {
		reason = p.Status.Reason
	}
	if p.Status.Reason == "" {
		// The last container in trouble names the status, as in kubectl.
		for i := len(p.Status.ContainerStatuses) - 1; i >= 0; i-- {
			if r := containerReason(p.Status.ContainerStatuses[i].State); r != "" {
				reason = r
				break
			}
		}
	}
	if p.DeletionTimestamp != nil {
		reason = "Terminating"
	}
	if reason == "" {
		reason = string(api.PodPending)
	}
	return reason
}

// containerReason is why a container is not running, or "" if it is.
func containerReason(st api.ContainerState) string {
	switch {
	case st.Waiting != nil:
		return st.Waiting.Reason
	case st.Terminated != nil && st.Terminated.Reason != "":
		return st.Terminated.Reason
	case st.Terminated != nil && st.Terminated.Signal != 0:
		return fmt.Sprintf("Signal:%d", st.Terminated.Signal)
	case st.Terminated != nil:
		return fmt.Sprintf("ExitCode:%d", st.Terminated.ExitCode)
	}
	return ""
}

func nodeColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "STATUS", "ROLES", "AGE", "VERSION"},
		wide:    []string{"INTERNAL-IP", "OS-IMAGE", "KERNEL-VERSION", "CONTAINER-RUNTIME", "PROVIDER"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			n := obj.(*api.Node)
			info := n.Status.NodeInfo
			return []string{
					n.Name,
					nodeStatus(n),
					nodeRoles(n),
					age(n.CreationTimestamp, now),
					orNone(info.KubeletVersion),
				}, []string{
					orNone(nodeAddress(n, api.NodeInternalIP)),
					orUnknown(info.OSImage),
					orUnknown(info.KernelVersion),
					orUnknown(info.ContainerRuntimeVersion),
					nodeProvider(n),
				}
		},
	}
}

// nodeStatus reads the Ready condition: Ready, NotReady or Unknown, with
// ",HypervisorUnreachable" while the IaaS layer cannot reach the node's
// hypervisor and ",SchedulingDisabled" for a cordoned node.
func nodeStatus(n *api.Node) string {
	s, hv := "Unknown", ""
	for _, c := range n.Status.Conditions {
		switch {
		case c.Type == api.NodeHypervisorReachable && c.Status != api.ConditionTrue:
			hv = ",HypervisorUnreachable"
		case c.Type != api.NodeReady:
		case c.Status == api.ConditionTrue:
			s = "Ready"
		case c.Status == api.ConditionFalse:
			s = "NotReady"
		}
	}
	s += hv
	if n.Spec.Unschedulable {
		s += ",SchedulingDisabled"
	}
	return s
}

// nodeRoles lists the roles named by node-role labels, "<none>" if none.
func nodeRoles(n *api.Node) string {
	var roles []string
	for k := range n.Labels {
		for _, p := range []string{"node-role.kubernetes.io/", "node-role.cloudmgr.dev/"} {
			if r, ok := strings.CutPrefix(k, p); ok && r != "" {
				roles = append(roles, r)
			}
		}
	}
	if len(roles) == 0 {
		return "<none>"
	}
	sort.Strings(roles)
	return strings.Join(roles, ",")
}

// nodeAddress is the first address of a type, or "".
func nodeAddress(n *api.Node, t api.NodeAddressType) string {
	for _, a := range n.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return ""
}

func eventColumns() columnSet {
	return columnSet{
		headers: []string{"LAST SEEN", "TYPE", "REASON", "OBJECT", "MESSAGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			e := obj.(*api.Event)
			ref := strings.ToLower(e.InvolvedObject.Kind) + "/" + e.InvolvedObject.Name
			return []string{age(eventLastSeen(e), now), e.Type, e.Reason, ref, strings.TrimSpace(e.Message)}, nil
		},
	}
}

// eventLastSeen is when an event last happened, falling back on when it
// first did and on when it was recorded.
func eventLastSeen(e *api.Event) api.Time {
	switch {
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp
	case !e.FirstTimestamp.IsZero():
		return e.FirstTimestamp
	}
	return e.CreationTimestamp
}

func tenantColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "NAMESPACES", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			t := obj.(*api.Tenant)
			return []string{t.Name, orNone(strings.Join(t.Spec.Namespaces, ",")), age(t.CreationTimestamp, now)}, nil
		},
	}
}

// orUnknown is s, or "<unknown>" when s is empty.
func orUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

// labelSimulated marks a node of the simulator (providers/sim).
const labelSimulated = "cloudmgr.dev/simulated"

// nodeProvider names where a node's machine comes from: its Machine's
// provider (label), else the scheme of its provider ID, else <none>; a
// simulated node says so.
func nodeProvider(n *api.Node) string {
	p := n.Labels[api.LabelProvider]
	if p == "" {
		if scheme, _, ok := strings.Cut(n.Spec.ProviderID, "://"); ok {
			p = scheme
		}
	}
	if n.Labels[labelSimulated] == "true" {
		if p == "" {
			p = "sim"
		}
		return p + "(simulated)"
	}
	return orNone(p)
}
