package nodepool_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/iaasfake"
	"github.com/cloudmgr/cloud/iaas/machine"
	"github.com/cloudmgr/cloud/iaas/nodepool"
)

type env struct {
	c    *client.Client
	fake *iaasfake.Provider
	// run starts the controllers (again) and returns what stops them.
	run  func() (stop func())
	stop func()

	mu     sync.Mutex
	noJoin map[string]bool // pools whose VMs never join
}

// start runs the API server, the Machine and NodePool controllers over a
// fake provider, and a SIMULATED NODE AGENT: every VM the fake runs
// "joins" by registering a Ready node of its name (unless its pool is in
// noJoin), and pods deleted on those nodes are confirmed gone at once.
func start(t *testing.T, joinTimeout time.Duration) *env {
	t.Helper()
	a := apiservertest.Start(t, apiservertest.Options{})
	e := &env{c: a.Admin, fake: iaasfake.New("fake"), noJoin: map[string]bool{}}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.run = func() func() {
		return controllerstest.RunManager(t, a.IaaSController(t), log, func(m *controllers.Manager) error {
			_, err := machine.Setup(m, machine.Options{Providers: iaas.Providers{"fake": e.fake}, Placer: &iaasfake.Placer{Hypervisor: "local"},
				CheckInterval: 200 * time.Millisecond, JoinTimeout: joinTimeout})
			return err
		}, func(m *controllers.Manager) error {
			_, err := nodepool.Setup(m, nodepool.Options{FailedBackoff: 300 * time.Millisecond, DrainPoll: 200 * time.Millisecond})
			return err
		})
	}
	e.stop = e.run()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() { e.agent(ctx) })
	return e
}

