package autoscaler_test

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/autoscaler"
	"github.com/cloudmgr/cloud/iaas/machine"
	"github.com/cloudmgr/cloud/iaas/nodepool"
	"github.com/cloudmgr/cloud/providers/sim"
	"github.com/cloudmgr/cloud/scheduler"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

// cluster is the real API server, the machine and node pool controllers
// and the autoscaler over two clouds: a private simulated one and a
// public one (simulated too unless options say otherwise).
type cluster struct {
	env     *apiservertest.Env
	private *sim.Provider
	// public is the public simulated cloud (nil when options.public made
	// another provider).
	public *sim.Provider
	reg    *prometheus.Registry
}

// options vary the cluster startWith makes; the zero value is start's.
type options struct {
	// public makes the public cloud's provider once the API server runs
	// (default: the simulated cloud "public-sim").
	public func(t testing.TB, env *apiservertest.Env) iaas.Provider
	// backoffInitial and backoffMax are the autoscaler's (default 5s and
	// its default).
	backoffInitial, backoffMax time.Duration
	// tune changes the autoscaler's options and the providers last.
	tune []func(*autoscaler.Options, iaas.Providers)
}

func newSim(t testing.TB, env *apiservertest.Env, name string) *sim.Provider {
	t.Helper()
	p, err := sim.New(sim.Config{Name: name, Cloud: true, Hosts: []sim.Host{{Name: name, CPUs: 64, MemoryMiB: 65536}},
		HeartbeatInterval: 300 * time.Millisecond, StatusInterval: 200 * time.Millisecond, CPUUsage: 0.1,
		Watch: env.Scheduler, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// start runs a cluster over two simulated clouds; tune may change the
// autoscaler's options and the providers (the defaults are a 100 ms loop
// and short windows).
func start(t testing.TB, tune ...func(*autoscaler.Options, iaas.Providers)) *cluster {
	return startWith(t, options{tune: tune})
}

func startWith(t testing.TB, o options) *cluster {
	t.Helper()
	env := apiservertest.Start(t, apiservertest.Options{})
	c := &cluster{env: env, private: newSim(t, env, "private-sim"), reg: prometheus.NewRegistry()}
	public := iaas.Provider(nil)
	if o.public != nil {
		public = o.public(t, env)
	} else {
		c.public = newSim(t, env, "public-sim")
		public = c.public
	}
	if o.backoffInitial == 0 {
		o.backoffInitial = 5 * time.Second
	}
	providers := iaas.Providers{}
	for _, p := range []iaas.Provider{c.private, public} {
		providers[p.Name()] = iaas.Instrument(p, c.reg)
	}
	ao := autoscaler.Options{Providers: providers, Interval: 100 * time.Millisecond, Registerer: c.reg,
		Config: autoscaler.Config{ScaleUpWindow: time.Second, ScaleDownWindow: 2 * time.Second, ScaleUpCooldown: time.Second,
			ScaleDownDelayAfterUp: 2 * time.Second, ScaleDownCooldown: time.Second, BackoffInitial: o.backoffInitial,
			BackoffMax: o.backoffMax, Reserved: api.ResourceList{}}}
	for _, f := range o.tune {
		f(&ao, providers)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	controllerstest.RunManager(t, env.IaaSController(t), log, func(m *controllers.Manager) error {
		boot := func(ctx context.Context, mc *api.Machine) (map[string][]byte, error) {
			tok, err := m.Client.CreateMachineJoinToken(ctx, time.Hour, mc.Name)
			if err != nil {
				return nil, err
			}
			data, err := json.Marshal(api.NodeBootstrap{Server: env.URL, CA: string(env.CAPEM), JoinToken: tok.Token, NodeName: mc.Name})
			return map[string][]byte{api.NodeBootstrapFile: data}, err
		}
		if _, err := machine.Setup(m, machine.Options{Providers: providers, Bootstrap: boot, CheckInterval: 200 * time.Millisecond}); err != nil {
			return err
		}
		if _, err := nodepool.Setup(m, nodepool.Options{FailedBackoff: 300 * time.Millisecond, DrainPoll: 200 * time.Millisecond}); err != nil {
			return err
		}
		_, err := autoscaler.Setup(m, ao)
		return err
	})
	return c
}

// runScheduler runs the real pod scheduler until the test ends: it binds
// pods to the pools' nodes and marks those that fit none unschedulable.
func (c *cluster) runScheduler(t testing.TB) {
	t.Helper()
	sched, err := scheduler.New(scheduler.Config{Client: c.env.Scheduler, Profile: plugins.NewPodProfile(plugins.Options{})})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- sched.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

func (c *cluster) createPool(t testing.TB, name, provider string, prio, minSize, maxSize int32) {
	t.Helper()
	p := &api.NodePool{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.NodePoolSpec{Provider: provider, VCPUs: 2,
		Memory: api.MustParseQuantity("2Gi"), MinSize: minSize, MaxSize: maxSize, Priority: prio}}
	if _, err := client.For[api.NodePool](c.env.Admin).Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func (c *cluster) replicas(t testing.TB, pool string) int32 {
	t.Helper()
	p, err := client.For[api.NodePool](c.env.Admin).Get(context.Background(), "", pool)
	if err != nil {
		t.Fatal(err)
	}
	if p.Spec.Replicas == nil {
		return p.Spec.MinSize
	}
	return *p.Spec.Replicas
}

func (c *cluster) ready(t testing.TB, pool string) int32 {
	t.Helper()
	p, err := client.For[api.NodePool](c.env.Admin).Get(context.Background(), "", pool)
	if err != nil {
		t.Fatal(err)
	}
	return p.Status.ReadyNodes
}

func (c *cluster) decisions(t testing.TB) []*api.ScaleDecision {
	t.Helper()
	ds, _, err := client.For[api.ScaleDecision](c.env.Admin).List(context.Background(), "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(ds, func(a, b *api.ScaleDecision) int { return a.Spec.DecidedTime.Compare(b.Spec.DecidedTime.Time) })
	return ds
}

// find returns the first decision that matches.
func (c *cluster) find(t testing.TB, match func(*api.ScaleDecision) bool) *api.ScaleDecision {
	t.Helper()
	for _, d := range c.decisions(t) {
		if match(d) {
			return d
		}
	}
	return nil
}

// await waits for a decision that matches (the controller writes a
// pool's replicas before the decision) and returns it.
func (c *cluster) await(t *testing.T, what string, match func(*api.ScaleDecision) bool) *api.ScaleDecision {
	t.Helper()
	var d *api.ScaleDecision
	controllerstest.WaitFor(t, func() bool { d = c.find(t, match); return d != nil }, what)
	return d
}

// TestAutoscalerBurstsAndShrinks: a private pool at 85% CPU grows; with
// the private cloud answering no capacity, the public pool grows in the
// same loop; once idle, the public node goes first, and the private pool
// shrinks to its min, never below.
func TestAutoscalerBurstsAndShrinks(t *testing.T) {
	c := start(t)
	c.createPool(t, "private", "private-sim", 0, 1, 4)
	c.createPool(t, "public", "public-sim", 10, 0, 3)
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "private") == 1 }, "the private pool's first node")

	// Hot: the private pool grows.
	hot := time.Now()
	if err := c.private.SetPoolCPUUsage("private", 0.85); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return c.replicas(t, "private") >= 2 }, "the private pool to grow")
	if err := c.private.SetPoolCPUUsage("private", 0.6); err != nil {
		t.Fatal(err)
	}
	up := c.await(t, "the scale-up decision", func(d *api.ScaleDecision) bool {
		return d.Spec.Outcome.Type == api.OutcomeScaledUp && d.Spec.Outcome.Pool == "private"
	})
	if up.Spec.Trigger.Type != api.TriggerUtilization || up.Spec.Trigger.UtilizationPercent < 80 {
		t.Fatalf("the scale-up decision: %+v", up)
	}
	t.Logf("85%% set to replicas written: %v (window 1s, trigger held at %s, decided %s)", time.Since(hot).Round(time.Millisecond),
		up.Spec.TriggeredTime.Format(time.StampMilli), up.Spec.DecidedTime.Format(time.StampMilli))
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "private") == c.replicas(t, "private") }, "the new private nodes to join")
	privateSize := c.replicas(t, "private")

	// The private cloud is full: the public pool grows in the same loop.
	c.private.FailCreates(iaas.ErrInsufficientCapacity)
	if err := c.private.SetPoolCPUUsage("private", 0.95); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return c.replicas(t, "public") >= 1 }, "the public pool to grow")
	burst := c.await(t, "the burst decision", func(d *api.ScaleDecision) bool {
		return d.Spec.Outcome.Type == api.OutcomeScaledUp && d.Spec.Outcome.Pool == "public"
	})
	if len(burst.Spec.Pools) != 2 || burst.Spec.Pools[0].Pool != "private" || burst.Spec.Pools[0].Reason != api.ReasonInsufficientCapacity ||
		burst.Spec.Pools[1].Pool != "public" || !burst.Spec.Pools[1].Taken || burst.Spec.Trigger.Pool != "private" {
		t.Fatalf("the burst decision: %+v", burst)
	}
	if got := c.replicas(t, "private"); got != privateSize {
		t.Fatalf("the private pool went from %d to %d replicas while its cloud is full", privateSize, got)
	}
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "public") == c.replicas(t, "public") }, "the public node to join")

	// Idle: the public node goes first; the private pool then shrinks to
	// its min.
	c.private.ClearFaults()
	for pool, p := range map[string]*sim.Provider{"private": c.private, "public": c.public} {
		if err := p.SetPoolCPUUsage(pool, 0.05); err != nil {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool { return c.replicas(t, "public") == 0 && c.replicas(t, "private") == 1 }, "both pools to shrink")
	var downs []string
	for _, d := range c.decisions(t) {
		if d.Spec.Outcome.Type == api.OutcomeScaledDown {
			downs = append(downs, d.Spec.Outcome.Pool)
		}
	}
	if len(downs) == 0 || downs[0] != "public" {
		t.Fatalf("scale-downs by pool %v, want the public one first", downs)
	}
	controllerstest.WaitFor(t, func() bool {
		ms, _, err := client.For[api.Machine](c.env.Admin).List(context.Background(), "", client.ListOptions{})
		return err == nil && len(ms) == 1 && ms[0].Labels[api.LabelNodePool] == "private"
	}, "the removed machines deleted")
	time.Sleep(time.Second)
	if got := c.replicas(t, "private"); got != 1 {
		t.Fatalf("the private pool at %d replicas, below or above its min 1", got)
	}
	t.Logf("decisions: %d; scale-downs by pool %v", len(c.decisions(t)), downs)
	for _, d := range c.decisions(t) {
		t.Logf("  %s %s -> %s %s %d %s (%s)", d.Spec.DecidedTime.Format(time.StampMilli), d.Spec.Trigger.Type, d.Spec.Outcome.Type,
			d.Spec.Outcome.Pool, d.Spec.Outcome.Delta, d.Spec.Outcome.Node, d.Spec.Outcome.Reason)
	}
	mf, err := c.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counted := false
	for _, f := range mf {
		switch f.GetName() {
		case "cloud_autoscaler_decisions_total":
			counted = len(f.GetMetric()) > 0
		case "cloud_autoscaler_decision_latency_seconds":
			for _, m := range f.GetMetric() {
				h := m.GetHistogram()
				t.Logf("decision latency (trigger held to replicas written), %s: %d scale-ups, mean %.3fs",
					m.GetLabel()[0].GetValue(), h.GetSampleCount(), h.GetSampleSum()/float64(max(1, h.GetSampleCount())))
			}
		}
	}
	if !counted {
		t.Errorf("no decisions counted in cloud_autoscaler_decisions_total")
	}
}

