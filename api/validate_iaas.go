package api

// ValidateNodePool checks a node pool.
func ValidateNodePool(np *NodePool) ErrorList {
	return ValidateObjectMeta(&np.ObjectMeta, false, false)
}

// ValidateVirtualMachine checks a VM.
func ValidateVirtualMachine(vm *VirtualMachine) ErrorList {
	return ValidateObjectMeta(&vm.ObjectMeta, true, false)
}

// ValidateHypervisor checks a hypervisor.
func ValidateHypervisor(h *Hypervisor) ErrorList {
	return ValidateObjectMeta(&h.ObjectMeta, false, false)
}
