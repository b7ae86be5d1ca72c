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
	KindMachine        = "Machine"
)

// Condition types and reasons of the IaaS kinds.
const (
	// ConditionReachable is True while the control plane can talk to a
	// hypervisor (Hypervisor) or to the VM's hypervisor (Machine,
	// VirtualMachine).
	ConditionReachable = "Reachable"
	// ConditionJoined is True once a Machine's node has joined and is Ready.
	ConditionJoined = "Joined"
	// ConditionProvisioned is True once the provider created the VM.
	ConditionProvisioned = "Provisioned"
	// ConditionScaledToReplicas is True when a NodePool has as many joined
	// machines as it wants.
	ConditionScaledToReplicas = "ScaledToReplicas"
)

// Labels the IaaS layer sets.
const (
	// LabelNodePool names the NodePool of a Machine and of its Node.
	LabelNodePool = "iaas.cloudmgr.dev/nodepool"
	// LabelProvider names the provider of a Machine's Node ("libvirt",
	// "openstack", "sim").
	LabelProvider = "iaas.cloudmgr.dev/provider"
	// AnnotationVMRestart on a VirtualMachine asks for a reboot: `cloudctl
	// vm restart` sets it to the time of the request; the VM controller
	// reboots the VM and removes it.
	AnnotationVMRestart = "iaas.cloudmgr.dev/restart-requested"
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
	// VCPUs and Memory size the VMs when Flavor is empty.
	VCPUs  int32    `json:"vcpus,omitempty"`
	Memory Quantity `json:"memory,omitzero"`
	// Network is where the VMs' NIC goes: empty for user-mode networking
	// (the VM reaches the host's loopback at 10.0.2.2), "network:NAME" for
	// a libvirt network or "bridge:NAME" for a host bridge.
	Network string `json:"network,omitempty"`
	// Replicas is how many VMs the pool should have (default MinSize); the
	// node autoscaler changes it within MinSize..MaxSize.
	Replicas *int32 `json:"replicas,omitempty"`
	MinSize  int32  `json:"minSize"`
	MaxSize  int32  `json:"maxSize"`
	// Hypervisors, when set, are the only Hypervisor objects (by name) the
	// pool's VMs may be placed on.
	Hypervisors []string `json:"hypervisors,omitempty"`
	// JoinTimeoutSeconds is how long a new VM has to join and turn Ready
	// before it is deleted and replaced (default 600).
	JoinTimeoutSeconds int32 `json:"joinTimeoutSeconds,omitempty"`
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
	// ObservedGeneration is the generation last acted on.
	ObservedGeneration int64 `json:"observedGeneration,omitempty"`
	// Size is how many Machines the pool has (any phase but Deleting).
	Size int32 `json:"size"`
	// ReadyNodes is how many of them have a Ready node.
	ReadyNodes int32 `json:"readyNodes"`
	// Updated is how many of them were made from the current spec: a
	// change to the VMs' template (provider, flavor, size, image,
	// network, node labels or taints) replaces the others one at a time.
	Updated    int32       `json:"updated"`
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
	// Network is where the VM's NIC goes (see NodePoolSpec.Network).
	Network string `json:"network,omitempty"`
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
	// VMUnknown: its hypervisor cannot be reached.
	VMUnknown VirtualMachinePhase = "Unknown"
)

// VirtualMachineStatus is the observed state of a VM.
type VirtualMachineStatus struct {
	Phase      VirtualMachinePhase `json:"phase,omitempty"`
	Hypervisor string              `json:"hypervisor,omitempty"`
	MachineID  string              `json:"machineID,omitempty"`
	Addresses  []string            `json:"addresses,omitempty"`
	Message    string              `json:"message,omitempty"`
	Conditions []Condition         `json:"conditions,omitempty"`
	// ProviderID is the provider's ID of the VM ("libvirt://HV/UUID").
	ProviderID string `json:"providerID,omitempty"`
	// Host is the physical host the VM runs on.
	Host string `json:"host,omitempty"`
	// ConsoleTail is the last lines of the VM's console log.
	ConsoleTail string `json:"consoleTail,omitempty"`
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
	// MemoryAllocationRatio is the memory overcommit factor ("1.0" by
	// default).
	MemoryAllocationRatio string `json:"memoryAllocationRatio,omitempty"`
	Unschedulable         bool   `json:"unschedulable,omitempty"`
}