// TestAutoscalerPendingPodsGetNodes: with the real scheduler, pods that
// fit no node are marked unschedulable; the pool grows by as many nodes as
// they need (bin-packed on the template), and they run there.
func TestAutoscalerPendingPodsGetNodes(t *testing.T) {
	c := start(t)
	ctx := context.Background()
	c.runScheduler(t)
	c.createPool(t, "private", "private-sim", 0, 1, 5)
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "private") == 1 }, "the private pool's first node")
	start := time.Now()
	const n = 4
	for i := range n {
		// 1.5 of a node's 2 CPUs: one pod a node.
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "burst-" + strconv.Itoa(i), Namespace: "default"},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox",
				Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("1500m")}}}}}}
		if _, err := client.For[api.Pod](c.env.Admin).Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool {
		pods, _, err := client.For[api.Pod](c.env.Admin).List(ctx, "default", client.ListOptions{})
		if err != nil {
			return false
		}
		running := 0
		for _, p := range pods {
			if p.Status.Phase == api.PodRunning && p.Spec.NodeName != "" {
				running++
			}
		}
		return running == n
	}, "every pod running")
	t.Logf("%d pods, one a node: all running %v after creation (window-free trigger, 100 ms loop, simulated boot)", n, time.Since(start).Round(time.Millisecond))
	if got := c.replicas(t, "private"); got != n {
		t.Fatalf("the pool has %d replicas, want %d (one node a pod)", got, n)
	}
	d := c.find(t, func(d *api.ScaleDecision) bool {
		return d.Spec.Trigger.Type == api.TriggerPendingPods && d.Spec.Outcome.Type == api.OutcomeScaledUp
	})
	if d == nil || d.Spec.Trigger.PendingCount < 1 {
		t.Fatalf("no pending-pods scale-up recorded: %+v", c.decisions(t))
	}
}

