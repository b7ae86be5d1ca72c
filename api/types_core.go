package api

import "slices"

// Core group ("" group, apiVersion "v1") kinds, with Kubernetes field names
// so that manifests written for Kubernetes apply when they stay in this subset.

// Names of the core group and its version.
const (
	GroupCore     = ""
	VersionCore   = "v1"
	APIVersionV1  = "v1"
	KindNamespace = "Namespace"
	KindPod       = "Pod"
	KindNode      = "Node"
	KindEvent     = "Event"
	KindTenant    = "Tenant"
)

// ConditionStatus is the state of a condition: True, False or Unknown.
type ConditionStatus string

// Condition states.
const (
	ConditionTrue    ConditionStatus = "True"
	ConditionFalse   ConditionStatus = "False"
	ConditionUnknown ConditionStatus = "Unknown"
)

// --- Namespace ---

// Namespace is the tenant boundary: namespaced objects live in one.
type Namespace struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       NamespaceSpec   `json:"spec,omitzero"`
	Status     NamespaceStatus `json:"status,omitzero"`
}

// NamespaceSpec holds the finalizers that must run before the namespace is
// removed from storage.
type NamespaceSpec struct {
	Finalizers []string `json:"finalizers,omitempty"`
}

// NamespacePhase is the lifecycle phase of a namespace.
type NamespacePhase string

// Namespace phases.
const (
	NamespaceActive      NamespacePhase = "Active"
	NamespaceTerminating NamespacePhase = "Terminating"
)

// FinalizerKubernetes is the spec finalizer the API server puts on every
// namespace it creates (and on one being deleted without it); the
// namespace controller removes it, through the finalize subresource, once
// the namespace's contents are gone.
const FinalizerKubernetes = "kubernetes"

// SubresourceFinalize is the namespace subresource (PUT
// namespaces/NAME/finalize) that alone changes spec.finalizers.
const SubresourceFinalize = "finalize"

// PrepareNamespaceForCreate starts a namespace Active and with the
// FinalizerKubernetes spec finalizer, as Kubernetes' namespace strategy
// does, so its deletion always goes through the namespace controller.
func PrepareNamespaceForCreate(ns *Namespace) {
	ns.Status = NamespaceStatus{Phase: NamespaceActive}
	if !slices.Contains(ns.Spec.Finalizers, FinalizerKubernetes) {
		ns.Spec.Finalizers = append(ns.Spec.Finalizers, FinalizerKubernetes)
	}
}

// PrepareNamespaceForUpdate keeps the stored spec.finalizers on a plain
// update: only the finalize subresource changes them.
func PrepareNamespaceForUpdate(ns, old *Namespace) {
	ns.Spec.Finalizers = slices.Clone(old.Spec.Finalizers)
}

// NamespaceStatus is the observed state of a namespace.
type NamespaceStatus struct {
	Phase NamespacePhase `json:"phase,omitempty"`
	// Conditions report the progress of a deletion.
	Conditions []NamespaceCondition `json:"conditions,omitempty"`
}

// NamespaceConditionType names a namespace condition.
type NamespaceConditionType string

// Namespace condition types, as Kubernetes.
const (
	// NamespaceContentRemaining is True while objects remain in a
	// terminating namespace; its message counts them per resource.
	NamespaceContentRemaining NamespaceConditionType = "NamespaceContentRemaining"
	// NamespaceFinalizersRemaining is True while objects of the namespace
	// are held by finalizers; its message names them.
	NamespaceFinalizersRemaining NamespaceConditionType = "NamespaceFinalizersRemaining"
	// NamespaceDeletionContentFailure is True when deleting the contents
	// failed; the controller retries.
	NamespaceDeletionContentFailure NamespaceConditionType = "NamespaceDeletionContentFailure"
)

// NamespaceCondition is one aspect of a namespace's state.
type NamespaceCondition struct {
	Type               NamespaceConditionType `json:"type"`
	Status             ConditionStatus        `json:"status"`
	LastTransitionTime Time                   `json:"lastTransitionTime,omitzero"`
	Reason             string                 `json:"reason,omitempty"`
	Message            string                 `json:"message,omitempty"`
}