func (e *env) agent(ctx context.Context) {
	nodes, pods := client.For[api.Node](e.c), client.For[api.Pod](e.c)
	for ctx.Err() == nil {
		for _, vm := range e.fake.Machines() {
			e.mu.Lock()
			skip := e.noJoin[vm.Labels[api.LabelNodePool]]
			e.mu.Unlock()
			if skip {
				continue
			}
			if _, err := nodes.Get(ctx, "", vm.Name); client.IsNotFound(err) {
				_, _ = nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: vm.Name},
					Status: api.NodeStatus{Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, LastHeartbeatTime: api.Now()}}}})
			}
		}
		ps, _, _ := pods.List(ctx, "", client.ListOptions{})
		for _, p := range ps {
			if p.DeletionTimestamp != nil {
				zero := int64(0)
				_ = pods.Delete(ctx, p.Namespace, p.Name, client.DeleteOptions{GracePeriodSeconds: &zero})
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (e *env) createPool(t *testing.T, name string, replicas int32) {
	t.Helper()
	p := &api.NodePool{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.NodePoolSpec{Provider: "fake", VCPUs: 1,
		Memory: api.MustParseQuantity("512Mi"), Replicas: &replicas, MinSize: 0, MaxSize: 5, Labels: map[string]string{"tier": name}}}
	if _, err := client.For[api.NodePool](e.c).Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func (e *env) scale(t *testing.T, name string, replicas int32) {
	t.Helper()
	pools := client.For[api.NodePool](e.c)
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

func (e *env) machines(t *testing.T, pool string) []*api.Machine {
	t.Helper()
	ms, _, err := client.For[api.Machine](e.c).List(context.Background(), "", client.ListOptions{LabelSelector: api.LabelNodePool + "=" + pool})
	if err != nil {
		t.Fatal(err)
	}
	return ms
}

func (e *env) pool(t *testing.T, name string) *api.NodePool {
	t.Helper()
	p, err := client.For[api.NodePool](e.c).Get(context.Background(), "", name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func (e *env) joined(t *testing.T, pool string, n int) []*api.Machine {
	t.Helper()
	var ms []*api.Machine
	controllerstest.WaitFor(t, func() bool {
		ms = e.machines(t, pool)
		j := 0
		for _, m := range ms {
			if m.Status.Phase == api.MachineJoined && m.DeletionTimestamp == nil {
				j++
			}
		}
		p := e.pool(t, pool)
		return j == n && len(ms) == n && p.Status.ReadyNodes == int32(n) && p.Status.Size == int32(n)
	}, "pool "+pool+" to have joined machines")
	return ms
}

func (e *env) events(t *testing.T, reason string) []string {
	t.Helper()
	evs, _, err := client.For[api.Event](e.c).List(context.Background(), "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ev := range evs {
		if ev.Reason == reason {
			out = append(out, ev.Message)
		}
	}
	return out
}

func TestPoolScalesUpJoinsAndDrainsDown(t *testing.T) {
	e := start(t, 0)
	ctx := context.Background()
	e.createPool(t, "web", 2)
	ms := e.joined(t, "web", 2)
	pool := e.pool(t, "web")
	for _, m := range ms {
		ref := controllers.ControllerRef(m)
		if ref == nil || ref.UID != pool.UID || !strings.HasPrefix(m.Name, "web-") || len(m.Name) != len("web-")+5 {
			t.Fatalf("machine %s owner %+v", m.Name, ref)
		}
		n, err := client.For[api.Node](e.c).Get(ctx, "", m.Name)
		if err != nil || n.Labels[api.LabelNodePool] != "web" || n.Labels["tier"] != "web" {
			t.Fatalf("node %v: %v", n, err)
		}
	}
	if c := pool.Status.Conditions; len(c) != 1 || c[0].Type != api.ConditionScaledToReplicas || c[0].Status != api.ConditionTrue {
		t.Fatalf("conditions %+v", c)
	}
	if len(e.events(t, nodepool.ReasonSuccessfulCreate)) != 2 {
		t.Fatalf("create events %v", e.events(t, nodepool.ReasonSuccessfulCreate))
	}

	// A Ready pod on each node, one guarded by a budget that allows no
	// disruption, and a DaemonSet pod, which drain leaves alone.
	ns := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "apps"}}
	if _, err := client.For[api.Namespace](e.c).Create(ctx, ns); err != nil {
		t.Fatal(err)
	}
	yes := true
	mkPod := func(name, node string, labels map[string]string, owner *api.OwnerReference) {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "apps", Labels: labels},
			Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "c", Image: "busybox:test"}}}}
		if owner != nil {
			p.OwnerReferences = []api.OwnerReference{*owner}
		}
		p, err := client.For[api.Pod](e.c).Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = api.PodRunning
		p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}}
		if _, err := client.For[api.Pod](e.c).UpdateStatus(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	mkPod("guarded", ms[0].Name, map[string]string{"app": "db"}, nil)
	mkPod("free", ms[1].Name, nil, nil)
	mkPod("agent", ms[1].Name, nil, &api.OwnerReference{APIVersion: api.APIVersionApps, Kind: api.KindDaemonSet, Name: "agent", UID: "ds-uid", Controller: &yes})
	one := api.FromInt(1)
	pdb := &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "apps"},
		Spec: api.PodDisruptionBudgetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, MinAvailable: &one}}
	if _, err := client.For[api.PodDisruptionBudget](e.c).Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}

	e.scale(t, "web", 0)
	// The unguarded node drains and goes; the guarded one is cordoned and
	// waits for its budget.
	controllerstest.WaitFor(t, func() bool {
		_, err := client.For[api.Machine](e.c).Get(ctx, "", ms[1].Name)
		return client.IsNotFound(err)
	}, "the unguarded machine to be deleted")
	if _, err := client.For[api.Pod](e.c).Get(ctx, "apps", "free"); !client.IsNotFound(err) {
		t.Fatalf("pod free not evicted: %v", err)
	}
	if _, err := client.For[api.Pod](e.c).Get(ctx, "apps", "agent"); err != nil {
		t.Fatalf("DaemonSet pod evicted: %v", err)
	}
	controllerstest.WaitFor(t, func() bool { return len(e.events(t, nodepool.ReasonDrainFailed)) > 0 }, "a DrainFailed event for the budget")
	n, err := client.For[api.Node](e.c).Get(ctx, "", ms[0].Name)
	if err != nil || !n.Spec.Unschedulable {
		t.Fatalf("guarded node not cordoned: %v %v", n, err)
	}
	if _, err := client.For[api.Machine](e.c).Get(ctx, "", ms[0].Name); err != nil {
		t.Fatalf("guarded machine deleted before its pod left: %v", err)
	}
	if err := client.For[api.PodDisruptionBudget](e.c).Delete(ctx, "apps", "db", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return len(e.machines(t, "web")) == 0 }, "every machine to go")
	if vms := e.fake.Machines(); len(vms) != 0 {
		t.Fatalf("VMs left: %v", vms)
	}
	nodes, _, _ := client.For[api.Node](e.c).List(ctx, "", client.ListOptions{})
	if len(nodes) != 0 {
		t.Fatalf("nodes left: %d", len(nodes))
	}
	if len(e.events(t, nodepool.ReasonScalingDown)) != 2 {
		t.Fatalf("scaling down events %v", e.events(t, nodepool.ReasonScalingDown))
	}
	controllerstest.WaitFor(t, func() bool { p := e.pool(t, "web"); return p.Status.Size == 0 && p.Status.ReadyNodes == 0 }, "status size 0")
}

