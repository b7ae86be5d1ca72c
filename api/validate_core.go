package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"strings"
)

// ValidateNamespace checks a namespace: its name is a DNS-1123 label.
func ValidateNamespace(ns *Namespace) ErrorList {
	errs := ValidateObjectMeta(&ns.ObjectMeta, false, true)
	for i, f := range ns.Spec.Finalizers {
		errs = append(errs, each(fieldPath("spec.finalizers").index(i), f, IsQualifiedName(f))...)
	}
	if ph := ns.Status.Phase; ph != "" && !oneOf(ph, NamespaceActive, NamespaceTerminating) {
		errs = append(errs, notSupported("status.phase", ph, NamespaceActive, NamespaceTerminating))
	}
	return errs
}

// ValidateNamespaceUpdate checks what may not change in a namespace.
func ValidateNamespaceUpdate(newNS, oldNS *Namespace) ErrorList {
	return ValidateObjectMetaUpdate(&newNS.ObjectMeta, &oldNS.ObjectMeta)
}

// ValidatePod checks a pod: metadata, containers, policies and tolerations.
func ValidatePod(p *Pod) ErrorList {
	errs := ValidateObjectMeta(&p.ObjectMeta, true, false)
	return append(errs, validatePodSpec(&p.Spec, "spec")...)
}

func validatePodSpec(s *PodSpec, p fieldPath) ErrorList {
	var errs ErrorList
	if len(s.Containers) == 0 {
		errs = append(errs, required(p.child("containers"), "must have at least one container"))
	}
	names := map[string]bool{}
	for i := range s.Containers {
		c := &s.Containers[i]
		cp := p.child("containers").index(i)
		if c.Name != "" && names[c.Name] {
			errs = append(errs, duplicate(cp.child("name"), c.Name))
		}
		names[c.Name] = true
		errs = append(errs, validateContainer(c, cp)...)
	}
	if rp := s.RestartPolicy; rp != "" && !oneOf(rp, RestartPolicyAlways, RestartPolicyOnFailure, RestartPolicyNever) {
		errs = append(errs, notSupported(p.child("restartPolicy"), rp, RestartPolicyAlways, RestartPolicyOnFailure, RestartPolicyNever))
	}
	if g := s.TerminationGracePeriodSeconds; g != nil {
		errs = append(errs, validateNonNegative(p.child("terminationGracePeriodSeconds"), *g)...)
	}
	errs = append(errs, validateStringMap(s.NodeSelector, p.child("nodeSelector"))...)
	if s.NodeName != "" {
		errs = append(errs, each(p.child("nodeName"), s.NodeName, IsDNS1123Subdomain(s.NodeName))...)
	}
	if s.Hostname != "" {
		errs = append(errs, each(p.child("hostname"), s.Hostname, IsDNS1123Label(s.Hostname))...)
	}
	if s.SchedulerName != "" {
		errs = append(errs, each(p.child("schedulerName"), s.SchedulerName, IsDNS1123Subdomain(s.SchedulerName))...)
	}
	for i := range s.Tolerations {
		errs = append(errs, validateToleration(&s.Tolerations[i], p.child("tolerations").index(i))...)
	}
	errs = append(errs, validatePodScheduling(s, p)...)
	for i, ref := range s.ImagePullSecrets {
		rp := p.child("imagePullSecrets").index(i).child("name")
		if ref.Name == "" {
			errs = append(errs, required(rp, ""))
			continue
		}
		errs = append(errs, each(rp, ref.Name, IsDNS1123Subdomain(ref.Name))...)
	}
	return errs
}