// NamespaceList is a list of namespaces.
type NamespaceList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta    `json:"metadata"`
	Items    []Namespace `json:"items"`
}

// --- Pod ---

// Pod is a group of containers scheduled together onto one node.
type Pod struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       PodSpec   `json:"spec"`
	Status     PodStatus `json:"status,omitzero"`
}

// RestartPolicy says when the node agent restarts a pod's containers.
type RestartPolicy string

// Restart policies.
const (
	RestartPolicyAlways    RestartPolicy = "Always"
	RestartPolicyOnFailure RestartPolicy = "OnFailure"
	RestartPolicyNever     RestartPolicy = "Never"
)

// PodSpec is the desired state of a pod.
type PodSpec struct {
	Containers    []Container   `json:"containers"`
	RestartPolicy RestartPolicy `json:"restartPolicy,omitempty"`
	// TerminationGracePeriodSeconds is how long containers get between
	// SIGTERM and SIGKILL.
	TerminationGracePeriodSeconds *int64            `json:"terminationGracePeriodSeconds,omitempty"`
	NodeSelector                  map[string]string `json:"nodeSelector,omitempty"`
	// NodeName binds the pod to a node; the scheduler sets it once.
	NodeName      string       `json:"nodeName,omitempty"`
	Hostname      string       `json:"hostname,omitempty"`
	SchedulerName string       `json:"schedulerName,omitempty"`
	Tolerations   []Toleration `json:"tolerations,omitempty"`
	// Priority orders pending pods and decides preemption; set from
	// PriorityClassName (or the global default class) when the pod is created.
	Priority          *int32 `json:"priority,omitempty"`
	PriorityClassName string `json:"priorityClassName,omitempty"`
	// PreemptionPolicy Never keeps the pod from evicting others.
	PreemptionPolicy *PreemptionPolicy `json:"preemptionPolicy,omitempty"`
	Affinity         *Affinity         `json:"affinity,omitempty"`
	// TopologySpreadConstraints bound how unevenly matching pods spread over
	// hypervisors, zones or nodes.
	TopologySpreadConstraints []TopologySpreadConstraint `json:"topologySpreadConstraints,omitempty"`
	// ImagePullSecrets name Secrets of type kubernetes.io/dockerconfigjson
	// holding registry credentials for this pod's images.
	ImagePullSecrets []LocalObjectReference `json:"imagePullSecrets,omitempty"`
}

// PullPolicy says when an image is pulled.
type PullPolicy string

// Image pull policies.
const (
	PullAlways       PullPolicy = "Always"
	PullIfNotPresent PullPolicy = "IfNotPresent"
	PullNever        PullPolicy = "Never"
)

// Container is one container of a pod.
type Container struct {
	Name            string               `json:"name"`
	Image           string               `json:"image,omitempty"`
	Command         []string             `json:"command,omitempty"`
	Args            []string             `json:"args,omitempty"`
	WorkingDir      string               `json:"workingDir,omitempty"`
	Ports           []ContainerPort      `json:"ports,omitempty"`
	Env             []EnvVar             `json:"env,omitempty"`
	Resources       ResourceRequirements `json:"resources,omitzero"`
	ImagePullPolicy PullPolicy           `json:"imagePullPolicy,omitempty"`
	// LivenessProbe restarts the container when it fails.
	LivenessProbe *Probe `json:"livenessProbe,omitempty"`
	// ReadinessProbe sets the container's (and so the pod's) readiness.
	ReadinessProbe *Probe `json:"readinessProbe,omitempty"`
	// StartupProbe holds the other probes until it first passes.
	StartupProbe *Probe `json:"startupProbe,omitempty"`
}

// EnvVar is one environment variable of a container.
type EnvVar struct {
	Name  string `json:"name"`
	Value string `json:"value,omitempty"`
}

// Protocol is a network protocol of a port.
type Protocol string

// Port protocols.
const (
	ProtocolTCP  Protocol = "TCP"
	ProtocolUDP  Protocol = "UDP"
	ProtocolSCTP Protocol = "SCTP"
)

