package sim_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/providers/sim"
	"github.com/cloudmgr/cloud/test"
)

// bootstrap mints a join token for node and returns the config drive a
// machine of that name gets, and the token (to check it is never logged).
func bootstrap(t testing.TB, env *apiservertest.Env, node string) (map[string][]byte, string) {
	t.Helper()
	tok, err := env.Admin.CreateJoinToken(context.Background(), time.Hour, node)
	if err != nil {
		t.Fatal(err)
	}
	data, err := json.Marshal(api.NodeBootstrap{Server: env.URL, CA: string(env.CAPEM), JoinToken: tok.Token, NodeName: node,
		Labels: map[string]string{"tier": "sim-test"}})
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{api.NodeBootstrapFile: data}, tok.Token
}

// createNodes creates n machines named prefix-i, whose simulated nodes
// join with tokens of their own; it returns the tokens.
func createNodes(t testing.TB, env *apiservertest.Env, p *sim.Provider, prefix string, n int) []string {
	t.Helper()
	var tokens []string
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		drive, tok := bootstrap(t, env, name)
		tokens = append(tokens, tok)
		if _, err := p.Create(context.Background(), iaas.MachineSpec{Name: name, CPUs: 4, MemoryMiB: 8192, ConfigDrive: drive,
			Labels: map[string]string{api.LabelNodePool: prefix}}); err != nil {
			t.Fatal(err)
		}
	}
	return tokens
}

func readyNodes(t testing.TB, c *client.Client) map[string]*api.Node {
	t.Helper()
	ns, _, err := client.For[api.Node](c).List(context.Background(), "", client.ListOptions{LabelSelector: sim.LabelSimulated + "=true"})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*api.Node{}
	for _, n := range ns {
		if c := nodeCondition(n, api.NodeReady); c != nil && c.Status == api.ConditionTrue {
			out[n.Name] = n
		}
	}
	return out
}

func nodeCondition(n *api.Node, t api.NodeConditionType) *api.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func leaseTimes(t testing.TB, c *client.Client) map[string]time.Time {
	t.Helper()
	ls, _, err := client.For[api.Lease](c).List(context.Background(), api.NamespaceNodeLease, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]time.Time{}
	for _, l := range ls {
		if l.Spec.RenewTime != nil {
			out[l.Name] = l.Spec.RenewTime.Time
		}
	}
	return out
}

