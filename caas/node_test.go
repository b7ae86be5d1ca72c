package caas_test

import (
	"context"
	"net"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/caas"
	"github.com/cloudmgr/cloud/client"
)

// joinedClient goes through the real join flow and returns a client acting
// as the node.
func joinedClient(t *testing.T, env *apiservertest.Env, node string) *client.Client {
	t.Helper()
	ctx := context.Background()
	jt, err := env.Admin.CreateJoinToken(ctx, time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := env.Client(t, jt.Token).Join(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	return env.Client(t, cred.Token)
}

func waitNode(t *testing.T, c *client.Client, name string, what string, ok func(*api.Node) bool) *api.Node {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	for {
		n, err := client.For[api.Node](c).Get(context.Background(), "", name)
		if err == nil && ok(n) {
			return n
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s: %s not seen within 15s (last %+v, err %v)", name, what, n, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func ready(n *api.Node) *api.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == api.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// TestNodeAgentRegistersAndHeartbeats: the agent registers its Node with
// the machine's capacity, allocatable after the reserve, labels and a Ready
// condition that follows the runtime socket; and it renews its lease.
func TestNodeAgentRegistersAndHeartbeats(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	cfg := caas.NodeConfig{
		Name: "worker-1", Hypervisor: "hv-a", Zone: "zone-1", Labels: map[string]string{"pool": "private"},
		Reserved: api.ResourceList{"cpu": api.MustParseQuantity("500m"), "memory": api.MustParseQuantity("256Mi")},
		Version:  "test", StateDir: t.TempDir(), HeartbeatInterval: 100 * time.Millisecond, StatusEvery: time.Hour,
	}
	agent, err := caas.NewNodeAgent(joinedClient(t, env, "worker-1"), cfg, caas.SocketProbe{Path: sock}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = agent.Run(ctx) }()

	n := waitNode(t, env.Admin, "worker-1", "Ready=True", func(n *api.Node) bool {
		r := ready(n)
		return r != nil && r.Status == api.ConditionTrue
	})
	cpu := n.Status.Capacity[api.ResourceCPU]
	if cpu.Value() != int64(runtime.NumCPU()) {
		t.Errorf("cpu capacity %s, want %d", cpu.String(), runtime.NumCPU())
	}
	alloc := n.Status.Allocatable[api.ResourceCPU]
	if alloc.MilliValue() != cpu.MilliValue()-500 {
		t.Errorf("cpu allocatable %dm, want capacity - 500m = %dm", alloc.MilliValue(), cpu.MilliValue()-500)
	}
	mem, amem := n.Status.Capacity[api.ResourceMemory], n.Status.Allocatable[api.ResourceMemory]
	if mem.Value() <= 0 || mem.Value()-amem.Value() != 256<<20 {
		t.Errorf("memory capacity %s allocatable %s, want a 256Mi reserve", mem.String(), amem.String())
	}
	for k, want := range map[string]string{api.LabelHypervisor: "hv-a", api.LabelZone: "zone-1", api.LabelHostname: "worker-1", "pool": "private"} {
		if got := n.Labels[k]; got != want {
			t.Errorf("label %s = %q, want %q (labels %v)", k, got, want, n.Labels)
		}
	}
	if n.Labels[caas.LabelMachineHostname] == "" || n.Labels["cloudmgr.dev/hypervisor"] != "" {
		t.Errorf("labels %v: want the machine's host name and no cloudmgr.dev/hypervisor", n.Labels)
	}
	if n.Status.NodeInfo.KernelVersion == "" || n.Status.NodeInfo.KubeletVersion != "test" || len(n.Status.Addresses) == 0 {
		t.Errorf("node info %+v addresses %v", n.Status.NodeInfo, n.Status.Addresses)
	}

	// The lease is renewed.
	first, err := client.For[api.Lease](env.Admin).Get(context.Background(), api.NamespaceNodeLease, "worker-1")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := client.For[api.Lease](env.Admin).Get(context.Background(), api.NamespaceNodeLease, "worker-1")
		if err == nil && l.ResourceVersion != first.ResourceVersion && l.Spec.HolderIdentity == "worker-1" && l.Spec.RenewTime != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("lease not renewed")
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A condition someone else owns (the IaaS layer's).
	nodes := client.For[api.Node](env.Admin)
	for {
		n, err := nodes.Get(context.Background(), "", "worker-1")
		if err != nil {
			t.Fatal(err)
		}
		n.Status.Conditions = append(n.Status.Conditions, api.NodeCondition{Type: api.NodeHypervisorReachable, Status: api.ConditionUnknown, Reason: "HypervisorUnreachable"})
		if _, err = nodes.UpdateStatus(context.Background(), n); err == nil {
			break
		} else if !client.IsConflict(err) {
			t.Fatal(err)
		}
	}

	// The runtime goes away: NotReady with the reason; back: Ready. The
	// agent's status write keeps the other condition.
	ln.Close()
	n = waitNode(t, env.Admin, "worker-1", "Ready=False ContainerdUnreachable", func(n *api.Node) bool {
		r := ready(n)
		return r != nil && r.Status == api.ConditionFalse && r.Reason == "ContainerdUnreachable"
	})
	if !slices.ContainsFunc(n.Status.Conditions, func(c api.NodeCondition) bool {
		return c.Type == api.NodeHypervisorReachable && c.Status == api.ConditionUnknown
	}) {
		t.Errorf("the agent dropped condition HypervisorReachable: %+v", n.Status.Conditions)
	}
}

func TestMachineResourcesReserve(t *testing.T) {
	m := caas.Machine{CPUs: 2, MemoryBytes: 4 << 30}
	capacity, alloc := m.Resources(api.ResourceList{"cpu": api.MustParseQuantity("3")})
	c, a := capacity[api.ResourceCPU], alloc[api.ResourceCPU]
	if c.Value() != 2 || a.Value() != 0 {
		t.Fatalf("cpu capacity %s allocatable %s: a reserve above capacity leaves 0", c.String(), a.String())
	}
	if got := alloc[api.ResourceMemory]; got.Value() != 4<<30 {
		t.Fatalf("memory allocatable %s, want all of it", got.String())
	}
}
