package main

import (
	"fmt"
	"strings"

	"github.com/cloudmgr/cloud/api"
)

// pod describes a pod as kubectl does.
func (d *describer) pod(p *api.Pod) {
	d.line(0, "Name:\t%s", p.Name)
	d.line(0, "Namespace:\t%s", p.Namespace)
	if p.Spec.Priority != nil {
		d.line(0, "Priority:\t%d", *p.Spec.Priority)
	}
	if p.Spec.PriorityClassName != "" {
		d.line(0, "Priority Class Name:\t%s", p.Spec.PriorityClassName)
	}
	node := orNone(p.Spec.NodeName)
	if p.Spec.NodeName != "" && p.Status.HostIP != "" {
		node += "/" + p.Status.HostIP
	}
	d.line(0, "Node:\t%s", node)
	if p.Status.StartTime != nil {
		d.line(0, "Start Time:\t%s", d.time(*p.Status.StartTime))
	}
	d.stringMap(0, "Labels", p.Labels)
	d.stringMap(0, "Annotations", p.Annotations)
	d.line(0, "CreationTimestamp:\t%s", d.time(p.CreationTimestamp))
	status := string(p.Status.Phase)
	if p.DeletionTimestamp != nil {
		status = "Terminating"
		if p.DeletionGracePeriodSeconds != nil {
			d.line(0, "Termination Grace Period:\t%ds", *p.DeletionGracePeriodSeconds)
		}
	}
	d.line(0, "Status:\t%s", status)
	if p.Status.Reason != "" {
		d.line(0, "Reason:\t%s", p.Status.Reason)
	}
	if p.Status.Message != "" {
		d.line(0, "Message:\t%s", p.Status.Message)
	}
	d.line(0, "IP:\t%s", p.Status.PodIP)
	if p.Status.NominatedNodeName != "" {
		d.line(0, "NominatedNodeName:\t%s", p.Status.NominatedNodeName)
	}
	d.containers(p)
	d.podConditions(p.Status.Conditions)
	d.stringMap(0, "Node-Selectors", p.Spec.NodeSelector)
	d.tolerations(p.Spec.Tolerations)
	d.topologySpread(p.Spec.TopologySpreadConstraints)
}

// containers writes the Containers section of a pod.
func (d *describer) containers(p *api.Pod) {
	if len(p.Spec.Containers) == 0 {
		return
	}
	statuses := map[string]api.ContainerStatus{}
	for _, cs := range p.Status.ContainerStatuses {
		statuses[cs.Name] = cs
	}
	d.line(0, "Containers:")
	for _, c := range p.Spec.Containers {
		cs, hasStatus := statuses[c.Name]
		d.line(1, "%s:", c.Name)
		if cs.ContainerID != "" {
			d.line(2, "Container ID:\t%s", cs.ContainerID)
		}
		d.line(2, "Image:\t%s", c.Image)
		if cs.ImageID != "" {
			d.line(2, "Image ID:\t%s", cs.ImageID)
		}
		d.ports(c.Ports)
		d.stringList(2, "Command", c.Command)
		d.stringList(2, "Args", c.Args)
		if hasStatus {
			d.containerState(2, "State", cs.State)
			if cs.LastState != (api.ContainerState{}) {
				d.containerState(2, "Last State", cs.LastState)
			}
			d.line(2, "Ready:\t%s", titleBool(cs.Ready))
			d.line(2, "Restart Count:\t%d", cs.RestartCount)
		} else {
			d.line(2, "State:\tWaiting")
		}
		d.resourceList(2, "Limits", c.Resources.Limits)
		d.resourceList(2, "Requests", c.Resources.Requests)
		for _, pr := range []struct {
			title string
			probe *api.Probe
		}{{"Liveness", c.LivenessProbe}, {"Readiness", c.ReadinessProbe}, {"Startup", c.StartupProbe}} {
			if pr.probe != nil {
				d.line(2, "%s:\t%s", pr.title, describeProbe(pr.probe))
			}
		}
		if len(c.Env) == 0 {
			d.line(2, "Environment:\t<none>")
		} else {
			d.line(2, "Environment:")
			for _, e := range c.Env {
				d.line(3, "%s:\t%s", e.Name, e.Value)
			}
		}
	}
}

// titleBool is "True" or "False", as kubectl prints booleans.
func titleBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// describeProbe is a probe as kubectl writes it:
// "http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3".
func describeProbe(p *api.Probe) string {
	var handler string
	switch {
	case p.Exec != nil:
		handler = fmt.Sprintf("exec %v", p.Exec.Command)
	case p.HTTPGet != nil:
		h := p.HTTPGet
		scheme := strings.ToLower(string(h.Scheme))
		if scheme == "" {
			scheme = "http"
		}
		host := h.Host
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
		handler = fmt.Sprintf("http-get %s://%s:%s%s", scheme, host, h.Port.String(), h.Path)
	case p.TCPSocket != nil:
		handler = fmt.Sprintf("tcp-socket %s:%s", p.TCPSocket.Host, p.TCPSocket.Port.String())
	default:
		handler = "unknown"
	}
	return fmt.Sprintf("%s delay=%ds timeout=%ds period=%ds #success=%d #failure=%d", handler,
		p.InitialDelaySeconds, p.TimeoutSeconds, p.PeriodSeconds, p.SuccessThreshold, p.FailureThreshold)
}

