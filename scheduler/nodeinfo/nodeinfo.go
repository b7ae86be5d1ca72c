// Package nodeinfo is the scheduler's view of a node: its allocatable
// resources, the pods placed on it (bound or assumed) with their requests,
// its host ports, labels, taints and measured use. The scheduler cache keeps
// one per node, current from watches, so a scheduling cycle reads no store.
package nodeinfo

import (
	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
)

// HostPort is a host port a pod takes on its node.
type HostPort struct {
	Protocol api.Protocol
	Port     int32
}

// PodInfo is what the scheduler needs of a placed pod, computed once.
type PodInfo struct {
	Pod *api.Pod // never modified
	// Key is "namespace/name".
	Key      string
	MilliCPU int64
	Memory   int64
	Priority int32
	Ports    []HostPort
	// Owner is the uid of the pod's controller (or first owner), "" if none.
	Owner string
}

// NewPodInfo derives the scheduler's view of a pod.
func NewPodInfo(p *api.Pod) *PodInfo {
	cpu, mem := api.PodRequests(p)
	pi := &PodInfo{Pod: p, Key: p.Namespace + "/" + p.Name, MilliCPU: cpu, Memory: mem, Priority: api.PodPriority(p), Owner: OwnerOf(p)}
	for i := range p.Spec.Containers {
		for _, cp := range p.Spec.Containers[i].Ports {
			if cp.HostPort > 0 {
				proto := cp.Protocol
				if proto == "" {
					proto = api.ProtocolTCP
				}
				pi.Ports = append(pi.Ports, HostPort{Protocol: proto, Port: cp.HostPort})
			}
		}
	}
	return pi
}

// OwnerOf is the uid of the pod's controlling owner, else of its first
// owner, else "".
func OwnerOf(p *api.Pod) string {
	for _, r := range p.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return r.UID
		}
	}
	if len(p.OwnerReferences) > 0 {
		return p.OwnerReferences[0].UID
	}
	return ""
}

// NodeInfo is one node and the pods on it. A NodeInfo in a snapshot is
// shared between goroutines and must not be changed; Clone it first.
type NodeInfo struct {
	Node *api.Node // never modified
	Name string

	// Allocatable resources (cpu in millicores, memory in bytes, pod count).
	AllocMilliCPU, AllocMemory, AllocPods int64
	// Requested is the sum of the requests of the pods on the node.
	ReqMilliCPU, ReqMemory int64

	// Pods are the pods bound or assumed onto the node.
	Pods []*PodInfo
	// PodKeys indexes Pods by "namespace/name".
	PodKeys map[string]*PodInfo
	// UsedPorts are the host ports taken.
	UsedPorts map[HostPort]int
	// OwnerCounts counts the pods per owner uid.
	OwnerCounts map[string]int

	// Ready is the node's Ready condition being True.
	Ready bool
	// Hypervisor is the node's api.LabelHypervisor label, "" if unset:
	// read on every node by default spreading, so kept out of the map.
	Hypervisor string
	// Unschedulable is the node's spec.unschedulable (cordoned): read on
	// every node by a filter, so kept here rather than behind Node.
	Unschedulable bool
	// Taints is the node's spec.taints, kept here for the same reason.
	Taints []api.Taint
	// UsageMilliCPU is the CPU the node's agent last measured, -1 if none.
	UsageMilliCPU int64

	// Generation grows on every change, so snapshots copy only what changed.
	Generation int64
}

// New returns the NodeInfo of a node with no pods.
func New(node *api.Node) *NodeInfo {
	n := &NodeInfo{PodKeys: map[string]*PodInfo{}, UsedPorts: map[HostPort]int{}, OwnerCounts: map[string]int{}, UsageMilliCPU: -1}
	n.SetNode(node)
	return n
}

// CandidateName is the node's name (framework.Candidate).
func (n *NodeInfo) CandidateName() string { return n.Name }

// Labels are the node's labels.
func (n *NodeInfo) Labels() map[string]string {
	if n.Node == nil {
		return nil
	}
	return n.Node.Labels
}

// SetNode replaces the node object, keeping the pods.
func (n *NodeInfo) SetNode(node *api.Node) {
	n.Node = node
	n.Name = node.Name
	a := node.Status.Allocatable
	if len(a) == 0 {
		a = node.Status.Capacity
	}
	n.AllocMilliCPU, n.AllocMemory, n.AllocPods = 0, 0, 0
	if q, ok := a[api.ResourceCPU]; ok {
		n.AllocMilliCPU = q.MilliValue()
	}
	if q, ok := a[api.ResourceMemory]; ok {
		n.AllocMemory = q.Value()
	}
	if q, ok := a[api.ResourcePods]; ok {
		n.AllocPods = q.Value()
	} else {
		n.AllocPods = 110
	}
	n.Hypervisor = node.Labels[api.LabelHypervisor]
	n.Unschedulable = node.Spec.Unschedulable
	n.Taints = node.Spec.Taints
	n.Ready = false
	for _, c := range node.Status.Conditions {
		if c.Type == api.NodeReady {
			n.Ready = c.Status == api.ConditionTrue
		}
	}
	n.UsageMilliCPU = -1
	if u := node.Status.Usage; u != nil {
		if q, ok := u.Node[api.ResourceCPU]; ok {
			n.UsageMilliCPU = q.MilliValue()
		}
	}
	n.Generation++
}

