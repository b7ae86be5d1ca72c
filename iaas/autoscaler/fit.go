package autoscaler

import (
	"context"
	"fmt"
	"maps"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

// fitter asks the scheduler's own filter plugins whether a pod would go on
// a node, real or made from a pool's template: the autoscaler never
// re-implements a filter.
type fitter struct {
	fw   *framework.Framework[*api.Pod, *nodeinfo.NodeInfo]
	snap *nodeinfo.Snapshot
}

func newFitter(snap *nodeinfo.Snapshot) *fitter {
	return &fitter{fw: framework.New(plugins.NewPodProfile(plugins.Options{Parallelism: 1})), snap: snap}
}

// podCheck is one pod's pre-filtered cycle state, reused on every node
// tried for it.
type podCheck struct {
	pod   *api.Pod
	info  *nodeinfo.PodInfo
	state *framework.CycleState
	skip  map[string]bool
	// rejected is set when the pre-filters reject the pod everywhere.
	rejected *framework.Status
}

func (f *fitter) check(ctx context.Context, p *api.Pod) *podCheck {
	pc := &podCheck{pod: p, info: nodeinfo.NewPodInfo(p), state: framework.NewCycleState()}
	pc.state.Write(nodeinfo.SnapshotKey, f.snap)
	plugins.SetPodInfo(pc.state, pc.info)
	skip, st := f.fw.RunPreFilters(ctx, pc.state, p)
	pc.skip = skip
	if !st.IsSuccess() {
		pc.rejected = st
	}
	return pc
}

// fits reports whether the pod passes every filter on n; why says which
// filter refused it and why.
func (f *fitter) fits(ctx context.Context, pc *podCheck, n *nodeinfo.NodeInfo) (ok bool, why string) {
	if pc.rejected != nil {
		return false, fmt.Sprintf("%s: %s", pc.rejected.Plugin(), pc.rejected.Message())
	}
	st := f.fw.RunFilters(ctx, pc.state, pc.pod, n, pc.skip)
	if st.IsSuccess() {
		return true, ""
	}
	return false, fmt.Sprintf("%s: %s", st.Plugin(), st.Message())
}

// templateNode is the node a new machine of pool would become: the
// template's CPUs and memory less what the node agent reserves, the pool's
// labels and taints, Ready. ok is false when the size is unknown (a
// flavor the provider did not describe, and no node of the pool yet to
// learn it from).
func templateNode(pool *Pool, reserved api.ResourceList) (*nodeinfo.NodeInfo, bool) {
	np := pool.NodePool
	labels := maps.Clone(np.Spec.Labels)
	if labels == nil {
		labels = map[string]string{}
	}
	labels[api.LabelNodePool] = np.Name
	labels[api.LabelProvider] = np.Spec.Provider
	alloc := api.ResourceList{api.ResourcePods: api.NewQuantity(110, api.DecimalSI)}
	vcpus, mem := np.Spec.VCPUs, np.Spec.Memory
	if np.Spec.Flavor != "" && pool.Flavor.CPUs > 0 && pool.Flavor.MemoryMiB > 0 {
		vcpus, mem = pool.Flavor.CPUs, api.NewQuantity(pool.Flavor.MemoryMiB<<20, api.BinarySI)
	}
	switch {
	case vcpus > 0 && mem.Sign() > 0:
		cpu := api.NewQuantity(int64(vcpus), api.DecimalSI)
		if r, ok := reserved[api.ResourceCPU]; ok {
			cpu = cpu.Sub(r)
		}
		if r, ok := reserved[api.ResourceMemory]; ok {
			mem = mem.Sub(r)
		}
		alloc[api.ResourceCPU], alloc[api.ResourceMemory] = cpu, mem
	default:
		var seen *api.Node
		for _, n := range pool.Nodes {
			if len(n.Status.Allocatable) > 0 {
				seen = n
				break
			}
		}
		if seen == nil {
			return nil, false
		}
		alloc = seen.Status.Allocatable
	}
	node := &api.Node{
		ObjectMeta: api.ObjectMeta{Name: "template-" + np.Name, Labels: labels},
		Spec:       api.NodeSpec{Taints: np.Spec.Taints},
		Status: api.NodeStatus{Allocatable: alloc, Capacity: alloc,
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}},
	}
	return nodeinfo.New(node), true
}