// ContainerPort is a port a container listens on.
type ContainerPort struct {
	Name          string   `json:"name,omitempty"`
	HostPort      int32    `json:"hostPort,omitempty"`
	ContainerPort int32    `json:"containerPort"`
	Protocol      Protocol `json:"protocol,omitempty"`
}

// ResourceRequirements are the compute resources a container asks for
// (requests, used for scheduling) and may not exceed (limits).
type ResourceRequirements struct {
	Limits   ResourceList `json:"limits,omitempty"`
	Requests ResourceList `json:"requests,omitempty"`
}

// TolerationOperator says how a toleration matches a taint's value.
type TolerationOperator string

// Toleration operators.
const (
	TolerationOpExists TolerationOperator = "Exists"
	TolerationOpEqual  TolerationOperator = "Equal"
)

// TaintEffect is what a taint does to pods that do not tolerate it.
type TaintEffect string

// Taint effects.
const (
	TaintEffectNoSchedule       TaintEffect = "NoSchedule"
	TaintEffectPreferNoSchedule TaintEffect = "PreferNoSchedule"
	TaintEffectNoExecute        TaintEffect = "NoExecute"
)

// Toleration lets a pod be placed on (or stay on) nodes with a matching taint.
type Toleration struct {
	Key      string             `json:"key,omitempty"`
	Operator TolerationOperator `json:"operator,omitempty"`
	Value    string             `json:"value,omitempty"`
	// Effect "" matches every effect.
	Effect TaintEffect `json:"effect,omitempty"`
	// TolerationSeconds bounds how long a NoExecute taint is tolerated.
	TolerationSeconds *int64 `json:"tolerationSeconds,omitempty"`
}

// PodPhase is the coarse lifecycle phase of a pod.
type PodPhase string

// Pod phases.
const (
	PodPending   PodPhase = "Pending"
	PodRunning   PodPhase = "Running"
	PodSucceeded PodPhase = "Succeeded"
	PodFailed    PodPhase = "Failed"
	PodUnknown   PodPhase = "Unknown"
)

// PodConditionType names a pod condition.
type PodConditionType string

// Pod condition types.
const (
	PodScheduled    PodConditionType = "PodScheduled"
	PodInitialized  PodConditionType = "Initialized"
	ContainersReady PodConditionType = "ContainersReady"
	PodReady        PodConditionType = "Ready"
)

// PodStatus is the observed state of a pod, written by the scheduler and
// the node agent.
type PodStatus struct {
	Phase      PodPhase       `json:"phase,omitempty"`
	Conditions []PodCondition `json:"conditions,omitempty"`
	Message    string         `json:"message,omitempty"`
	Reason     string         `json:"reason,omitempty"`
	HostIP     string         `json:"hostIP,omitempty"`
	PodIP      string         `json:"podIP,omitempty"`
	StartTime  *Time          `json:"startTime,omitempty"`
	// NominatedNodeName is where the scheduler means to place the pod once
	// the pods it preempted there have gone.
	NominatedNodeName string            `json:"nominatedNodeName,omitempty"`
	ContainerStatuses []ContainerStatus `json:"containerStatuses,omitempty"`
}

// PodCondition is one condition of a pod, such as PodScheduled=False with
// the reason the scheduler could not place it.
type PodCondition struct {
	Type               PodConditionType `json:"type"`
	Status             ConditionStatus  `json:"status"`
	LastProbeTime      Time             `json:"lastProbeTime,omitzero"`
	LastTransitionTime Time             `json:"lastTransitionTime,omitzero"`
	Reason             string           `json:"reason,omitempty"`
	Message            string           `json:"message,omitempty"`
}

// ContainerStatus is the observed state of one container.
type ContainerStatus struct {
	Name         string         `json:"name"`
	State        ContainerState `json:"state,omitzero"`
	LastState    ContainerState `json:"lastState,omitzero"`
	Ready        bool           `json:"ready"`
	RestartCount int32          `json:"restartCount"`
	Image        string         `json:"image"`
	ImageID      string         `json:"imageID"`
	ContainerID  string         `json:"containerID,omitempty"`
	Started      *bool          `json:"started,omitempty"`
}