// ports writes "Port: 80/TCP" or, for several, "Ports: 80/TCP, 443/TCP".
func (d *describer) ports(ports []api.ContainerPort) {
	if len(ports) == 0 {
		d.line(2, "Port:\t<none>")
		return
	}
	parts := make([]string, len(ports))
	for i, p := range ports {
		proto := p.Protocol
		if proto == "" {
			proto = api.ProtocolTCP
		}
		parts[i] = fmt.Sprintf("%d/%s", p.ContainerPort, proto)
		if p.HostPort != 0 {
			parts[i] += fmt.Sprintf(" (host %d)", p.HostPort)
		}
	}
	if len(parts) == 1 {
		d.line(2, "Port:\t%s", parts[0])
		return
	}
	d.line(2, "Ports:\t%s", strings.Join(parts, ", "))
}

// stringList writes a list with one item a line below its title.
func (d *describer) stringList(level int, title string, items []string) {
	if len(items) == 0 {
		return
	}
	d.line(level, "%s:", title)
	for _, it := range items {
		d.line(level+1, "%s", it)
	}
}

// containerState writes the state of a container and its details.
func (d *describer) containerState(level int, title string, st api.ContainerState) {
	switch {
	case st.Running != nil:
		d.line(level, "%s:\tRunning", title)
		d.line(level+1, "Started:\t%s", d.time(st.Running.StartedAt))
	case st.Waiting != nil:
		d.line(level, "%s:\tWaiting", title)
		if st.Waiting.Reason != "" {
			d.line(level+1, "Reason:\t%s", st.Waiting.Reason)
		}
		if st.Waiting.Message != "" {
			d.line(level+1, "Message:\t%s", st.Waiting.Message)
		}
	case st.Terminated != nil:
		t := st.Terminated
		d.line(level, "%s:\tTerminated", title)
		if t.Reason != "" {
			d.line(level+1, "Reason:\t%s", t.Reason)
		}
		if t.Message != "" {
			d.line(level+1, "Message:\t%s", t.Message)
		}
		d.line(level+1, "Exit Code:\t%d", t.ExitCode)
		if t.Signal != 0 {
			d.line(level+1, "Signal:\t%d", t.Signal)
		}
		d.line(level+1, "Started:\t%s", d.time(t.StartedAt))
		d.line(level+1, "Finished:\t%s", d.time(t.FinishedAt))
	default:
		d.line(level, "%s:\tWaiting", title)
	}
}

// tolerations writes "key=value:effect op=Exists for 300s" lines.
func (d *describer) tolerations(ts []api.Toleration) {
	if len(ts) == 0 {
		d.line(0, "Tolerations:\t<none>")
		return
	}
	for i, t := range ts {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		if t.Effect != "" {
			s += ":" + string(t.Effect)
		}
		if t.Operator == api.TolerationOpExists && t.Value == "" {
			s += " op=Exists"
		}
		if t.TolerationSeconds != nil {
			s += fmt.Sprintf(" for %ds", *t.TolerationSeconds)
		}
		if i == 0 {
			d.line(0, "Tolerations:\t%s", s)
		} else {
			d.line(0, "\t%s", s)
		}
	}
}

// node describes a node as kubectl does.
func (d *describer) node(n *api.Node) {
	d.line(0, "Name:\t%s", n.Name)
	d.line(0, "Roles:\t%s", nodeRoles(n))
	d.stringMap(0, "Labels", n.Labels)
	d.stringMap(0, "Annotations", n.Annotations)
	d.line(0, "CreationTimestamp:\t%s", d.time(n.CreationTimestamp))
	if len(n.Spec.Taints) == 0 {
		d.line(0, "Taints:\t<none>")
	}
	for i, t := range n.Spec.Taints {
		s := t.Key
		if t.Value != "" {
			s += "=" + t.Value
		}
		s += ":" + string(t.Effect)
		if i == 0 {
			d.line(0, "Taints:\t%s", s)
		} else {
			d.line(0, "\t%s", s)
		}
	}
	d.line(0, "Unschedulable:\t%t", n.Spec.Unschedulable)
	if len(n.Status.Conditions) > 0 {
		d.line(0, "Conditions:")
		d.line(1, "Type\tStatus\tLastHeartbeatTime\tLastTransitionTime\tReason\tMessage")
		d.line(1, "----\t------\t-----------------\t------------------\t------\t-------")
		for _, c := range n.Status.Conditions {
			d.line(1, "%s \t%s \t%s \t%s \t%s \t%s", c.Type, c.Status,
				d.time(c.LastHeartbeatTime), d.time(c.LastTransitionTime), c.Reason, c.Message)
		}
	}
	if len(n.Status.Addresses) > 0 {
		d.line(0, "Addresses:")
		for _, a := range n.Status.Addresses {
			d.line(1, "%s:\t%s", a.Type, a.Address)
		}
	}
	d.resourceList(0, "Capacity", n.Status.Capacity)
	d.resourceList(0, "Allocatable", n.Status.Allocatable)
	info := n.Status.NodeInfo
	d.line(0, "System Info:")
	d.line(1, "Machine ID:\t%s", info.MachineID)
	d.line(1, "Kernel Version:\t%s", info.KernelVersion)
	d.line(1, "OS Image:\t%s", info.OSImage)
	d.line(1, "Operating System:\t%s", info.OperatingSystem)
	d.line(1, "Architecture:\t%s", info.Architecture)
	d.line(1, "Container Runtime Version:\t%s", info.ContainerRuntimeVersion)
	d.line(1, "Agent Version:\t%s", info.KubeletVersion)
	if n.Spec.PodCIDR != "" {
		d.line(0, "PodCIDR:\t%s", n.Spec.PodCIDR)
	}
	if n.Spec.ProviderID != "" {
		d.line(0, "ProviderID:\t%s", n.Spec.ProviderID)
	}
}