func TestPoolReplacesMachinesThatNeverJoin(t *testing.T) {
	e := start(t, time.Second)
	e.mu.Lock()
	e.noJoin["slow"] = true
	e.mu.Unlock()
	e.createPool(t, "slow", 1)
	controllerstest.WaitFor(t, func() bool { return len(e.events(t, nodepool.ReasonReplacingFailed)) > 0 }, "a failed machine replaced")
	controllerstest.WaitFor(t, func() bool { return len(e.fake.CallsOf(iaasfake.OpCreate)) >= 2 }, "a second VM")
	e.mu.Lock()
	e.noJoin["slow"] = false
	e.mu.Unlock()
	e.joined(t, "slow", 1)
	if n := len(e.fake.Machines()); n != 1 {
		t.Fatalf("%d VMs, want 1", n)
	}
}

func TestPoolReplacesDisappearedVM(t *testing.T) {
	e := start(t, 0)
	e.createPool(t, "web", 1)
	ms := e.joined(t, "web", 1)
	e.fake.Disappear(ms[0].Name)
	controllerstest.WaitFor(t, func() bool {
		cur := e.machines(t, "web")
		return len(cur) == 1 && cur[0].Name != ms[0].Name && cur[0].Status.Phase == api.MachineJoined
	}, "a new joined machine")
	if _, err := client.For[api.Node](e.c).Get(context.Background(), "", ms[0].Name); !client.IsNotFound(err) {
		t.Fatalf("old node left: %v", err)
	}
}

func TestPoolCreateFailureThenDelete(t *testing.T) {
	e := start(t, 0)
	e.fake.FailAlways(iaasfake.OpCreate, iaas.ErrInsufficientCapacity)
	e.createPool(t, "full", 1)
	controllerstest.WaitFor(t, func() bool {
		ms := e.machines(t, "full")
		return len(ms) == 1 && ms[0].Status.Phase == api.MachineFailed && ms[0].Status.Conditions[0].Reason == "InsufficientCapacity"
	}, "a failed machine with its reason")
	controllerstest.WaitFor(t, func() bool {
		c := e.pool(t, "full").Status.Conditions
		return len(c) == 1 && c[0].Reason == "MachinesFailed"
	}, "the pool condition")
	if err := client.For[api.NodePool](e.c).Delete(context.Background(), "", "full", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		_, err := client.For[api.NodePool](e.c).Get(context.Background(), "", "full")
		return client.IsNotFound(err) && len(e.machines(t, "full")) == 0
	}, "the pool and its machines to go")
	if vms := e.fake.Machines(); len(vms) != 0 {
		t.Fatalf("VMs left: %v", vms)
	}
}

