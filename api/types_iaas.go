package api

// IaaS group kinds: where VMs come from (hypervisors, clouds) and the VMs
// themselves, both tenant VMs and pools of VMs that become nodes.

// Names of the IaaS group and its version.
const (
	GroupIaaS          = "iaas.cloudmgr.dev"
	VersionIaaS        = "v1alpha1"
	APIVersionIaaS     = GroupIaaS + "/" + VersionIaaS
	KindNodePool       = "NodePool"
	KindVirtualMachine = "VirtualMachine"
	KindHypervisor     = "Hypervisor"
)

// Condition is a generic condition of an IaaS object, shaped like
// Kubernetes' metav1.Condition.
type Condition struct {
	Type               string          `json:"type"`
	Status             ConditionStatus `json:"status"`
	Reason             string          `json:"reason,omitempty"`
	Message            string          `json:"message,omitempty"`
	LastTransitionTime Time            `json:"lastTransitionTime,omitzero"`
}

// --- NodePool ---

// NodePool is a group of like VMs from one provider that join as nodes; the
// node autoscaler resizes it between minSize and maxSize.
type NodePool struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       NodePoolSpec   `json:"spec"`
	Status     NodePoolStatus `json:"status,omitzero"`
}

// NodePoolSpec is the desired state of a node pool.
type NodePoolSpec struct {
	// Provider names the VM source ("libvirt", "openstack", "sim").
	Provider string `json:"provider"`
	Flavor   string `json:"flavor,omitempty"`
	Image    string `json:"image,omitempty"`
	MinSize  int32  `json:"minSize"`
	MaxSize  int32  `json:"maxSize"`
	// Priority orders pools when growing: lower is tried first, so private
	// pools come before public ones.
	Priority int32 `json:"priority,omitempty"`
	// HypervisorSelector restricts which hypervisors may host the pool's VMs.
	HypervisorSelector map[string]string `json:"hypervisorSelector,omitempty"`
	// Labels and Taints are put on every node of the pool.
	Labels map[string]string `json:"labels,omitempty"`
	Taints []Taint           `json:"taints,omitempty"`
}

// NodePoolStatus is the observed state of a node pool.
type NodePoolStatus struct {
	Size       int32       `json:"size"`
	ReadyNodes int32       `json:"readyNodes"`
	Conditions []Condition `json:"conditions,omitempty"`
}

// NodePoolList is a list of node pools.
type NodePoolList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta   `json:"metadata"`
	Items    []NodePool `json:"items"`
}

// --- VirtualMachine ---

// VirtualMachine is a tenant VM.
type VirtualMachine struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       VirtualMachineSpec   `json:"spec"`
	Status     VirtualMachineStatus `json:"status,omitzero"`
}

// VirtualMachineSpec is the desired state of a VM: either a flavor or an
// explicit size (cpus and memory).
type VirtualMachineSpec struct {
	Provider string   `json:"provider,omitempty"`
	Flavor   string   `json:"flavor,omitempty"`
	CPUs     int32    `json:"cpus,omitempty"`
	Memory   Quantity `json:"memory,omitzero"`
	Image    string   `json:"image,omitempty"`
	// Hypervisor pins the VM to one hypervisor.
	Hypervisor string `json:"hypervisor,omitempty"`
	// Running says whether the VM should be powered on (default true).
	Running  *bool  `json:"running,omitempty"`
	UserData string `json:"userData,omitempty"`
}

// VirtualMachinePhase is the lifecycle phase of a VM.
type VirtualMachinePhase string

// VM phases.
const (
	VMPending  VirtualMachinePhase = "Pending"
	VMCreating VirtualMachinePhase = "Creating"
	VMRunning  VirtualMachinePhase = "Running"
	VMStopped  VirtualMachinePhase = "Stopped"
	VMFailed   VirtualMachinePhase = "Failed"
	VMDeleting VirtualMachinePhase = "Deleting"
)

// VirtualMachineStatus is the observed state of a VM.
type VirtualMachineStatus struct {
	Phase      VirtualMachinePhase `json:"phase,omitempty"`
	Hypervisor string              `json:"hypervisor,omitempty"`
	MachineID  string              `json:"machineID,omitempty"`
	Addresses  []string            `json:"addresses,omitempty"`
	Message    string              `json:"message,omitempty"`
	Conditions []Condition         `json:"conditions,omitempty"`
}

// VirtualMachineList is a list of VMs.
type VirtualMachineList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta         `json:"metadata"`
	Items    []VirtualMachine `json:"items"`
}

// --- Hypervisor ---

// Hypervisor is a host that runs VMs, such as a libvirt/KVM server.
type Hypervisor struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       HypervisorSpec   `json:"spec"`
	Status     HypervisorStatus `json:"status,omitzero"`
}

// HypervisorSpec is how to reach and use a hypervisor.
type HypervisorSpec struct {
	// URI is the connection URI, e.g. qemu:///system or qemu+tcp://host/system.
	URI string `json:"uri"`
	// Provider is the driver that talks to it (default "libvirt").
	Provider string            `json:"provider,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	// CPUAllocationRatio is the CPU overcommit factor as a decimal string
	// ("4.0"); default "1.0".
	CPUAllocationRatio string `json:"cpuAllocationRatio,omitempty"`
	Unschedulable      bool   `json:"unschedulable,omitempty"`
}

// HypervisorStatus is the observed state of a hypervisor.
type HypervisorStatus struct {
	Capacity   ResourceList `json:"capacity,omitempty"`
	Allocated  ResourceList `json:"allocated,omitempty"`
	Conditions []Condition  `json:"conditions,omitempty"`
	Hostname   string       `json:"hostname,omitempty"`
}

// HypervisorList is a list of hypervisors.
type HypervisorList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta     `json:"metadata"`
	Items    []Hypervisor `json:"items"`
}
