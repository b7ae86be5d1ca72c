package api

// ValidateNamespace checks a namespace.
func ValidateNamespace(ns *Namespace) ErrorList {
	return ValidateObjectMeta(&ns.ObjectMeta, false, true)
}

// ValidateNamespaceUpdate checks what may not change in a namespace.
func ValidateNamespaceUpdate(newNS, oldNS *Namespace) ErrorList { return nil }

// ValidatePod checks a pod.
func ValidatePod(p *Pod) ErrorList {
	return ValidateObjectMeta(&p.ObjectMeta, true, false)
}

// ValidatePodUpdate checks that only mutable pod fields changed.
func ValidatePodUpdate(newPod, oldPod *Pod) ErrorList { return nil }

// ValidateNode checks a node.
func ValidateNode(n *Node) ErrorList {
	return ValidateObjectMeta(&n.ObjectMeta, false, false)
}

// ValidateNodeUpdate checks what may not change in a node.
func ValidateNodeUpdate(newNode, oldNode *Node) ErrorList { return nil }

// ValidateEvent checks an event.
func ValidateEvent(e *Event) ErrorList {
	return ValidateObjectMeta(&e.ObjectMeta, true, false)
}

// ValidateTenant checks a tenant.
func ValidateTenant(t *Tenant) ErrorList {
	return ValidateObjectMeta(&t.ObjectMeta, false, true)
}