func validateContainer(c *Container, p fieldPath) ErrorList {
	var errs ErrorList
	if c.Name == "" {
		errs = append(errs, required(p.child("name"), ""))
	} else {
		errs = append(errs, each(p.child("name"), c.Name, IsDNS1123Label(c.Name))...)
	}
	if strings.TrimSpace(c.Image) == "" {
		errs = append(errs, required(p.child("image"), ""))
	} else if c.Image != strings.TrimSpace(c.Image) {
		errs = append(errs, invalid(p.child("image"), c.Image, "must not have leading or trailing whitespace"))
	}
	if pp := c.ImagePullPolicy; pp != "" && !oneOf(pp, PullAlways, PullIfNotPresent, PullNever) {
		errs = append(errs, notSupported(p.child("imagePullPolicy"), pp, PullAlways, PullIfNotPresent, PullNever))
	}
	portNames := map[string]bool{}
	for i, port := range c.Ports {
		pp := p.child("ports").index(i)
		if port.Name != "" {
			errs = append(errs, each(pp.child("name"), port.Name, IsValidPortName(port.Name))...)
			if portNames[port.Name] {
				errs = append(errs, duplicate(pp.child("name"), port.Name))
			}
			portNames[port.Name] = true
		}
		if port.ContainerPort < 1 || port.ContainerPort > 65535 {
			errs = append(errs, invalid(pp.child("containerPort"), port.ContainerPort, "must be between 1 and 65535, inclusive"))
		}
		if port.HostPort != 0 && (port.HostPort < 1 || port.HostPort > 65535) {
			errs = append(errs, invalid(pp.child("hostPort"), port.HostPort, "must be between 1 and 65535, inclusive"))
		}
		if pr := port.Protocol; pr != "" && !oneOf(pr, ProtocolTCP, ProtocolUDP, ProtocolSCTP) {
			errs = append(errs, notSupported(pp.child("protocol"), pr, ProtocolTCP, ProtocolUDP, ProtocolSCTP))
		}
	}
	for i, e := range c.Env {
		ep := p.child("env").index(i)
		if e.Name == "" {
			errs = append(errs, required(ep.child("name"), ""))
		} else {
			errs = append(errs, each(ep.child("name"), e.Name, IsEnvVarName(e.Name))...)
		}
	}
	errs = append(errs, validateResources(&c.Resources, p.child("resources"))...)
	errs = append(errs, validateProbe(c.LivenessProbe, c, p.child("livenessProbe"), true)...)
	errs = append(errs, validateProbe(c.ReadinessProbe, c, p.child("readinessProbe"), false)...)
	errs = append(errs, validateProbe(c.StartupProbe, c, p.child("startupProbe"), true)...)
	return errs
}

// validateProbe checks a probe of container c: exactly one handler, its
// port, and its timings. successOne is set for liveness and startup
// probes, whose successThreshold must be 1.
func validateProbe(pr *Probe, c *Container, p fieldPath, successOne bool) ErrorList {
	if pr == nil {
		return nil
	}
	var errs ErrorList
	handlers := 0
	if pr.Exec != nil {
		handlers++
		if len(pr.Exec.Command) == 0 {
			errs = append(errs, required(p.child("exec").child("command"), ""))
		}
	}
	if h := pr.HTTPGet; h != nil {
		handlers++
		hp := p.child("httpGet")
		errs = append(errs, validateProbePort(h.Port, c, hp.child("port"))...)
		if h.Path != "" && !strings.HasPrefix(h.Path, "/") {
			errs = append(errs, invalid(hp.child("path"), h.Path, "must be an absolute path starting with '/'"))
		}
		if h.Scheme != "" && !oneOf(h.Scheme, URISchemeHTTP, URISchemeHTTPS) {
			errs = append(errs, notSupported(hp.child("scheme"), h.Scheme, URISchemeHTTP, URISchemeHTTPS))
		}
		for i, hd := range h.HTTPHeaders {
			if hd.Name == "" || strings.ContainsAny(hd.Name, " \t\r\n:") {
				errs = append(errs, invalid(hp.child("httpHeaders").index(i).child("name"), hd.Name, "must be a valid HTTP header name"))
			}
			if strings.ContainsAny(hd.Value, "\r\n") {
				errs = append(errs, invalid(hp.child("httpHeaders").index(i).child("value"), hd.Value, "must not contain line breaks"))
			}
		}
	}
	if pr.TCPSocket != nil {
		handlers++
		errs = append(errs, validateProbePort(pr.TCPSocket.Port, c, p.child("tcpSocket").child("port"))...)
	}
	switch {
	case handlers == 0:
		errs = append(errs, required(p, "must specify a handler type (exec, httpGet or tcpSocket)"))
	case handlers > 1:
		errs = append(errs, forbidden(p, "may not specify more than 1 handler type"))
	}
	errs = append(errs, validateNonNegative(p.child("initialDelaySeconds"), pr.InitialDelaySeconds)...)
	for _, f := range []struct {
		name string
		v    int32
	}{{"timeoutSeconds", pr.TimeoutSeconds}, {"periodSeconds", pr.PeriodSeconds},
		{"successThreshold", pr.SuccessThreshold}, {"failureThreshold", pr.FailureThreshold}} {
		if f.v < 1 {
			errs = append(errs, invalid(p.child(f.name), f.v, "must be greater than or equal to 1"))
		}
	}
	if successOne && pr.SuccessThreshold > 1 {
		errs = append(errs, invalid(p.child("successThreshold"), pr.SuccessThreshold, "must be 1"))
	}
	if g := pr.TerminationGracePeriodSeconds; g != nil {
		if !successOne {
			errs = append(errs, forbidden(p.child("terminationGracePeriodSeconds"), "may only be set for liveness and startup probes"))
		} else if *g < 1 {
			errs = append(errs, invalid(p.child("terminationGracePeriodSeconds"), *g, "must be greater than 0"))
		}
	}
	return errs
}

