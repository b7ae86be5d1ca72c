package api

import "strings"

// Defaulting functions fill unset fields in place. Each is idempotent:
// applying it twice gives the same object as applying it once.

// DefaultNamespace defaults a namespace: phase Active.
func DefaultNamespace(ns *Namespace) {
	if ns.Status.Phase == "" {
		ns.Status.Phase = NamespaceActive
	}
}

// DefaultPod defaults a pod's restart policy, grace period, scheduler name,
// image pull policies, port protocols, probes and toleration operators.
func DefaultPod(p *Pod) {
	s := &p.Spec
	if s.RestartPolicy == "" {
		s.RestartPolicy = RestartPolicyAlways
	}
	if s.TerminationGracePeriodSeconds == nil {
		g := int64(DefaultTerminationGracePeriodSeconds)
		s.TerminationGracePeriodSeconds = &g
	}
	if s.SchedulerName == "" {
		s.SchedulerName = DefaultSchedulerName
	}
	for i := range s.Containers {
		c := &s.Containers[i]
		if c.ImagePullPolicy == "" {
			c.ImagePullPolicy = defaultPullPolicy(c.Image)
		}
		for j := range c.Ports {
			if c.Ports[j].Protocol == "" {
				c.Ports[j].Protocol = ProtocolTCP
			}
		}
		for _, pr := range []*Probe{c.LivenessProbe, c.ReadinessProbe, c.StartupProbe} {
			defaultProbe(pr)
		}
	}
	for i := range s.Tolerations {
		if s.Tolerations[i].Operator == "" {
			s.Tolerations[i].Operator = TolerationOpEqual
		}
	}
}

// Pod defaults.
const (
	DefaultTerminationGracePeriodSeconds = 30
	DefaultSchedulerName                 = "default-scheduler"
)

// Probe defaults, as in Kubernetes.
const (
	DefaultProbeTimeoutSeconds   = 1
	DefaultProbePeriodSeconds    = 10
	DefaultProbeSuccessThreshold = 1
	DefaultProbeFailureThreshold = 3
)

// defaultProbe fills a probe's timings and an HTTP GET's scheme and path;
// a nil probe is left alone.
func defaultProbe(p *Probe) {
	if p == nil {
		return
	}
	if p.TimeoutSeconds == 0 {
		p.TimeoutSeconds = DefaultProbeTimeoutSeconds
	}
	if p.PeriodSeconds == 0 {
		p.PeriodSeconds = DefaultProbePeriodSeconds
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = DefaultProbeSuccessThreshold
	}
	if p.FailureThreshold == 0 {
		p.FailureThreshold = DefaultProbeFailureThreshold
	}
	if h := p.HTTPGet; h != nil {
		if h.Scheme == "" {
			h.Scheme = URISchemeHTTP
		}
		if h.Path == "" {
			h.Path = "/"
		}
	}
}

// defaultPullPolicy is Always for ":latest" or untagged images, else
// IfNotPresent (a digest pins the image).
func defaultPullPolicy(image string) PullPolicy {
	if strings.Contains(image, "@") {
		return PullIfNotPresent
	}
	name := image
	if i := strings.LastIndex(name, "/"); i >= 0 {
		name = name[i+1:]
	}
	tag := ""
	if i := strings.LastIndex(name, ":"); i >= 0 {
		tag = name[i+1:]
	}
	if tag == "" || tag == "latest" {
		return PullAlways
	}
	return PullIfNotPresent
}

// DefaultNode defaults a node (nothing yet).
func DefaultNode(n *Node) {}

// DefaultEvent defaults an event: type Normal, count 1.
func DefaultEvent(e *Event) {
	if e.Type == "" {
		e.Type = EventTypeNormal
	}
	if e.Count == 0 {
		e.Count = 1
	}
}

// DefaultVirtualMachine defaults a VM: running true.
func DefaultVirtualMachine(vm *VirtualMachine) {
	if vm.Spec.Running == nil {
		t := true
		vm.Spec.Running = &t
	}
}

// DefaultHypervisor defaults a hypervisor: provider libvirt, CPU allocation
// ratio 1.0.
func DefaultHypervisor(h *Hypervisor) {
	if h.Spec.Provider == "" {
		h.Spec.Provider = "libvirt"
	}
	if h.Spec.CPUAllocationRatio == "" {
		h.Spec.CPUAllocationRatio = "1.0"
	}
}
