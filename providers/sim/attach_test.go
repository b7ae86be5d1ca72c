package sim_test

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/providers/sim"
	"github.com/cloudmgr/cloud/test"
)

// A guest (a machine another provider made) attached to the simulator
// joins with its single-use join token, reports its size, address and its
// pool's usage, and is no machine of the simulator; detached, its agent
// stops; its token, used up, joins nothing again; bad guests are refused
// without the token in the error or the log.
func TestAttachRunsAGuestNode(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	logs := &test.SyncBuffer{}
	p, err := sim.New(sim.Config{Name: "guests", Cloud: true, HeartbeatInterval: 200 * time.Millisecond, StatusInterval: 100 * time.Millisecond,
		CPUUsage: 0.1, Watch: env.Scheduler, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	drive, tok := bootstrap(t, env, "guest-1")
	boot := drive[api.NodeBootstrapFile]

	for _, g := range []sim.Guest{
		{Bootstrap: boot, CPUs: 2, MemoryMiB: 4096},
		{Name: "bad", Bootstrap: []byte(`{"joinToken":"` + tok + `"}`), CPUs: 2, MemoryMiB: 4096},
		{Name: "bad", Bootstrap: []byte(`{"joinToken":"` + tok), CPUs: 2, MemoryMiB: 4096},
		{Name: "bad", Bootstrap: boot},
	} {
		err := p.Attach(g)
		if err == nil || strings.Contains(err.Error(), tok) {
			t.Fatalf("attach %q: %v, want an error without the token", g.Name, err)
		}
	}
	if err := p.Attach(sim.Guest{Name: "guest-1", Bootstrap: boot, CPUs: 2, MemoryMiB: 4096, Pool: "ext", Host: "compute-1",
		Address: "10.0.0.11"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Attach(sim.Guest{Name: "guest-1", Bootstrap: boot, CPUs: 2, MemoryMiB: 4096}); err == nil {
		t.Fatal("a second guest of the same name was attached")
	}
	if err := p.SetPoolCPUUsage("ext", 0.5); err != nil {
		t.Fatal(err)
	}
	var n *api.Node
	controllerstest.WaitFor(t, func() bool {
		n = readyNodes(t, env.Admin)["guest-1"]
		if n == nil || n.Status.Usage == nil {
			return false
		}
		used := n.Status.Usage.Node[api.ResourceCPU]
		return used.MilliValue() == 1000
	}, "the guest's node Ready, at its pool's 50% of 2 CPUs")
	cpu, mem := n.Status.Capacity[api.ResourceCPU], n.Status.Capacity[api.ResourceMemory]
	if cpu.Value() != 2 || mem.Value() != 4096<<20 || n.Labels["tier"] != "sim-test" || n.Labels[api.LabelHypervisor] != "compute-1" ||
		n.Status.Addresses[0].Address != "10.0.0.11" {
		t.Fatalf("the guest's node: capacity %v, labels %v, addresses %v", n.Status.Capacity, n.Labels, n.Status.Addresses)
	}
	if ms, _ := p.List(context.Background()); len(ms) != 0 {
		t.Fatalf("the guest is listed as a machine of the simulator: %+v", ms)
	}
	for _, h := range p.Hosts() {
		if h.Machines != 0 || h.UsedCPUs != 0 {
			t.Fatalf("the guest takes room on host %+v", h)
		}
	}
	if ns := p.Nodes(); len(ns) != 1 || ns[0].Name != "guest-1" || !ns[0].Registered {
		t.Fatalf("node agents %+v", ns)
	}

	// Detached: the agent stops, its lease is renewed no more.
	if !p.Detach("guest-1") || p.Detach("guest-1") {
		t.Fatal("Detach reports wrongly whether the guest was attached")
	}
	if ns := p.Nodes(); len(ns) != 0 {
		t.Fatalf("node agents after Detach: %+v", ns)
	}
	time.Sleep(200 * time.Millisecond) // a renewal under way when it stopped lands
	renewed := leaseTimes(t, env.Admin)["guest-1"]
	time.Sleep(600 * time.Millisecond) // three heartbeat intervals
	if got := leaseTimes(t, env.Admin)["guest-1"]; !got.Equal(renewed) {
		t.Fatalf("the detached guest's lease was renewed at %v (last before Detach %v)", got, renewed)
	}

	// The token was single-use: the same bootstrap joins nothing again.
	if err := p.Attach(sim.Guest{Name: "guest-1-again", Bootstrap: boot, CPUs: 2, MemoryMiB: 4096}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return strings.Contains(logs.String(), "join refused") }, "the reused token refused")
	if ns := p.Nodes(); len(ns) != 1 || ns[0].Joined || ns[0].Registered {
		t.Fatalf("the agent of a used-up token: %+v", ns)
	}
	if strings.Contains(logs.String(), tok) {
		t.Fatal("the join token is in the log")
	}
	if _, err := client.For[api.Node](env.Admin).Get(context.Background(), "", "guest-1"); err != nil {
		t.Fatalf("the detached guest's Node: %v", err)
	}
}