// TestPendingPodWakesTheLoop: with a loop interval of an hour, a pod the
// scheduler marks unschedulable still gets its node: the mark wakes the
// loop.
func TestPendingPodWakesTheLoop(t *testing.T) {
	c := start(t, func(o *autoscaler.Options, _ iaas.Providers) { o.Interval = time.Hour })
	ctx := context.Background()
	c.runScheduler(t)
	c.createPool(t, "private", "private-sim", 0, 1, 3)
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "private") == 1 }, "the private pool's first node")
	for _, name := range []string{"first", "second"} {
		// 1.5 of a node's 2 CPUs: one pod a node.
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox",
				Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("1500m")}}}}}}
		if _, err := client.For[api.Pod](c.env.Admin).Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		controllerstest.WaitFor(t, func() bool {
			got, err := client.For[api.Pod](c.env.Admin).Get(ctx, "default", name)
			return err == nil && got.Status.Phase == api.PodRunning
		}, "pod "+name+" running")
	}
	if got := c.replicas(t, "private"); got != 2 {
		t.Fatalf("the pool has %d replicas, want 2", got)
	}
	d := c.find(t, func(d *api.ScaleDecision) bool { return d.Spec.Trigger.Type == api.TriggerPendingPods })
	if d == nil || d.Spec.HeldTime.IsZero() || d.Spec.HeldTime.Before(d.Spec.TriggeredTime.Time) {
		t.Fatalf("the pending-pods decision: %+v", d)
	}
	t.Logf("pod marked at %s, decided %s", d.Spec.HeldTime.Format(time.StampMicro), d.Spec.DecidedTime.Format(time.Stamp))
}

// TestHotNodeWakesTheLoop: with a loop interval of an hour, a pool whose
// nodes report 90% still grows: a node crossing the threshold wakes the
// loop (the window starts), and the loop runs again when the window ends.
func TestHotNodeWakesTheLoop(t *testing.T) {
	c := start(t, func(o *autoscaler.Options, _ iaas.Providers) { o.Interval = time.Hour })
	c.createPool(t, "private", "private-sim", 0, 1, 2)
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "private") == 1 }, "the private pool's first node")
	if err := c.private.SetPoolCPUUsage("private", 0.9); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return c.replicas(t, "private") == 2 }, "the pool to grow")
	d := c.await(t, "the utilization decision", func(d *api.ScaleDecision) bool {
		return d.Spec.Trigger.Type == api.TriggerUtilization && d.Spec.Outcome.Type == api.OutcomeScaledUp
	})
	t.Logf("window held at %s, decided %s", d.Spec.HeldTime.Format(time.StampMicro), d.Spec.DecidedTime.Format(time.Stamp))
}
