package hypervisor_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/hypervisor"
	"github.com/cloudmgr/cloud/iaas/placement"
)

// host is a hand-written provider that can only inspect hosts.
type host struct {
	iaas.Provider
	mu   sync.Mutex
	info iaas.HostInfo
	err  error
}

func (h *host) Name() string { return "libvirt" }
func (h *host) InspectHost(context.Context, string, string) (iaas.HostInfo, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.info, h.err
}
func (h *host) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.err = err
}

// TestHypervisorController runs the controller with the IaaS controllers'
// role against a real API server: status from the host, totals from the
// Machines and VMs placed there, and Unknown while the host is away.
func TestHypervisorController(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	fake := &host{info: iaas.HostInfo{Hostname: "host-1", CPUs: 4, MemoryMiB: 8192, DomainType: "qemu"}}
	controllerstest.RunManager(t, env.IaaSController(t), nil, func(m *controllers.Manager) error {
		return hypervisor.Setup(m, hypervisor.Options{Providers: iaas.Providers{"libvirt": fake}, Resync: 100 * time.Millisecond})
	})

	hvs := client.For[api.Hypervisor](env.Admin)
	if _, err := hvs.Create(ctx, &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: "hv-1"},
		Spec: api.HypervisorSpec{URI: "qemu:///system", CPUAllocationRatio: "4"}}); err != nil {
		t.Fatal(err)
	}
	machines := client.For[api.Machine](env.Admin)
	m, err := machines.Create(ctx, &api.Machine{ObjectMeta: api.ObjectMeta{Name: "web-1"}, Spec: api.MachineSpec{
		Provider: "libvirt", Pool: "web", Hypervisor: "hv-1", VCPUs: 2, Memory: api.MustParseQuantity("1Gi")}})
	if err != nil {
		t.Fatal(err)
	}
	m.Status.Phase, m.Status.ProviderID, m.Status.Host = api.MachineJoined, "libvirt://hv-1/1", "host-1"
	if _, err := machines.UpdateStatus(ctx, m); err != nil {
		t.Fatal(err)
	}
	// The machine's node, as its agent registered it.
	nodes := client.For[api.Node](env.Admin)
	n, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "web-1"}})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "CloudletReady"}}
	n.Status.Capacity = api.ResourceList{api.ResourceCPU: api.MustParseQuantity("2")}
	if _, err := nodes.UpdateStatus(ctx, n); err != nil {
		t.Fatal(err)
	}
	nodeCond := func() (ready, hv *api.NodeCondition, n *api.Node) {
		n, err := nodes.Get(ctx, "", "web-1")
		if err != nil {
			t.Fatal(err)
		}
		for i, c := range n.Status.Conditions {
			switch c.Type {
			case api.NodeReady:
				ready = &n.Status.Conditions[i]
			case api.NodeHypervisorReachable:
				hv = &n.Status.Conditions[i]
			}
		}
		return ready, hv, n
	}
	vms := client.For[api.VirtualMachine](env.Admin)
	vm, err := vms.Create(ctx, &api.VirtualMachine{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "db"},
		Spec: api.VirtualMachineSpec{CPUs: 1, Memory: api.MustParseQuantity("512Mi")}})
	if err != nil {
		t.Fatal(err)
	}
	vm.Status.Phase, vm.Status.Hypervisor = api.VMRunning, "hv-1"
	if _, err := vms.UpdateStatus(ctx, vm); err != nil {
		t.Fatal(err)
	}

	get := func() *api.Hypervisor {
		h, err := hvs.Get(ctx, "", "hv-1")
		if err != nil {
			t.Fatal(err)
		}
		return h
	}
	controllerstest.WaitFor(t, func() bool {
		h := get()
		return placement.Reachable(h) && h.Status.Machines == 2 && h.Status.Hostname == "host-1" &&
			h.Status.Capacity[api.ResourceCPU].Value() == 4 &&
			h.Status.Allocated[api.ResourceCPU].MilliValue() == 3000 &&
			h.Status.Allocated[api.ResourceMemory].Value() == 1536<<20
	}, "the hypervisor's capacity and totals")

	fake.fail(errors.New("dial tcp 10.0.0.5:16509: connect: connection refused"))
	controllerstest.WaitFor(t, func() bool {
		c := placement.Condition(get().Status.Conditions, api.ConditionReachable)
		return c != nil && c.Status == api.ConditionFalse && c.Reason == hypervisor.ReasonUnreachable && c.Message != ""
	}, "Reachable False")
	controllerstest.WaitFor(t, func() bool {
		m, err := machines.Get(ctx, "", "web-1")
		v, err2 := vms.Get(ctx, "default", "db")
		return err == nil && err2 == nil && m.Status.Phase == api.MachineUnknown && v.Status.Phase == api.VMUnknown
	}, "the machine and the VM reported Unknown")
	controllerstest.WaitFor(t, func() bool {
		_, hv, _ := nodeCond()
		return hv != nil && hv.Status == api.ConditionUnknown && hv.Reason == hypervisor.ReasonHypervisorUnreachable
	}, "the machine's node reported HypervisorReachable Unknown")
	// The rest of the node's status is its agent's: untouched.
	if ready, _, n := nodeCond(); ready == nil || ready.Status != api.ConditionTrue || n.Status.Capacity[api.ResourceCPU].Value() != 2 {
		t.Fatalf("the node's own status changed: %+v", n.Status)
	}
	if h := get(); h.Status.Capacity[api.ResourceCPU].Value() != 4 {
		t.Fatalf("capacity lost while unreachable: %v", h.Status.Capacity)
	}

	fake.fail(nil)
	controllerstest.WaitFor(t, func() bool {
		m, err := machines.Get(ctx, "", "web-1")
		if err != nil || !placement.Reachable(get()) {
			return false
		}
		c := placement.Condition(m.Status.Conditions, api.ConditionReachable)
		return c != nil && c.Status == api.ConditionTrue
	}, "the host and its machine reachable again")
	controllerstest.WaitFor(t, func() bool {
		_, hv, _ := nodeCond()
		return hv != nil && hv.Status == api.ConditionTrue
	}, "the node's hypervisor reachable again")

	// A Machine removed frees its share.
	if err := machines.Delete(ctx, "", "web-1", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		h := get()
		return h.Status.Machines == 1 && h.Status.Allocated[api.ResourceCPU].MilliValue() == 1000
	}, "totals after the machine left")
}
