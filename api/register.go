package api

// ObjectList is implemented by every typed list (PodList, NodeList, ...).
type ObjectList interface {
	GetTypeMeta() *TypeMeta
	GetListMeta() *ListMeta
}

// GetListMeta gives access to the list metadata.
func (l *NamespaceList) GetListMeta() *ListMeta { return &l.Metadata }

// GetListMeta gives access to the list metadata.
func (l *PodList) GetListMeta() *ListMeta { return &l.Metadata }

// GetListMeta gives access to the list metadata.
func (l *NodeList) GetListMeta() *ListMeta { return &l.Metadata }

// GetListMeta gives access to the list metadata.
func (l *EventList) GetListMeta() *ListMeta { return &l.Metadata }

// GetListMeta gives access to the list metadata.
func (l *TenantList) GetListMeta() *ListMeta { return &l.Metadata }

// GetListMeta gives access to the list metadata.
func (l *NodePoolList) GetListMeta() *ListMeta { return &l.Metadata }

// GetListMeta gives access to the list metadata.
func (l *VirtualMachineList) GetListMeta() *ListMeta { return &l.Metadata }

// GetListMeta gives access to the list metadata.
func (l *HypervisorList) GetListMeta() *ListMeta { return &l.Metadata }
func (l *MachineList) GetListMeta() *ListMeta    { return &l.Metadata }

// GetListMeta gives access to the list metadata.
func (l *List) GetListMeta() *ListMeta { return &l.Metadata }

