package autoscaler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas/nodepool"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

// world is a hand-built snapshot: pools of nodes with a CPU use each.
type world struct {
	pools map[string]*Pool
	order []string
	pods  []*api.Pod
}

func newWorld() *world { return &world{pools: map[string]*Pool{}} }

// pool adds a pool of vcpus-CPU, 8 GiB machines with replicas machines,
// ready of them joined with a Ready node.
func (w *world) pool(name string, prio, minSize, maxSize, replicas, ready, vcpus int32) *Pool {
	r := replicas
	p := &Pool{NodePool: &api.NodePool{ObjectMeta: api.ObjectMeta{Name: name},
		Spec: api.NodePoolSpec{Provider: "sim", VCPUs: vcpus, Memory: api.MustParseQuantity("8Gi"),
			MinSize: minSize, MaxSize: maxSize, Replicas: &r, Priority: prio}}}
	w.pools[name] = p
	w.order = append(w.order, name)
	for i := range replicas {
		m := &api.Machine{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s-%d", name, i), Labels: map[string]string{api.LabelNodePool: name}},
			Spec: api.MachineSpec{Provider: "sim", Pool: name}, Status: api.MachineStatus{Phase: api.MachineProvisioning}}
		if i < ready {
			m.Status.Phase = api.MachineJoined
			p.Nodes = append(p.Nodes, node(m.Name, name, vcpus, 0))
		}
		p.Machines = append(p.Machines, m)
	}
	return p
}

// node is a Ready node of vcpus CPUs (minus the default reserve) whose
// pods use frac of it.
func node(name, pool string, vcpus int32, frac float64) *api.Node {
	alloc := int64(vcpus)*1000 - 100
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelNodePool: pool, api.LabelProvider: "sim"}},
		Status: api.NodeStatus{
			Allocatable: api.ResourceList{api.ResourceCPU: api.NewMilliQuantity(alloc, api.DecimalSI),
				api.ResourceMemory: api.MustParseQuantity("8000Mi"), api.ResourcePods: api.NewQuantity(110, api.DecimalSI)},
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}}}
	setUse(n, frac)
	return n
}

func setUse(n *api.Node, frac float64) {
	alloc := n.Status.Allocatable[api.ResourceCPU]
	used := api.NewMilliQuantity(int64(frac*float64(alloc.MilliValue())), api.DecimalSI)
	n.Status.Usage = &api.NodeUsage{Pods: api.ResourceList{api.ResourceCPU: used}, Node: api.ResourceList{api.ResourceCPU: used}}
}

// use sets the CPU use of every node of a pool.
func (w *world) use(pool string, frac float64) {
	for _, n := range w.pools[pool].Nodes {
		setUse(n, frac)
	}
}

// pending adds n unschedulable pods requesting cpu each.
func (w *world) pending(prefix string, n int, cpu string, tol ...api.Toleration) {
	for i := range n {
		w.pods = append(w.pods, &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i), Namespace: "apps", UID: fmt.Sprintf("%s-%d", prefix, i)},
			Spec: api.PodSpec{Tolerations: tol, Containers: []api.Container{{Name: "c", Image: "busybox",
				Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu)}}}}},
			Status: api.PodStatus{Phase: api.PodPending, Conditions: []api.PodCondition{{Type: api.PodScheduled,
				Status: api.ConditionFalse, Reason: api.PodReasonUnschedulable, LastTransitionTime: api.NewTime(t0)}}}})
	}
}

// bind adds a running pod requesting cpu on a node.
func (w *world) bind(name, nodeName, cpu string, ann map[string]string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "apps", UID: name, Annotations: ann},
		Spec: api.PodSpec{NodeName: nodeName, Containers: []api.Container{{Name: "c", Image: "busybox",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu)}}}}},
		Status: api.PodStatus{Phase: api.PodRunning}}
	w.pods = append(w.pods, p)
	return p
}

func (w *world) snapshot() *Snapshot {
	s := &Snapshot{Pods: w.pods}
	for _, name := range w.order {
		p := w.pools[name]
		s.Pools = append(s.Pools, p)
		s.Nodes = append(s.Nodes, p.Nodes...)
	}
	return s
}

// apply sets the pools' replicas as the plan says, and marks the machines
// to go (as the controller would).
func (w *world) apply(plan Plan) {
	for _, u := range plan.ScaleUps {
		r := u.Replicas
		w.pools[u.Pool].NodePool.Spec.Replicas = &r
	}
	for _, d := range plan.ScaleDowns {
		p := w.pools[d.Pool]
		r := d.Replicas
		p.NodePool.Spec.Replicas = &r
		for _, m := range p.Machines {
			if m.Name == d.Machine {
				m.Annotations = map[string]string{nodepool.AnnotationScaleDown: "x"}
			}
		}
	}
}

// capacity is a recording capacity check that answers per pool.
type capacity struct {
	mu    sync.Mutex
	errs  map[string]error
	calls []string
}

func (c *capacity) check(_ context.Context, p *api.NodePool, n int) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.calls = append(c.calls, fmt.Sprintf("%s+%d", p.Name, n))
	return c.errs[p.Name]
}

func replicas(p *Pool) int32 { return *p.NodePool.Spec.Replicas }

// fill binds a pod taking all the allocatable CPU of every Ready node, so
// that pending pods fit none of them.
func (w *world) fill() {
	for _, name := range w.order {
		for _, n := range w.pools[name].Nodes {
			alloc := n.Status.Allocatable[api.ResourceCPU]
			w.bind("filler-"+n.Name, n.Name, alloc.String(), nil)
		}
	}
}
