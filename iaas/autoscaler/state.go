package autoscaler

import (
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas/internal/kit"
	"github.com/cloudmgr/cloud/iaas/nodepool"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// poolState is a pool's figures in one loop.
type poolState struct {
	pool *Pool
	// replicas is what the pool asks for now, this loop's growth included.
	replicas int
	// ready are its Ready nodes not on their way out.
	ready []*api.Node
	// used and alloc sum the pods' CPU use and the allocatable CPU (in
	// millicores) of the ready nodes that report use.
	used, alloc int64
	// perNode is a new node's allocatable CPU in millicores.
	perNode  int64
	template *nodeinfo.NodeInfo
	// failed is the message of a machine that failed to be made, if any;
	// nFailed counts them.
	failed  string
	nFailed int
	// failedReason is the autoscaler's reason for it: the provider's
	// answer when it was no capacity or quota, else ProviderError.
	failedReason string
	// healthy counts its machines neither failed nor on their way out.
	healthy int
}

func (p *poolState) name() string { return p.pool.NodePool.Name }

func (p *poolState) max() int { return int(p.pool.NodePool.Spec.MaxSize) }

func (p *poolState) min() int { return int(p.pool.NodePool.Spec.MinSize) }

// utilization is used over alloc (0 without figures).
func (p *poolState) utilization() float64 {
	if p.alloc == 0 {
		return 0
	}
	return float64(p.used) / float64(p.alloc)
}

// booting is how many of the machines asked for have no Ready node yet
// and have not failed.
func (p *poolState) booting() int { return max(0, p.replicas-len(p.ready)-p.nFailed) }

// state is one loop's view.
type state struct {
	a     *Autoscaler
	now   time.Time
	pools []*poolState
	// byNode maps a node to its NodeInfo (with its pods).
	byNode  map[string]*nodeinfo.NodeInfo
	nodes   []*nodeinfo.NodeInfo
	pending []*api.Pod
	// markedAt: see Snapshot.MarkedAt.
	markedAt map[string]time.Time
	fit      *fitter
	// total is the machines of all pools, this loop's growth included.
	total int
	// leaving are the nodes whose machine is being deleted or drained.
	leaving map[string]bool
	// pendingServed: some pending pods wait for machines asked for (now
	// or before), so no node is removed meanwhile.
	pendingServed bool
	// givenUp are the pools whose failed machines were given up.
	givenUp []ScaleUp
}

// podUsageMilli is the CPU the pods on n use, in millicores; ok is false
// when its agent has not reported it.
func podUsageMilli(n *api.Node) (int64, bool) {
	if n.Status.Usage == nil {
		return 0, false
	}
	q, ok := n.Status.Usage.Pods[api.ResourceCPU]
	if !ok {
		return 0, false
	}
	return q.MilliValue(), true
}

func allocMilli(n *api.Node) int64 {
	a := n.Status.Allocatable
	if len(a) == 0 {
		a = n.Status.Capacity
	}
	q := a[api.ResourceCPU]
	return q.MilliValue()
}

// unschedulable reports whether the scheduler gave up on the pod for now.
func unschedulable(p *api.Pod) bool {
	if p.Spec.NodeName != "" || p.DeletionTimestamp != nil || p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodScheduled {
			return c.Status == api.ConditionFalse && c.Reason == api.PodReasonUnschedulable
		}
	}
	return false
}

// unschedulableSince is when the scheduler marked the pod unschedulable:
// when it was seen marked (markedAt) if that is known and within the
// condition's second, else the condition's time.
func unschedulableSince(p *api.Pod, markedAt map[string]time.Time) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodScheduled {
			at := c.LastTransitionTime.Time
			if seen, ok := markedAt[p.UID]; ok && !seen.Before(at) && seen.Sub(at) < time.Second {
				return seen
			}
			return at
		}
	}
	return time.Time{}
}

// leaving reports whether a machine (and so its node) is on its way out.
func leaving(m *api.Machine) bool {
	return m == nil || m.DeletionTimestamp != nil || m.Annotations[nodepool.AnnotationScaleDown] != ""
}

func newState(a *Autoscaler, snap *Snapshot, now time.Time) *state {
	st := &state{a: a, now: now, byNode: map[string]*nodeinfo.NodeInfo{}, leaving: map[string]bool{}, markedAt: snap.MarkedAt}
	for _, n := range snap.Nodes {
		ni := nodeinfo.New(n)
		st.byNode[n.Name] = ni
		st.nodes = append(st.nodes, ni)
	}
	for _, p := range snap.Pods {
		if unschedulable(p) {
			st.pending = append(st.pending, p)
			continue
		}
		if p.Spec.NodeName == "" || p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
			continue
		}
		if ni, ok := st.byNode[p.Spec.NodeName]; ok {
			ni.AddPod(nodeinfo.NewPodInfo(p))
		}
	}
	st.fit = newFitter(nodeinfo.NewSnapshot(st.nodes))
	for _, p := range snap.Pools {
		st.pools = append(st.pools, st.poolState(p))
	}
	return st
}

func (st *state) poolState(p *Pool) *poolState {
	ps := &poolState{pool: p, replicas: nodepool.DesiredReplicas(p.NodePool)}
	st.total += ps.replicas
	machines := map[string]*api.Machine{}
	for _, m := range p.Machines {
		machines[m.Name] = m
		if leaving(m) {
			st.leaving[m.Name] = true
		}
		if !leaving(m) && m.Status.Phase != api.MachineFailed {
			ps.healthy++
		}
		if m.Status.Phase == api.MachineFailed && m.DeletionTimestamp == nil {
			ps.nFailed++
			ps.failed = m.Status.Message
			if ps.failed == "" {
				ps.failed = "machine " + m.Name + " failed"
			}
			ps.failedReason = failedReason(m)
		}
	}
	for _, n := range p.Nodes {
		if !kit.NodeReady(n) || n.DeletionTimestamp != nil || leaving(machines[n.Name]) {
			continue
		}
		ps.ready = append(ps.ready, n)
		if u, ok := podUsageMilli(n); ok {
			ps.used += u
			ps.alloc += allocMilli(n)
		}
	}
	if t, ok := templateNode(p, st.a.cfg.Reserved); ok {
		ps.template = t
		ps.perNode = t.AllocMilliCPU
	}
	return ps
}

// globalRoom is how many more machines the global bound allows.
func (st *state) globalRoom() int {
	if st.a.cfg.MaxNodes <= 0 {
		return 1 << 30
	}
	return max(0, st.a.cfg.MaxNodes-st.total)
}

// room is how many machines pool may still be given this loop.
func (st *state) room(p *poolState) int {
	return max(0, min(p.max()-p.replicas, st.globalRoom()))
}

func percent(f float64) float64 { return float64(int64(f*10000+0.5)) / 100 }

// failedReason is why a failed machine's provider refused it, as a
// decision's reason: InsufficientCapacity or Quota when its Provisioned
// condition says so (a Nova "no valid host" is only learnt so), else
// ProviderError.
func failedReason(m *api.Machine) string {
	for _, c := range m.Status.Conditions {
		if c.Type == api.ConditionProvisioned && c.Status == api.ConditionFalse &&
			(c.Reason == api.ReasonInsufficientCapacity || c.Reason == api.ReasonQuota) {
			return c.Reason
		}
	}
	return api.ReasonProviderError
}