// 200 simulated nodes join through the real API server with one shared
// transport and one pod watch: all turn Ready, labelled as simulated,
// with their capacity and usage; their leases are renewed; pods bound to
// them run and deleted pods go; and no join token reaches the log.
func TestManyNodesJoinAndRunPods(t *testing.T) {
	const n = 200
	env := apiservertest.Start(t, apiservertest.Options{})
	logs := &test.SyncBuffer{}
	p, err := sim.New(sim.Config{Cloud: true, Hosts: []sim.Host{{Name: "rack", CPUs: 256, MemoryMiB: 1 << 20, Count: 4}},
		HeartbeatInterval: time.Second, StatusInterval: 2 * time.Second, CPUUsage: 0.25, PodStartDelay: 100 * time.Millisecond,
		Watch: env.Scheduler, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	tokens := createNodes(t, env, p, "sim", n)
	// One bad token: that node is refused and never joins.
	bad, _ := bootstrap(t, env, "refused")
	var b api.NodeBootstrap
	_ = json.Unmarshal(bad[api.NodeBootstrapFile], &b)
	b.JoinToken = "cm_bogus-token-that-must-not-be-logged"
	bad[api.NodeBootstrapFile], _ = json.Marshal(b)
	tokens = append(tokens, b.JoinToken)
	if _, err := p.Create(context.Background(), iaas.MachineSpec{Name: "refused", CPUs: 1, MemoryMiB: 512, ConfigDrive: bad}); err != nil {
		t.Fatal(err)
	}

	var nodes map[string]*api.Node
	controllerstest.WaitFor(t, func() bool { nodes = readyNodes(t, env.Admin); return len(nodes) == n }, "200 Ready simulated nodes")
	t.Logf("%d simulated nodes Ready in %s", n, time.Since(start).Round(time.Millisecond))
	node := nodes["sim-7"]
	if node == nil {
		t.Fatal("no node sim-7")
	}
	if node.Labels["tier"] != "sim-test" || node.Labels[api.LabelHypervisor] == "" || node.Labels[api.LabelHostname] != "sim-7" {
		t.Fatalf("labels %v", node.Labels)
	}
	info := node.Status.NodeInfo
	if info.OSImage != sim.Simulated || info.ContainerRuntimeVersion != sim.Simulated || !strings.HasPrefix(info.MachineID, "sim://") {
		t.Fatalf("node info %+v", info)
	}
	if c := node.Status.Capacity; c.Cpu().Value() != 4 || c.Memory().Value() != 8<<30 {
		t.Fatalf("capacity %v", c)
	}
	if u := node.Status.Usage; u == nil || u.Node.Cpu().MilliValue() != 1000 {
		t.Fatalf("usage %+v, want 1 CPU of 4", u)
	}
	if st := p.Nodes(); len(st) != n+1 {
		t.Fatalf("%d simulated agents, want %d", len(st), n+1)
	}

	// Leases: every node renews its own.
	first := leaseTimes(t, env.Admin)
	if len(first) != n {
		t.Fatalf("%d leases, want %d", len(first), n)
	}
	controllerstest.WaitFor(t, func() bool {
		now := leaseTimes(t, env.Admin)
		for name, at := range first {
			if !now[name].After(at) {
				return false
			}
		}
		return true
	}, "every lease renewed")

	// Usage set at run time reaches the node's status.
	if err := p.SetNodeCPUUsage("sim-3", 0.75); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		nd, err := client.For[api.Node](env.Admin).Get(context.Background(), "", "sim-3")
		return err == nil && nd.Status.Usage != nil && nd.Status.Usage.Node.Cpu().MilliValue() == 3000
	}, "sim-3 to report 3 CPUs busy")

	// Pods bound to simulated nodes run; deleted ones go.
	pods := client.For[api.Pod](env.Admin)
	ctx := context.Background()
	for i := range 20 {
		pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("p-%d", i), Namespace: "default"},
			Spec: api.PodSpec{NodeName: fmt.Sprintf("sim-%d", i*7), Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := pods.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool {
		ps, _, _ := pods.List(ctx, "default", client.ListOptions{})
		running := 0
		for _, p := range ps {
			if p.Status.Phase == api.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready {
				running++
			}
		}
		return running == 20
	}, "20 pods Running on simulated nodes")
	for i := range 20 {
		if err := pods.Delete(ctx, "default", fmt.Sprintf("p-%d", i), client.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool {
		ps, _, _ := pods.List(ctx, "default", client.ListOptions{})
		return len(ps) == 0
	}, "deleted pods confirmed gone")

	// A paused node stops renewing its lease, and renews it again once
	// resumed.
	if !p.PauseNode("sim-2", true) {
		t.Fatal("no node sim-2")
	}
	time.Sleep(1500 * time.Millisecond)
	paused := leaseTimes(t, env.Admin)["sim-2"]
	time.Sleep(1500 * time.Millisecond)
	if now := leaseTimes(t, env.Admin)["sim-2"]; !now.Equal(paused) {
		t.Fatalf("lease of a paused node renewed: %s then %s", paused, now)
	}
	p.PauseNode("sim-2", false)
	controllerstest.WaitFor(t, func() bool { return leaseTimes(t, env.Admin)["sim-2"].After(paused) }, "the resumed node's lease renewed")

	// A machine that disappears stops heartbeating.
	if !p.Disappear("sim-1") {
		t.Fatal("no sim-1")
	}
	time.Sleep(1500 * time.Millisecond)
	at := leaseTimes(t, env.Admin)["sim-1"]
	time.Sleep(1500 * time.Millisecond)
	if now := leaseTimes(t, env.Admin)["sim-1"]; !now.Equal(at) {
		t.Fatalf("lease of a vanished machine renewed: %s then %s", at, now)
	}

	log := logs.String()
	if !strings.Contains(log, "join refused") {
		t.Fatalf("no log of the refused join:\n%s", log)
	}
	for _, tok := range tokens {
		if strings.Contains(log, tok) {
			t.Fatal("a join token was logged")
		}
	}
}

// Without a shared pod watch each simulated node watches its own pods
// with its node credential, as cloudlet does.
func TestNodesWatchTheirOwnPods(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	p, err := sim.New(sim.Config{Cloud: true, HeartbeatInterval: time.Second, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	createNodes(t, env, p, "own", 3)
	controllerstest.WaitFor(t, func() bool { return len(readyNodes(t, env.Admin)) == 3 }, "3 Ready nodes")
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "own-2", Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := pods.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		got, err := pods.Get(ctx, "default", "p")
		return err == nil && got.Status.Phase == api.PodRunning
	}, "the pod Running")
	if err := pods.Delete(ctx, "default", "p", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		_, err := pods.Get(ctx, "default", "p")
		return client.IsNotFound(err)
	}, "the pod gone")
}