// validateProbePort checks a probe's port: a number in 1–65535, or the
// name of one of the container's ports.
func validateProbePort(port IntOrString, c *Container, p fieldPath) ErrorList {
	if !port.IsString {
		if port.IntVal < 1 || port.IntVal > 65535 {
			return ErrorList{invalid(p, port.IntVal, "must be between 1 and 65535, inclusive")}
		}
		return nil
	}
	if msgs := IsValidPortName(port.StrVal); len(msgs) > 0 {
		return each(p, port.StrVal, msgs)
	}
	for _, cp := range c.Ports {
		if cp.Name == port.StrVal {
			return nil
		}
	}
	return ErrorList{invalid(p, port.StrVal, "must match the name of one of the container's ports")}
}

// validateResources checks names, signs and that no request exceeds its limit.
func validateResources(r *ResourceRequirements, p fieldPath) ErrorList {
	allowed := []string{ResourceCPU, ResourceMemory, ResourceEphemeralStorage}
	errs := validateResourceList(r.Limits, p.child("limits"), allowed...)
	errs = append(errs, validateResourceList(r.Requests, p.child("requests"), allowed...)...)
	for _, name := range sortedKeys(r.Requests) {
		req := r.Requests[name]
		if lim, ok := r.Limits[name]; ok && req.Cmp(lim) > 0 {
			errs = append(errs, invalid(p.child("requests").child(name), req.String(),
				fmt.Sprintf("must be less than or equal to %s limit of %s", name, lim.String())))
		}
	}
	return errs
}

func validateToleration(t *Toleration, p fieldPath) ErrorList {
	var errs ErrorList
	if t.Key != "" {
		errs = append(errs, each(p.child("key"), t.Key, IsQualifiedName(t.Key))...)
	}
	switch t.Operator {
	case TolerationOpEqual, "":
		if t.Key == "" {
			errs = append(errs, invalid(p.child("operator"), string(t.Operator),
				"operator must be Exists when `key` is empty, which means \"match all values and all keys\""))
		}
		errs = append(errs, each(p.child("value"), t.Value, IsValidLabelValue(t.Value))...)
	case TolerationOpExists:
		if t.Value != "" {
			errs = append(errs, invalid(p.child("operator"), t.Value, "value must be empty when `operator` is 'Exists'"))
		}
	default:
		errs = append(errs, notSupported(p.child("operator"), t.Operator, TolerationOpEqual, TolerationOpExists))
	}
	if t.Effect != "" && !oneOf(t.Effect, TaintEffectNoSchedule, TaintEffectPreferNoSchedule, TaintEffectNoExecute) {
		errs = append(errs, notSupported(p.child("effect"), t.Effect, TaintEffectNoSchedule, TaintEffectPreferNoSchedule, TaintEffectNoExecute))
	}
	if t.TolerationSeconds != nil && t.Effect != TaintEffectNoExecute {
		errs = append(errs, invalid(p.child("effect"), string(t.Effect), "effect must be 'NoExecute' when `tolerationSeconds` is set"))
	}
	return errs
}