// ContainerState is exactly one of waiting, running or terminated.
type ContainerState struct {
	Waiting    *ContainerStateWaiting    `json:"waiting,omitempty"`
	Running    *ContainerStateRunning    `json:"running,omitempty"`
	Terminated *ContainerStateTerminated `json:"terminated,omitempty"`
}

// ContainerStateWaiting is a container not yet running, with why.
type ContainerStateWaiting struct {
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// ContainerStateRunning is a running container.
type ContainerStateRunning struct {
	StartedAt Time `json:"startedAt,omitzero"`
}

// ContainerStateTerminated is a container that exited.
type ContainerStateTerminated struct {
	ExitCode    int32  `json:"exitCode"`
	Signal      int32  `json:"signal,omitempty"`
	Reason      string `json:"reason,omitempty"`
	Message     string `json:"message,omitempty"`
	StartedAt   Time   `json:"startedAt,omitzero"`
	FinishedAt  Time   `json:"finishedAt,omitzero"`
	ContainerID string `json:"containerID,omitempty"`
}

// PodList is a list of pods.
type PodList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta `json:"metadata"`
	Items    []Pod    `json:"items"`
}

// --- Node ---

// Node is a machine (usually a VM) that runs pods through the node agent.
type Node struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       NodeSpec   `json:"spec,omitzero"`
	Status     NodeStatus `json:"status,omitzero"`
}

// NodeSpec is the desired state of a node.
type NodeSpec struct {
	PodCIDR    string `json:"podCIDR,omitempty"`
	ProviderID string `json:"providerID,omitempty"`
	// Unschedulable keeps new pods off the node (cordon).
	Unschedulable bool    `json:"unschedulable,omitempty"`
	Taints        []Taint `json:"taints,omitempty"`
}

// Taint repels pods that do not tolerate it.
type Taint struct {
	Key       string      `json:"key"`
	Value     string      `json:"value,omitempty"`
	Effect    TaintEffect `json:"effect"`
	TimeAdded *Time       `json:"timeAdded,omitempty"`
}

// NodeConditionType names a node condition.
type NodeConditionType string

// Node condition types.
const (
	NodeReady              NodeConditionType = "Ready"
	NodeMemoryPressure     NodeConditionType = "MemoryPressure"
	NodeDiskPressure       NodeConditionType = "DiskPressure"
	NodePIDPressure        NodeConditionType = "PIDPressure"
	NodeNetworkUnavailable NodeConditionType = "NetworkUnavailable"
	// NodeHypervisorReachable is set by the IaaS layer on the node of a
	// Machine: Unknown while the hypervisor under the node's VM cannot be
	// reached (the VM's state is then unknown), True once it answers.
	NodeHypervisorReachable NodeConditionType = "HypervisorReachable"
)

// NodeStatus is the observed state of a node, reported by its agent.
type NodeStatus struct {
	Capacity    ResourceList    `json:"capacity,omitempty"`
	Allocatable ResourceList    `json:"allocatable,omitempty"`
	Conditions  []NodeCondition `json:"conditions,omitempty"`
	Addresses   []NodeAddress   `json:"addresses,omitempty"`
	NodeInfo    NodeSystemInfo  `json:"nodeInfo,omitzero"`
	// Usage is what the node uses now, measured by its agent from cgroup
	// counters: cpu in cores averaged over Usage.Window, memory as the
	// working set. The node autoscaler decides from it.
	Usage *NodeUsage `json:"usage,omitempty"`
}

// NodeUsage is a node's measured resource use.
type NodeUsage struct {
	// Timestamp is when the sample window ended.
	Timestamp Time `json:"timestamp"`
	// WindowSeconds is how long the CPU figure was averaged over.
	WindowSeconds float64 `json:"windowSeconds"`
	// Node is the whole machine's use (cpu, memory).
	Node ResourceList `json:"node"`
	// Pods is the sum of the pods' use on the node.
	Pods ResourceList `json:"pods,omitempty"`
}