// NewScheme returns the scheme of every kind this API serves, with its
// defaults, validation and create preparation wired in.
func NewScheme() *Scheme {
	return newScheme(
		&KindInfo{
			Group: GroupCore, Version: VersionCore, Kind: KindNamespace,
			Resource: "namespaces", Singular: "namespace", ShortNames: []string{"ns"},
			Namespaced: false, HasStatus: true,
			New: func() Object { return &Namespace{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindNamespace}} },
			NewList: func() ObjectList {
				return &NamespaceList{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindNamespace + "List"}}
			},
			Default:          func(o Object) { DefaultNamespace(o.(*Namespace)) },
			Validate:         func(o Object) ErrorList { return ValidateNamespace(o.(*Namespace)) },
			ValidateUpdate:   func(n, o Object) ErrorList { return ValidateNamespaceUpdate(n.(*Namespace), o.(*Namespace)) },
			PrepareForCreate: func(o Object) { PrepareNamespaceForCreate(o.(*Namespace)) },
			PrepareForUpdate: func(n, o Object) { PrepareNamespaceForUpdate(n.(*Namespace), o.(*Namespace)) },
		},
		&KindInfo{
			Group: GroupCore, Version: VersionCore, Kind: KindPod,
			Resource: "pods", Singular: "pod", ShortNames: []string{"po"},
			Namespaced: true, HasStatus: true,
			New: func() Object { return &Pod{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindPod}} },
			NewList: func() ObjectList {
				return &PodList{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindPod + "List"}}
			},
			Default:          func(o Object) { DefaultPod(o.(*Pod)) },
			Validate:         func(o Object) ErrorList { return ValidatePod(o.(*Pod)) },
			ValidateUpdate:   func(n, o Object) ErrorList { return ValidatePodUpdate(n.(*Pod), o.(*Pod)) },
			PrepareForCreate: func(o Object) { o.(*Pod).Status = PodStatus{Phase: PodPending} },
			PrepareForUpdate: func(n, o Object) { PreparePodForUpdate(n.(*Pod), o.(*Pod)) },
		},
		&KindInfo{
			Group: GroupCore, Version: VersionCore, Kind: KindNode,
			Resource: "nodes", Singular: "node", ShortNames: []string{"no"},
			Namespaced: false, HasStatus: true,
			New: func() Object { return &Node{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindNode}} },
			NewList: func() ObjectList {
				return &NodeList{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindNode + "List"}}
			},
			Default:        func(o Object) { DefaultNode(o.(*Node)) },
			Validate:       func(o Object) ErrorList { return ValidateNode(o.(*Node)) },
			ValidateUpdate: func(n, o Object) ErrorList { return ValidateNodeUpdate(n.(*Node), o.(*Node)) },
		},
		&KindInfo{
			Group: GroupCore, Version: VersionCore, Kind: KindEvent,
			Resource: "events", Singular: "event", ShortNames: []string{"ev"},
			Namespaced: true,
			New:        func() Object { return &Event{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindEvent}} },
			NewList: func() ObjectList {
				return &EventList{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindEvent + "List"}}
			},
			Default:  func(o Object) { DefaultEvent(o.(*Event)) },
			Validate: func(o Object) ErrorList { return ValidateEvent(o.(*Event)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateObjectMetaUpdate(n.GetObjectMeta(), o.GetObjectMeta())
			},
		},
		&KindInfo{
			Group: GroupCore, Version: VersionCore, Kind: KindSecret,
			Resource: "secrets", Singular: "secret",
			Namespaced: true,
			New:        func() Object { return &Secret{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindSecret}} },
			NewList: func() ObjectList {
				return &SecretList{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindSecret + "List"}}
			},
			Default:  func(o Object) { DefaultSecret(o.(*Secret)) },
			Validate: func(o Object) ErrorList { return ValidateSecret(o.(*Secret)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateSecretUpdate(n.(*Secret), o.(*Secret))
			},
		},
		&KindInfo{
			Group: GroupCore, Version: VersionCore, Kind: KindTenant,
			Resource: "tenants", Singular: "tenant",
			Namespaced: false,
			New:        func() Object { return &Tenant{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindTenant}} },
			NewList: func() ObjectList {
				return &TenantList{TypeMeta: TypeMeta{APIVersion: APIVersionV1, Kind: KindTenant + "List"}}
			},
			Default:  func(o Object) {},
			Validate: func(o Object) ErrorList { return ValidateTenant(o.(*Tenant)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateTenantUpdate(n.(*Tenant), o.(*Tenant))
			},
		},
		&KindInfo{
			Group: GroupCoordination, Version: VersionCoordination, Kind: KindLease,
			Resource: "leases", Singular: "lease",
			Namespaced: true,
			New:        func() Object { return &Lease{TypeMeta: TypeMeta{APIVersion: APIVersionCoordination, Kind: KindLease}} },
			NewList: func() ObjectList {
				return &LeaseList{TypeMeta: TypeMeta{APIVersion: APIVersionCoordination, Kind: KindLease + "List"}}
			},
			Default:  func(o Object) {},
			Validate: func(o Object) ErrorList { return ValidateLease(o.(*Lease)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateObjectMetaUpdate(&n.(*Lease).ObjectMeta, &o.(*Lease).ObjectMeta)
			},
		},
		&KindInfo{
			Group: GroupScheduling, Version: VersionScheduling, Kind: KindPriorityClass,
			Resource: "priorityclasses", Singular: "priorityclass", ShortNames: []string{"pc"},
			Namespaced: false,
			New: func() Object {
				return &PriorityClass{TypeMeta: TypeMeta{APIVersion: APIVersionScheduling, Kind: KindPriorityClass}}
			},
			NewList: func() ObjectList {
				return &PriorityClassList{TypeMeta: TypeMeta{APIVersion: APIVersionScheduling, Kind: KindPriorityClass + "List"}}
			},
			Default:  func(o Object) { DefaultPriorityClass(o.(*PriorityClass)) },
			Validate: func(o Object) ErrorList { return ValidatePriorityClass(o.(*PriorityClass)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidatePriorityClassUpdate(n.(*PriorityClass), o.(*PriorityClass))
			},
		},
		&KindInfo{
			Group: GroupBatch, Version: VersionBatch, Kind: KindJob,
			Resource: "jobs", Singular: "job",
			Namespaced: true, HasStatus: true,
			New: func() Object { return &Job{TypeMeta: TypeMeta{APIVersion: APIVersionBatch, Kind: KindJob}} },
			NewList: func() ObjectList {
				return &JobList{TypeMeta: TypeMeta{APIVersion: APIVersionBatch, Kind: KindJob + "List"}}
			},
			Default:          func(o Object) { DefaultJob(o.(*Job)) },
			Validate:         func(o Object) ErrorList { return ValidateJob(o.(*Job)) },
			ValidateUpdate:   func(n, o Object) ErrorList { return ValidateJobUpdate(n.(*Job), o.(*Job)) },
			PrepareForCreate: func(o Object) { PrepareJobForCreate(o.(*Job)) },
			PrepareForUpdate: func(n, o Object) { PrepareJobForUpdate(n.(*Job), o.(*Job)) },
		},
		&KindInfo{
			Group: GroupBatch, Version: VersionBatch, Kind: KindCronJob,
			Resource: "cronjobs", Singular: "cronjob", ShortNames: []string{"cj"},
			Namespaced: true, HasStatus: true,
			New: func() Object { return &CronJob{TypeMeta: TypeMeta{APIVersion: APIVersionBatch, Kind: KindCronJob}} },
			NewList: func() ObjectList {
				return &CronJobList{TypeMeta: TypeMeta{APIVersion: APIVersionBatch, Kind: KindCronJob + "List"}}
			},
			Default:          func(o Object) { DefaultCronJob(o.(*CronJob)) },
			Validate:         func(o Object) ErrorList { return ValidateCronJob(o.(*CronJob)) },
			ValidateUpdate:   func(n, o Object) ErrorList { return ValidateCronJobUpdate(n.(*CronJob), o.(*CronJob)) },
			PrepareForCreate: func(o Object) { o.(*CronJob).Status = CronJobStatus{} },
		},
		&KindInfo{
			Group: GroupApps, Version: VersionApps, Kind: KindReplicaSet,
			Resource: "replicasets", Singular: "replicaset", ShortNames: []string{"rs"},
			Namespaced: true, HasStatus: true,
			New: func() Object {
				return &ReplicaSet{TypeMeta: TypeMeta{APIVersion: APIVersionApps, Kind: KindReplicaSet}}
			},
			NewList: func() ObjectList {
				return &ReplicaSetList{TypeMeta: TypeMeta{APIVersion: APIVersionApps, Kind: KindReplicaSet + "List"}}
			},
			Default:  func(o Object) { DefaultReplicaSet(o.(*ReplicaSet)) },
			Validate: func(o Object) ErrorList { return ValidateReplicaSet(o.(*ReplicaSet)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateReplicaSetUpdate(n.(*ReplicaSet), o.(*ReplicaSet))
			},
			PrepareForCreate: func(o Object) { o.(*ReplicaSet).Status = ReplicaSetStatus{} },
		},
		&KindInfo{
			Group: GroupApps, Version: VersionApps, Kind: KindDeployment,
			Resource: "deployments", Singular: "deployment", ShortNames: []string{"deploy"},
			Namespaced: true, HasStatus: true,
			New: func() Object {
				return &Deployment{TypeMeta: TypeMeta{APIVersion: APIVersionApps, Kind: KindDeployment}}
			},
			NewList: func() ObjectList {
				return &DeploymentList{TypeMeta: TypeMeta{APIVersion: APIVersionApps, Kind: KindDeployment + "List"}}
			},
			Default:  func(o Object) { DefaultDeployment(o.(*Deployment)) },
			Validate: func(o Object) ErrorList { return ValidateDeployment(o.(*Deployment)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateDeploymentUpdate(n.(*Deployment), o.(*Deployment))
			},
			PrepareForCreate: func(o Object) { o.(*Deployment).Status = DeploymentStatus{} },
		},
		&KindInfo{
			Group: GroupIaaS, Version: VersionIaaS, Kind: KindNodePool,
			Resource: "nodepools", Singular: "nodepool", ShortNames: []string{"np"},
			Namespaced: false, HasStatus: true,
			New: func() Object { return &NodePool{TypeMeta: TypeMeta{APIVersion: APIVersionIaaS, Kind: KindNodePool}} },
			NewList: func() ObjectList {
				return &NodePoolList{TypeMeta: TypeMeta{APIVersion: APIVersionIaaS, Kind: KindNodePool + "List"}}
			},
			Default:  func(o Object) {},
			Validate: func(o Object) ErrorList { return ValidateNodePool(o.(*NodePool)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateNodePoolUpdate(n.(*NodePool), o.(*NodePool))
			},
			PrepareForCreate: func(o Object) { o.(*NodePool).Status = NodePoolStatus{} },
		},
		&KindInfo{
			Group: GroupIaaS, Version: VersionIaaS, Kind: KindVirtualMachine,
			Resource: "virtualmachines", Singular: "virtualmachine", ShortNames: []string{"vm"},
			Namespaced: true, HasStatus: true,
			New: func() Object {
				return &VirtualMachine{TypeMeta: TypeMeta{APIVersion: APIVersionIaaS, Kind: KindVirtualMachine}}
			},
			NewList: func() ObjectList {
				return &VirtualMachineList{TypeMeta: TypeMeta{APIVersion: APIVersionIaaS, Kind: KindVirtualMachine + "List"}}
			},
			Default:  func(o Object) { DefaultVirtualMachine(o.(*VirtualMachine)) },
			Validate: func(o Object) ErrorList { return ValidateVirtualMachine(o.(*VirtualMachine)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateVirtualMachineUpdate(n.(*VirtualMachine), o.(*VirtualMachine))
			},
			PrepareForCreate: func(o Object) { o.(*VirtualMachine).Status = VirtualMachineStatus{Phase: VMPending} },
		},
		&KindInfo{
			Group: GroupIaaS, Version: VersionIaaS, Kind: KindMachine,
			Resource: "machines", Singular: "machine", ShortNames: []string{"ma"},
			Namespaced: false, HasStatus: true,
			New: func() Object {
				return &Machine{TypeMeta: TypeMeta{APIVersion: APIVersionIaaS, Kind: KindMachine}}
			},
			NewList: func() ObjectList {
				return &MachineList{TypeMeta: TypeMeta{APIVersion: APIVersionIaaS, Kind: KindMachine + "List"}}
			},
			Default:  func(o Object) {},
			Validate: func(o Object) ErrorList { return ValidateMachine(o.(*Machine)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateMachineUpdate(n.(*Machine), o.(*Machine))
			},
			PrepareForCreate: func(o Object) { o.(*Machine).Status = MachineStatus{Phase: MachinePending} },
		},
		&KindInfo{
			Group: GroupIaaS, Version: VersionIaaS, Kind: KindHypervisor,
			Resource: "hypervisors", Singular: "hypervisor", ShortNames: []string{"hv"},
			Namespaced: false, HasStatus: true,
			New: func() Object {
				return &Hypervisor{TypeMeta: TypeMeta{APIVersion: APIVersionIaaS, Kind: KindHypervisor}}
			},
			NewList: func() ObjectList {
				return &HypervisorList{TypeMeta: TypeMeta{APIVersion: APIVersionIaaS, Kind: KindHypervisor + "List"}}
			},
			Default:  func(o Object) { DefaultHypervisor(o.(*Hypervisor)) },
			Validate: func(o Object) ErrorList { return ValidateHypervisor(o.(*Hypervisor)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateHypervisorUpdate(n.(*Hypervisor), o.(*Hypervisor))
			},
			PrepareForCreate: func(o Object) { o.(*Hypervisor).Status = HypervisorStatus{} },
		},
		&KindInfo{
			Group: GroupImages, Version: VersionImages, Kind: KindImage,
			Resource: "images", Singular: "image", ShortNames: []string{"img"},
			Namespaced: false,
			New:        func() Object { return &Image{TypeMeta: TypeMeta{APIVersion: APIVersionImages, Kind: KindImage}} },
			NewList: func() ObjectList {
				return &ImageList{TypeMeta: TypeMeta{APIVersion: APIVersionImages, Kind: KindImage + "List"}}
			},
			Default:  func(o Object) {},
			Validate: func(o Object) ErrorList { return ValidateImage(o.(*Image)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				errs := ValidateObjectMetaUpdate(n.GetObjectMeta(), o.GetObjectMeta())
				if n.(*Image).Spec.Ref != o.(*Image).Spec.Ref {
					errs = append(errs, forbidden(fieldPath("spec.ref"), "may not change"))
				}
				return errs
			},
		},
		&KindInfo{
			Group: GroupPolicy, Version: VersionPolicy, Kind: KindPodDisruptionBudget,
			Resource: "poddisruptionbudgets", Singular: "poddisruptionbudget", ShortNames: []string{"pdb"},
			Namespaced: true, HasStatus: true,
			PrepareForCreate: func(o Object) { o.(*PodDisruptionBudget).Status = PodDisruptionBudgetStatus{} },
			New: func() Object {
				return &PodDisruptionBudget{TypeMeta: TypeMeta{APIVersion: APIVersionPolicy, Kind: KindPodDisruptionBudget}}
			},
			NewList: func() ObjectList {
				return &PodDisruptionBudgetList{TypeMeta: TypeMeta{APIVersion: APIVersionPolicy, Kind: KindPodDisruptionBudget + "List"}}
			},
			Default:  func(o Object) {},
			Validate: func(o Object) ErrorList { return ValidatePodDisruptionBudget(o.(*PodDisruptionBudget)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateObjectMetaUpdate(n.GetObjectMeta(), o.GetObjectMeta())
			},
		},
		&KindInfo{
			Group: GroupAutoscaling, Version: VersionAutoscaling, Kind: KindHorizontalPodAutoscaler,
			Resource: "horizontalpodautoscalers", Singular: "horizontalpodautoscaler", ShortNames: []string{"hpa"},
			Namespaced: true, HasStatus: true,
			New: func() Object {
				return &HorizontalPodAutoscaler{TypeMeta: TypeMeta{APIVersion: APIVersionAutoscaling, Kind: KindHorizontalPodAutoscaler}}
			},
			NewList: func() ObjectList {
				return &HorizontalPodAutoscalerList{TypeMeta: TypeMeta{APIVersion: APIVersionAutoscaling, Kind: KindHorizontalPodAutoscaler + "List"}}
			},
			Default:  func(o Object) { DefaultHorizontalPodAutoscaler(o.(*HorizontalPodAutoscaler)) },
			Validate: func(o Object) ErrorList { return ValidateHorizontalPodAutoscaler(o.(*HorizontalPodAutoscaler)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateObjectMetaUpdate(n.GetObjectMeta(), o.GetObjectMeta())
			},
			PrepareForCreate: func(o Object) { o.(*HorizontalPodAutoscaler).Status = HorizontalPodAutoscalerStatus{} },
		},
		&KindInfo{
			Group: groupDaemonSet, Version: versionDaemonSet, Kind: KindDaemonSet,
			Resource: "daemonsets", Singular: "daemonset", ShortNames: []string{"ds"},
			Namespaced: true, HasStatus: true,
			New: func() Object {
				return &DaemonSet{TypeMeta: TypeMeta{APIVersion: APIVersionDaemonSet, Kind: KindDaemonSet}}
			},
			NewList: func() ObjectList {
				return &DaemonSetList{TypeMeta: TypeMeta{APIVersion: APIVersionDaemonSet, Kind: KindDaemonSet + "List"}}
			},
			Default:  func(o Object) { DefaultDaemonSet(o.(*DaemonSet)) },
			Validate: func(o Object) ErrorList { return ValidateDaemonSet(o.(*DaemonSet)) },
			ValidateUpdate: func(n, o Object) ErrorList {
				return ValidateDaemonSetUpdate(n.(*DaemonSet), o.(*DaemonSet))
			},
		},
		NewScaleDecisionKind(),
	)
}