// podUpdateForbidden is the message for any other change to a pod's spec.
const podUpdateForbidden = "pod updates may not change fields other than `spec.containers[*].image`, " +
	"`spec.tolerations` (only additions to existing tolerations) and `spec.nodeName` (only when unset)"

// ValidatePodUpdate checks that only mutable pod fields changed: container
// images, added tolerations, and the node name while it is still empty
// (binding). Status is not checked here.
func ValidatePodUpdate(newPod, oldPod *Pod) ErrorList {
	errs := ValidateObjectMetaUpdate(&newPod.ObjectMeta, &oldPod.ObjectMeta)
	// Start from the old spec, let through what may change, and compare.
	allowed := oldPod.Spec
	allowed.Containers = append([]Container(nil), oldPod.Spec.Containers...)
	if len(newPod.Spec.Containers) == len(allowed.Containers) {
		for i := range allowed.Containers {
			allowed.Containers[i].Image = newPod.Spec.Containers[i].Image
		}
	}
	if oldPod.Spec.NodeName == "" {
		allowed.NodeName = newPod.Spec.NodeName
	}
	if containsTolerations(newPod.Spec.Tolerations, oldPod.Spec.Tolerations) {
		allowed.Tolerations = newPod.Spec.Tolerations
	} else {
		errs = append(errs, forbidden("spec.tolerations", "existing tolerations may not be removed or changed"))
	}
	if !sameJSON(allowed, newPod.Spec) {
		errs = append(errs, forbidden("spec", podUpdateForbidden))
	}
	return errs
}

// containsTolerations reports whether every toleration of sub is in all.
func containsTolerations(all, sub []Toleration) bool {
	for _, s := range sub {
		found := false
		for _, a := range all {
			if sameJSON(a, s) {
				found = true
				break
			}
		}
		if !found {
			return false
		}
	}
	return true
}

// sameJSON compares two values by their serialized form, which is how they
// are stored: nil and empty slices or maps are the same.
func sameJSON(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && bytes.Equal(ja, jb)
}

// ValidateNode checks a node: its name is a DNS-1123 subdomain.
func ValidateNode(n *Node) ErrorList {
	errs := ValidateObjectMeta(&n.ObjectMeta, false, false)
	if n.Spec.PodCIDR != "" {
		if _, _, err := net.ParseCIDR(n.Spec.PodCIDR); err != nil {
			errs = append(errs, invalid("spec.podCIDR", n.Spec.PodCIDR, "must be a CIDR such as 10.244.1.0/24"))
		}
	}
	errs = append(errs, validateTaints(n.Spec.Taints, "spec.taints")...)
	allowed := []string{ResourceCPU, ResourceMemory, ResourceEphemeralStorage, ResourcePods}
	errs = append(errs, validateResourceList(n.Status.Capacity, "status.capacity", allowed...)...)
	errs = append(errs, validateResourceList(n.Status.Allocatable, "status.allocatable", allowed...)...)
	errs = append(errs, validateNodeUsage(n.Status.Usage)...)
	for i, c := range n.Status.Conditions {
		cp := fieldPath("status.conditions").index(i)
		errs = append(errs, validateCondition(string(c.Type), c.Status, cp)...)
	}
	for i, a := range n.Status.Addresses {
		ap := fieldPath("status.addresses").index(i)
		if a.Type == "" {
			errs = append(errs, required(ap.child("type"), ""))
		}
		if a.Address == "" {
			errs = append(errs, required(ap.child("address"), ""))
		}
	}
	return errs
}