// HypervisorStatus is the observed state of a hypervisor.
type HypervisorStatus struct {
	Capacity   ResourceList `json:"capacity,omitempty"`
	Allocated  ResourceList `json:"allocated,omitempty"`
	Conditions []Condition  `json:"conditions,omitempty"`
	Hostname   string       `json:"hostname,omitempty"`
	// Machines is how many VMs of this system run there.
	Machines int32 `json:"machines,omitempty"`
}

// HypervisorList is a list of hypervisors.
type HypervisorList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta     `json:"metadata"`
	Items    []Hypervisor `json:"items"`
}

// --- Machine ---

// Machine records one VM this system made for a NodePool: which provider
// and hypervisor hold it, its provider ID, the physical host, and the node
// it became. Its name is the node's name. The NodePool controller creates
// and deletes Machines; the Machine controller makes the provider match.
type Machine struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       MachineSpec   `json:"spec"`
	Status     MachineStatus `json:"status,omitzero"`
}

// MachineSpec is the VM to create.
type MachineSpec struct {
	Provider string `json:"provider"`
	// Pool is the NodePool the machine belongs to.
	Pool string `json:"pool,omitempty"`
	// Hypervisor is the Hypervisor object chosen by placement (libvirt);
	// empty for clouds that place VMs themselves.
	Hypervisor string   `json:"hypervisor,omitempty"`
	Flavor     string   `json:"flavor,omitempty"`
	VCPUs      int32    `json:"vcpus,omitempty"`
	Memory     Quantity `json:"memory,omitzero"`
	Image      string   `json:"image,omitempty"`
	Network    string   `json:"network,omitempty"`
	// Labels and Taints are put on the machine's node when it joins.
	Labels map[string]string `json:"labels,omitempty"`
	Taints []Taint           `json:"taints,omitempty"`
}

// MachinePhase is the lifecycle phase of a Machine.
type MachinePhase string

// Machine phases.
const (
	MachinePending      MachinePhase = "Pending"      // not yet sent to the provider
	MachineProvisioning MachinePhase = "Provisioning" // the provider is creating it
	MachineRunning      MachinePhase = "Running"      // the VM runs; its node has not joined
	MachineJoined       MachinePhase = "Joined"       // its node joined and is Ready
	MachineFailed       MachinePhase = "Failed"       // create failed or it never joined
	MachineDeleting     MachinePhase = "Deleting"
	MachineUnknown      MachinePhase = "Unknown" // its hypervisor cannot be reached
)

// MachineStatus is the observed state of a Machine.
type MachineStatus struct {
	Phase MachinePhase `json:"phase,omitempty"`
	// ProviderID is the provider's ID of the VM; it becomes the Node's
	// spec.providerID.
	ProviderID string `json:"providerID,omitempty"`
	// Host is the physical host (libvirt host name, or Nova hostId); it
	// becomes the Node's topology.cloud/hypervisor label.
	Host      string   `json:"host,omitempty"`
	NodeName  string   `json:"nodeName,omitempty"`
	Addresses []string `json:"addresses,omitempty"`
	// ProvisionedTime is when the provider reported the VM created;
	// JoinedTime when its node first turned Ready.
	ProvisionedTime Time        `json:"provisionedTime,omitzero"`
	JoinedTime      Time        `json:"joinedTime,omitzero"`
	Message         string      `json:"message,omitempty"`
	Conditions      []Condition `json:"conditions,omitempty"`
}

// MachineList is a list of Machines.
type MachineList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta  `json:"metadata"`
	Items    []Machine `json:"items"`
}