// A drain held by a disruption budget goes on where it was after the
// controllers restart: the same machine, no new one.
func TestPoolDrainResumesAfterRestart(t *testing.T) {
	e := start(t, 0)
	ctx := context.Background()
	e.createPool(t, "web", 2)
	ms := e.joined(t, "web", 2)
	if _, err := client.For[api.Namespace](e.c).Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "apps"}}); err != nil {
		t.Fatal(err)
	}
	// Guard a Ready pod on each node, so that whichever is chosen waits.
	for i, m := range ms {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("db-%d", i), Namespace: "apps", Labels: map[string]string{"app": "db"}},
			Spec: api.PodSpec{NodeName: m.Name, Containers: []api.Container{{Name: "c", Image: "busybox:test"}}}}
		p, err := client.For[api.Pod](e.c).Create(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		p.Status.Phase = api.PodRunning
		p.Status.Conditions = []api.PodCondition{{Type: api.PodReady, Status: api.ConditionTrue}}
		if _, err := client.For[api.Pod](e.c).UpdateStatus(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	two := api.FromInt(2)
	pdb := &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "apps"},
		Spec: api.PodDisruptionBudgetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "db"}}, MinAvailable: &two}}
	if _, err := client.For[api.PodDisruptionBudget](e.c).Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	e.scale(t, "web", 1)
	var victim string
	controllerstest.WaitFor(t, func() bool {
		for _, m := range e.machines(t, "web") {
			if m.Annotations[nodepool.AnnotationScaleDown] != "" {
				victim = m.Name
			}
		}
		return victim != "" && len(e.events(t, nodepool.ReasonDrainFailed)) > 0
	}, "a drain blocked by the budget")
	e.stop()
	// The scale-down mark is stored on the Machine: the new controllers
	// finish that drain.
	if err := client.For[api.PodDisruptionBudget](e.c).Delete(ctx, "apps", "db", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.run()
	controllerstest.WaitFor(t, func() bool {
		ms := e.machines(t, "web")
		return len(ms) == 1 && ms[0].Name != victim
	}, "the marked machine deleted")
	if n := len(e.fake.Machines()); n != 1 || len(e.fake.CallsOf(iaasfake.OpCreate)) != 2 {
		t.Fatalf("%d VMs, %d creates", n, len(e.fake.CallsOf(iaasfake.OpCreate)))
	}
}

// TestPoolRollsMachinesOnSpecChange: a change to the VMs' template (here
// the image) replaces a pool's machines one at a time, a new one joining
// before an old one is drained, so the pool never has fewer joined
// machines than its replicas; the status counts the updated ones.
func TestPoolRollsMachinesOnSpecChange(t *testing.T) {
	e := start(t, time.Minute)
	e.createPool(t, "roll", 2)
	before := e.joined(t, "roll", 2)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	low, most := make(chan int, 1), make(chan int, 1)
	go func() {
		lowest, highest := 2, 0
		defer func() { low <- lowest; most <- highest }()
		for ctx.Err() == nil {
			ms, _, err := client.For[api.Machine](e.c).List(ctx, "", client.ListOptions{LabelSelector: api.LabelNodePool + "=roll"})
			if err != nil {
				continue
			}
			joined := 0
			for _, m := range ms {
				if m.Status.Phase == api.MachineJoined && m.DeletionTimestamp == nil && m.Annotations[nodepool.AnnotationScaleDown] == "" {
					joined++
				}
			}
			lowest, highest = min(lowest, joined), max(highest, len(ms))
			time.Sleep(20 * time.Millisecond)
		}
	}()

	pools := client.For[api.NodePool](e.c)
	for {
		p := e.pool(t, "roll")
		p.Spec.Image = "img-2"
		if _, err := pools.Update(context.Background(), p); err == nil {
			break
		} else if !client.IsConflict(err) {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool {
		ms := e.machines(t, "roll")
		if len(ms) != 2 {
			return false
		}
		for _, m := range ms {
			if m.Spec.Image != "img-2" || m.Status.Phase != api.MachineJoined {
				return false
			}
		}
		p := e.pool(t, "roll")
		return p.Status.Updated == 2 && p.Status.Size == 2
	}, "both machines replaced by ones of image img-2")
	cancel()
	if l := <-low; l < 2 {
		t.Errorf("the pool fell to %d joined machines during the roll, want never below 2", l)
	}
	if h := <-most; h > 3 {
		t.Errorf("the pool had %d machines at once during the roll, want at most 3 (a surge of one)", h)
	}
	for _, m := range e.machines(t, "roll") {
		for _, old := range before {
			if m.Name == old.Name {
				t.Errorf("machine %s of the old image is still there", m.Name)
			}
		}
	}
}