// validateCondition checks the type and status of any condition.
func validateCondition(typ string, status ConditionStatus, p fieldPath) ErrorList {
	var errs ErrorList
	if typ == "" {
		errs = append(errs, required(p.child("type"), ""))
	}
	if !oneOf(status, ConditionTrue, ConditionFalse, ConditionUnknown) {
		errs = append(errs, notSupported(p.child("status"), status, ConditionTrue, ConditionFalse, ConditionUnknown))
	}
	return errs
}

// validateTaints checks taints of a node or node pool.
func validateTaints(taints []Taint, p fieldPath) ErrorList {
	var errs ErrorList
	seen := map[string]bool{}
	for i, t := range taints {
		tp := p.index(i)
		if t.Key == "" {
			errs = append(errs, required(tp.child("key"), ""))
		} else {
			errs = append(errs, each(tp.child("key"), t.Key, IsQualifiedName(t.Key))...)
		}
		errs = append(errs, each(tp.child("value"), t.Value, IsValidLabelValue(t.Value))...)
		if !oneOf(t.Effect, TaintEffectNoSchedule, TaintEffectPreferNoSchedule, TaintEffectNoExecute) {
			if t.Effect == "" {
				errs = append(errs, required(tp.child("effect"), ""))
			} else {
				errs = append(errs, notSupported(tp.child("effect"), t.Effect, TaintEffectNoSchedule, TaintEffectPreferNoSchedule, TaintEffectNoExecute))
			}
		}
		id := t.Key + "\x00" + string(t.Effect)
		if seen[id] {
			errs = append(errs, duplicate(tp, t.Key+":"+string(t.Effect)))
		}
		seen[id] = true
	}
	return errs
}

// ValidateNodeUpdate checks what may not change in a node: the metadata,
// and podCIDR and providerID once set.
func ValidateNodeUpdate(newNode, oldNode *Node) ErrorList {
	errs := ValidateObjectMetaUpdate(&newNode.ObjectMeta, &oldNode.ObjectMeta)
	if o := oldNode.Spec.PodCIDR; o != "" && newNode.Spec.PodCIDR != o {
		errs = append(errs, forbidden("spec.podCIDR", "may not be changed once set"))
	}
	if o := oldNode.Spec.ProviderID; o != "" && newNode.Spec.ProviderID != o {
		errs = append(errs, forbidden("spec.providerID", "may not be changed once set"))
	}
	return errs
}

// ValidateEvent checks an event: what it is about, its type and count.
func ValidateEvent(e *Event) ErrorList {
	errs := ValidateObjectMeta(&e.ObjectMeta, true, false)
	if e.InvolvedObject.Kind == "" {
		errs = append(errs, required("involvedObject.kind", ""))
	}
	if e.InvolvedObject.Name == "" {
		errs = append(errs, required("involvedObject.name", ""))
	}
	if e.Type != "" && !oneOf(e.Type, EventTypeNormal, EventTypeWarning) {
		errs = append(errs, notSupported("type", e.Type, EventTypeNormal, EventTypeWarning))
	}
	errs = append(errs, validateNonNegative("count", e.Count)...)
	return errs
}

// ValidateTenant checks a tenant: its name is a DNS-1123 label and its
// namespaces are valid and listed once.
func ValidateTenant(t *Tenant) ErrorList {
	errs := ValidateObjectMeta(&t.ObjectMeta, false, true)
	seen := map[string]bool{}
	for i, ns := range t.Spec.Namespaces {
		np := fieldPath("spec.namespaces").index(i)
		errs = append(errs, each(np, ns, IsDNS1123Label(ns))...)
		if seen[ns] {
			errs = append(errs, duplicate(np, ns))
		}
		seen[ns] = true
	}
	return errs
}

// ValidateTenantUpdate checks what may not change in a tenant.
func ValidateTenantUpdate(newT, oldT *Tenant) ErrorList {
	return ValidateObjectMetaUpdate(&newT.ObjectMeta, &oldT.ObjectMeta)
}
