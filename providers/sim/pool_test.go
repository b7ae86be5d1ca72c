package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/nodelifecycle"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/hypervisor"
	"github.com/cloudmgr/cloud/iaas/machine"
	"github.com/cloudmgr/cloud/iaas/nodepool"
	"github.com/cloudmgr/cloud/iaas/placement"
	"github.com/cloudmgr/cloud/providers/sim"
)

// controlPlane runs the IaaS controllers as cloudd does (hypervisor,
// machine with real placement and bootstrap, node pool) over the
// simulator, with the IaaS controllers' role.
func controlPlane(t *testing.T, env *apiservertest.Env, p *sim.Provider, joinTimeout time.Duration) {
	t.Helper()
	// Timed by the metrics decorator, as cloudd wraps every provider.
	providers := iaas.Providers{p.Name(): iaas.Instrument(p, prometheus.NewRegistry())}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	controllerstest.RunManager(t, env.IaaSController(t), log, func(m *controllers.Manager) error {
		kind := func(k string) *api.KindInfo {
			ki, _ := m.Client.Scheme().ByKind(api.APIVersionIaaS, k)
			return ki
		}
		placer := placement.New(m.Cache(kind(api.KindHypervisor)), m.Cache(kind(api.KindMachine)), m.Cache(kind(api.KindVirtualMachine)))
		if err := hypervisor.Setup(m, hypervisor.Options{Providers: providers, Resync: 500 * time.Millisecond}); err != nil {
			return err
		}
		boot := func(ctx context.Context, mc *api.Machine) (map[string][]byte, error) {
			tok, err := m.Client.CreateMachineJoinToken(ctx, time.Hour, mc.Name)
			if err != nil {
				return nil, err
			}
			data, err := json.Marshal(api.NodeBootstrap{Server: env.URL, CA: string(env.CAPEM), JoinToken: tok.Token, NodeName: mc.Name})
			return map[string][]byte{api.NodeBootstrapFile: data}, err
		}
		if _, err := machine.Setup(m, machine.Options{Providers: providers, Placer: placer, Bootstrap: boot,
			CheckInterval: 200 * time.Millisecond, JoinTimeout: joinTimeout}); err != nil {
			return err
		}
		_, err := nodepool.Setup(m, nodepool.Options{FailedBackoff: 300 * time.Millisecond, DrainPoll: 200 * time.Millisecond})
		return err
	})
}