// AddPod places a pod on the node.
func (n *NodeInfo) AddPod(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	n.PodKeys[pi.Key] = pi
	n.ReqMilliCPU += pi.MilliCPU
	n.ReqMemory += pi.Memory
	for _, hp := range pi.Ports {
		n.UsedPorts[hp]++
	}
	if pi.Owner != "" {
		n.OwnerCounts[pi.Owner]++
	}
	n.Generation++
}

// RemovePod takes the pod with that key off the node; false if absent.
func (n *NodeInfo) RemovePod(key string) bool {
	pi, ok := n.PodKeys[key]
	if !ok {
		return false
	}
	delete(n.PodKeys, key)
	for i, p := range n.Pods {
		if p == pi {
			last := len(n.Pods) - 1
			n.Pods[i] = n.Pods[last]
			n.Pods[last] = nil
			n.Pods = n.Pods[:last]
			break
		}
	}
	n.ReqMilliCPU -= pi.MilliCPU
	n.ReqMemory -= pi.Memory
	for _, hp := range pi.Ports {
		if n.UsedPorts[hp]--; n.UsedPorts[hp] <= 0 {
			delete(n.UsedPorts, hp)
		}
	}
	if pi.Owner != "" {
		if n.OwnerCounts[pi.Owner]--; n.OwnerCounts[pi.Owner] <= 0 {
			delete(n.OwnerCounts, pi.Owner)
		}
	}
	n.Generation++
	return true
}

// Clone returns a copy whose pods can be added and removed without
// changing n (the PodInfos themselves are shared; they never change).
func (n *NodeInfo) Clone() *NodeInfo {
	c := *n
	c.Pods = append([]*PodInfo(nil), n.Pods...)
	c.PodKeys = make(map[string]*PodInfo, len(n.PodKeys))
	for k, v := range n.PodKeys {
		c.PodKeys[k] = v
	}
	c.UsedPorts = make(map[HostPort]int, len(n.UsedPorts))
	for k, v := range n.UsedPorts {
		c.UsedPorts[k] = v
	}
	c.OwnerCounts = make(map[string]int, len(n.OwnerCounts))
	for k, v := range n.OwnerCounts {
		c.OwnerCounts[k] = v
	}
	return &c
}

// Lister gives plugins the cluster-wide view of the current cycle's
// snapshot (for topology spread, which counts pods on every node).
type Lister interface {
	// List returns every node of the snapshot; callers must not change it.
	List() []*NodeInfo
	// Get returns one node of the snapshot.
	Get(name string) (*NodeInfo, bool)
}

// Snapshot is an immutable view of every node, taken at the start of a
// scheduling cycle.
type Snapshot struct {
	nodes  []*NodeInfo
	byName map[string]*NodeInfo
	hv     *HypervisorCounts
}

// NewSnapshot returns a snapshot of these nodes (not copied).
func NewSnapshot(nodes []*NodeInfo) *Snapshot {
	s := &Snapshot{nodes: nodes, byName: make(map[string]*NodeInfo, len(nodes)), hv: NewHypervisorCounts()}
	for _, n := range nodes {
		s.byName[n.Name] = n
		s.hv.Add(n)
	}
	return s
}

// HypervisorCounts counts the owned pods per hypervisor over the snapshot
// (HypervisorCounter).
func (s *Snapshot) HypervisorCounts() *HypervisorCounts { return s.hv }

// List returns every node.
func (s *Snapshot) List() []*NodeInfo { return s.nodes }

// Get returns one node.
func (s *Snapshot) Get(name string) (*NodeInfo, bool) {
	n, ok := s.byName[name]
	return n, ok
}

// SnapshotKey is where the scheduler puts the cycle's Snapshot (a Lister)
// in the CycleState, for plugins that need every node.
const SnapshotKey framework.StateKey = "nodeinfo/snapshot"

// Clone returns the snapshot itself: it is never changed (framework.StateData).
func (s *Snapshot) Clone() framework.StateData { return s }

// SnapshotFrom returns the cycle's snapshot, or nil if none was written.
func SnapshotFrom(cs *framework.CycleState) Lister {
	d, ok := cs.Read(SnapshotKey)
	if !ok {
		return nil
	}
	l, _ := d.(Lister)
	return l
}