// NodeCondition is one condition of a node, such as Ready.
type NodeCondition struct {
	Type               NodeConditionType `json:"type"`
	Status             ConditionStatus   `json:"status"`
	LastHeartbeatTime  Time              `json:"lastHeartbeatTime,omitzero"`
	LastTransitionTime Time              `json:"lastTransitionTime,omitzero"`
	Reason             string            `json:"reason,omitempty"`
	Message            string            `json:"message,omitempty"`
}

// NodeAddressType is the kind of a node address.
type NodeAddressType string

// Node address types.
const (
	NodeHostName    NodeAddressType = "Hostname"
	NodeInternalIP  NodeAddressType = "InternalIP"
	NodeExternalIP  NodeAddressType = "ExternalIP"
	NodeInternalDNS NodeAddressType = "InternalDNS"
	NodeExternalDNS NodeAddressType = "ExternalDNS"
)

// NodeAddress is one address of a node.
type NodeAddress struct {
	Type    NodeAddressType `json:"type"`
	Address string          `json:"address"`
}

// NodeSystemInfo describes the node's machine and software. KubeletVersion
// holds the node agent's version, under the Kubernetes name.
type NodeSystemInfo struct {
	MachineID               string `json:"machineID"`
	KernelVersion           string `json:"kernelVersion"`
	OSImage                 string `json:"osImage"`
	ContainerRuntimeVersion string `json:"containerRuntimeVersion"`
	KubeletVersion          string `json:"kubeletVersion"`
	OperatingSystem         string `json:"operatingSystem"`
	Architecture            string `json:"architecture"`
}

// NodeList is a list of nodes.
type NodeList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta `json:"metadata"`
	Items    []Node   `json:"items"`
}

// --- Event ---

// Event records something that happened to an object, for `describe`.
type Event struct {
	TypeMeta           `json:",inline"`
	ObjectMeta         `json:"metadata"`
	InvolvedObject     ObjectReference `json:"involvedObject"`
	Reason             string          `json:"reason,omitempty"`
	Message            string          `json:"message,omitempty"`
	Source             EventSource     `json:"source,omitzero"`
	FirstTimestamp     Time            `json:"firstTimestamp,omitzero"`
	LastTimestamp      Time            `json:"lastTimestamp,omitzero"`
	Count              int32           `json:"count,omitempty"`
	Type               string          `json:"type,omitempty"`
	ReportingComponent string          `json:"reportingComponent,omitempty"`
}

// Event types.
const (
	EventTypeNormal  = "Normal"
	EventTypeWarning = "Warning"
)

// ObjectReference points at an object, optionally at a field of it.
type ObjectReference struct {
	Kind            string `json:"kind,omitempty"`
	Namespace       string `json:"namespace,omitempty"`
	Name            string `json:"name,omitempty"`
	UID             string `json:"uid,omitempty"`
	APIVersion      string `json:"apiVersion,omitempty"`
	ResourceVersion string `json:"resourceVersion,omitempty"`
	FieldPath       string `json:"fieldPath,omitempty"`
}

// EventSource names the component (and host) that reported an event.
type EventSource struct {
	Component string `json:"component,omitempty"`
	Host      string `json:"host,omitempty"`
}

// EventList is a list of events.
type EventList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta `json:"metadata"`
	Items    []Event  `json:"items"`
}

// --- Tenant ---

// Tenant is an organization using the cloud; it owns namespaces.
type Tenant struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       TenantSpec   `json:"spec,omitzero"`
	Status     TenantStatus `json:"status,omitzero"`
}

// TenantSpec is the desired state of a tenant.
type TenantSpec struct {
	DisplayName string `json:"displayName,omitempty"`
	// Namespaces lists the namespaces the tenant owns.
	Namespaces []string `json:"namespaces,omitempty"`
}

// TenantStatus is the observed state of a tenant (nothing yet).
type TenantStatus struct{}

// TenantList is a list of tenants.
type TenantList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta `json:"metadata"`
	Items    []Tenant `json:"items"`
}