func createPool(t *testing.T, c *client.Client, name string, replicas int32) {
	t.Helper()
	p := &api.NodePool{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.NodePoolSpec{Provider: "sim", VCPUs: 2,
		Memory: api.MustParseQuantity("2Gi"), Replicas: &replicas, MaxSize: 10, Labels: map[string]string{"tier": name}}}
	if _, err := client.For[api.NodePool](c).Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func scalePool(t *testing.T, c *client.Client, name string, replicas int32) {
	t.Helper()
	pools := client.For[api.NodePool](c)
	for {
		p, err := pools.Get(context.Background(), "", name)
		if err != nil {
			t.Fatal(err)
		}
		p.Spec.Replicas = &replicas
		if _, err = pools.Update(context.Background(), p); !client.IsConflict(err) {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

func poolMachines(t *testing.T, c *client.Client, pool string) []*api.Machine {
	t.Helper()
	ms, _, err := client.For[api.Machine](c).List(context.Background(), "", client.ListOptions{LabelSelector: api.LabelNodePool + "=" + pool})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

// joinedMachines waits until pool has n joined machines and n Ready nodes.
func joinedMachines(t *testing.T, c *client.Client, pool string, n int) []*api.Machine {
	t.Helper()
	var ms []*api.Machine
	controllerstest.WaitFor(t, func() bool {
		ms = poolMachines(t, c, pool)
		joined := 0
		for _, m := range ms {
			if m.Status.Phase == api.MachineJoined && m.DeletionTimestamp == nil {
				joined++
			}
		}
		p, err := client.For[api.NodePool](c).Get(context.Background(), "", pool)
		return err == nil && joined == n && len(ms) == n && p.Status.ReadyNodes == int32(n)
	}, fmt.Sprintf("pool %s to have %d joined machines", pool, n))
	return ms
}

// A NodePool of provider sim on simulated hypervisors added as sim://HOST:
// its machines are placed by the real placement, their simulated nodes
// join through machine-bound tokens and turn Ready labelled as simulated;
// scaling down drains a node (its pod evicted, confirmed gone by the
// simulated agent) and deletes its machine and node.
func TestNodePoolOnSimulatedHypervisors(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	p, err := sim.New(sim.Config{Hosts: []sim.Host{{Name: "h", CPUs: 8, MemoryMiB: 16384, Count: 2}},
		HeartbeatInterval: time.Second, Watch: env.Scheduler, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	controlPlane(t, env, p, 0)
	ctx := context.Background()
	for i := range 2 {
		// As 'cloudctl hypervisor add hv-N --provider sim --uri sim://h-N'.
		hv := &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("hv-%d", i)},
			Spec: api.HypervisorSpec{Provider: "sim", URI: fmt.Sprintf("sim://h-%d", i)}}
		if _, err := client.For[api.Hypervisor](env.Admin).Create(ctx, hv); err != nil {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool {
		hvs, _, _ := client.For[api.Hypervisor](env.Admin).List(ctx, "", client.ListOptions{})
		ready := 0
		for _, h := range hvs {
			if h.Status.Hostname != "" && h.Status.Capacity.Cpu().Value() == 8 {
				ready++
			}
		}
		return ready == 2
	}, "both hypervisors inspected")

	createPool(t, env.Admin, "web", 3)
	ms := joinedMachines(t, env.Admin, "web", 3)
	hosts := map[string]bool{}
	for _, m := range ms {
		n, err := client.For[api.Node](env.Admin).Get(ctx, "", m.Name)
		if err != nil {
			t.Fatal(err)
		}
		if n.Labels[sim.LabelSimulated] != "true" || n.Labels["tier"] != "web" || n.Labels[api.LabelProvider] != "sim" ||
			n.Labels[api.LabelNodePool] != "web" || n.Spec.ProviderID != m.Status.ProviderID {
			t.Fatalf("node %s: labels %v, provider ID %q (machine's %q)", n.Name, n.Labels, n.Spec.ProviderID, m.Status.ProviderID)
		}
		hosts[n.Labels[api.LabelHypervisor]] = true
	}
	if len(hosts) != 2 {
		t.Fatalf("nodes on hosts %v, want both", hosts)
	}
	if got := p.Hosts(); got[0].Machines+got[1].Machines != 3 {
		t.Fatalf("hosts %+v", got)
	}

	// A pod on each node; scale down to one.
	for _, m := range ms {
		pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p-" + m.Name, Namespace: "default"},
			Spec: api.PodSpec{NodeName: m.Name, Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := client.For[api.Pod](env.Admin).Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool {
		ps, _, _ := client.For[api.Pod](env.Admin).List(ctx, "default", client.ListOptions{})
		running := 0
		for _, p := range ps {
			if p.Status.Phase == api.PodRunning {
				running++
			}
		}
		return running == 3
	}, "a pod Running on each simulated node")
	scalePool(t, env.Admin, "web", 1)
	left := joinedMachines(t, env.Admin, "web", 1)
	controllerstest.WaitFor(t, func() bool {
		ms, _ := p.List(ctx)
		ps, _, _ := client.For[api.Pod](env.Admin).List(ctx, "default", client.ListOptions{})
		nodes, _, _ := client.For[api.Node](env.Admin).List(ctx, "", client.ListOptions{})
		return len(ms) == 1 && len(ps) == 1 && len(nodes) == 1 && ms[0].Name == left[0].Name &&
			ps[0].Spec.NodeName == left[0].Name && len(p.Nodes()) == 1
	}, "the drained machines, their pods and nodes gone")
}

// A simulated cloud places machines itself; an injected failure makes a
// Failed machine that the pool replaces, and so does a machine whose node
// never joins.
func TestNodePoolReplacesFailedSimulatedMachines(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	p, err := sim.New(sim.Config{Cloud: true, HeartbeatInterval: time.Second, Watch: env.Scheduler, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	controlPlane(t, env, p, 2*time.Second)
	ctx := context.Background()

	p.FailNextCreates(iaas.ErrInsufficientCapacity, 1)
	createPool(t, env.Admin, "burst", 1)
	controllerstest.WaitFor(t, func() bool {
		evs, _, _ := client.For[api.Event](env.Admin).List(ctx, "", client.ListOptions{})
		for _, ev := range evs {
			if ev.Reason == nodepool.ReasonReplacingFailed {
				return true
			}
		}
		return false
	}, "the failed machine replaced")
	ms := joinedMachines(t, env.Admin, "burst", 1)
	n, err := client.For[api.Node](env.Admin).Get(ctx, "", ms[0].Name)
	if err != nil || n.Labels[sim.LabelSimulated] != "true" {
		t.Fatalf("node %v: %v", n, err)
	}

	// The next machine runs but never joins: it fails at the join timeout
	// and is replaced by one that joins.
	p.NeverJoinNext(1)
	first := ms[0].Name
	scalePool(t, env.Admin, "burst", 2)
	controllerstest.WaitFor(t, func() bool {
		for _, m := range poolMachines(t, env.Admin, "burst") {
			if m.Status.Phase == api.MachineFailed {
				return true
			}
		}
		return false
	}, "a machine Failed for not joining")
	ms = joinedMachines(t, env.Admin, "burst", 2)
	if ms[0].Name != first && ms[1].Name != first {
		t.Fatalf("the first machine was replaced: %s %s", ms[0].Name, ms[1].Name)
	}
	if vms, _ := p.List(ctx); len(vms) != 2 {
		t.Fatalf("%d simulated machines, want 2", len(vms))
	}

	// A machine that disappears behind the system's back is replaced.
	gone := ms[0].Name
	if !p.Disappear(gone) {
		t.Fatalf("no machine %s", gone)
	}
	controllerstest.WaitFor(t, func() bool {
		cur := joinedMachines(t, env.Admin, "burst", 2)
		return cur[0].Name != gone && cur[1].Name != gone
	}, "the vanished machine replaced")
}

// A paused simulated node is marked Unknown by the node lifecycle
// controller when its lease runs out, and is Ready again once resumed; a
// node marked Unknown while it heartbeats (lease times have whole-second
// precision) says Ready again.
func TestPausedNodeGoesUnknownAndBack(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	p, err := sim.New(sim.Config{Cloud: true, HeartbeatInterval: 300 * time.Millisecond, Watch: env.Scheduler, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	controllerstest.RunManager(t, env.ControllerManager(t), nil, func(m *controllers.Manager) error {
		return nodelifecycle.Setup(m, nodelifecycle.Options{GracePeriod: 3 * time.Second, EvictionTimeout: time.Hour})
	})
	createNodes(t, env, p, "pz", 2)
	controllerstest.WaitFor(t, func() bool { return len(readyNodes(t, env.Admin)) == 2 }, "2 Ready nodes")
	ready := func() api.ConditionStatus {
		n, err := client.For[api.Node](env.Admin).Get(context.Background(), "", "pz-1")
		if err != nil {
			t.Fatal(err)
		}
		return nodeCondition(n, api.NodeReady).Status
	}
	p.PauseNode("pz-1", true)
	controllerstest.WaitFor(t, func() bool { return ready() == api.ConditionUnknown }, "the paused node Unknown")
	p.PauseNode("pz-1", false)
	controllerstest.WaitFor(t, func() bool { return ready() == api.ConditionTrue }, "the resumed node Ready")
	// Marked Unknown behind its back, a heartbeating node says Ready at
	// its next heartbeat (its status interval is a minute).
	nodes := client.For[api.Node](env.Admin)
	for {
		n, err := nodes.Get(context.Background(), "", "pz-0")
		if err != nil {
			t.Fatal(err)
		}
		nodeCondition(n, api.NodeReady).Status = api.ConditionUnknown
		if _, err = nodes.UpdateStatus(context.Background(), n); !client.IsConflict(err) {
			if err != nil {
				t.Fatal(err)
			}
			break
		}
	}
	controllerstest.WaitFor(t, func() bool { _, ok := readyNodes(t, env.Admin)["pz-0"]; return ok }, "pz-0 Ready again")
}
