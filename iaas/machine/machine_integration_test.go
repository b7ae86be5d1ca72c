package machine_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/iaasfake"
	"github.com/cloudmgr/cloud/iaas/internal/kit"
	"github.com/cloudmgr/cloud/iaas/machine"
)

type env struct {
	api    *apiservertest.Env
	c      *client.Client
	fake   *iaasfake.Provider
	placer *iaasfake.Placer
	// run starts the controller (again); stop stops the running one.
	run  func() (stop func())
	stop func()
}

// start runs the API server and the Machine controller over a fake
// provider "fake"; tune changes the options.
func start(t *testing.T, tune func(*machine.Options)) *env {
	t.Helper()
	e := &env{api: apiservertest.Start(t, apiservertest.Options{}), fake: iaasfake.New("fake"), placer: &iaasfake.Placer{Hypervisor: "hv-a"}}
	e.c = e.api.Admin
	o := machine.Options{
		Providers: iaas.Providers{"fake": e.fake}, Placer: e.placer,
		Bootstrap: func(_ context.Context, m *api.Machine) (map[string][]byte, error) {
			return map[string][]byte{"join-token": []byte("secret-for-" + m.Name)}, nil
		},
		CheckInterval: 200 * time.Millisecond,
	}
	if tune != nil {
		tune(&o)
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	e.run = func() func() {
		return controllerstest.RunManager(t, e.api.IaaSController(t), log, func(m *controllers.Manager) error {
			_, err := machine.Setup(m, o)
			return err
		})
	}
	e.stop = e.run()
	return e
}

func (e *env) create(t *testing.T, name string) {
	t.Helper()
	m := &api.Machine{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.MachineSpec{Provider: "fake", VCPUs: 1,
		Memory: api.MustParseQuantity("512Mi"), Image: "node.img", Labels: map[string]string{"tier": "web"},
		Taints: []api.Taint{{Key: "dedicated", Value: "web", Effect: api.TaintEffectNoSchedule}}}}
	if _, err := client.For[api.Machine](e.c).Create(context.Background(), m); err != nil {
		t.Fatal(err)
	}
}

func (e *env) get(t *testing.T, name string) *api.Machine {
	t.Helper()
	m, err := client.For[api.Machine](e.c).Get(context.Background(), "", name)
	if client.IsNotFound(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (e *env) waitPhase(t *testing.T, name string, phase api.MachinePhase) *api.Machine {
	t.Helper()
	var m *api.Machine
	controllerstest.WaitFor(t, func() bool { m = e.get(t, name); return m != nil && m.Status.Phase == phase }, name+" "+string(phase))
	return m
}

// readyNode SIMULATES A NODE AGENT joining: it registers a Ready node.
func (e *env) readyNode(t *testing.T, name string) {
	t.Helper()
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name},
		Status: api.NodeStatus{Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, LastHeartbeatTime: api.Now()}}}}
	if _, err := client.For[api.Node](e.c).Create(context.Background(), n); err != nil {
		t.Fatal(err)
	}
}

func wantCondition(t *testing.T, m *api.Machine, typ string, status api.ConditionStatus, reason string) {
	t.Helper()
	c := kit.FindCondition(m.Status.Conditions, typ)
	if c == nil || c.Status != status || c.Reason != reason {
		t.Fatalf("condition %s = %+v, want %s %s (message %q)", typ, c, status, reason, m.Status.Message)
	}
}

func TestMachineLifecycle(t *testing.T) {
	e := start(t, nil)
	e.create(t, "web-abcde")
	m := e.waitPhase(t, "web-abcde", api.MachineRunning)
	if m.Spec.Hypervisor != "hv-a" || m.Status.Host != "host-hv-a" || !strings.HasPrefix(m.Status.ProviderID, "fake://hv-a/web-abcde") ||
		m.Status.ProvisionedTime.IsZero() || len(m.Status.Addresses) != 1 {
		t.Fatalf("running machine %+v %+v", m.Spec, m.Status)
	}
	wantCondition(t, m, api.ConditionProvisioned, api.ConditionTrue, machine.ReasonCreated)
	creates := e.fake.CallsOf(iaasfake.OpCreate)
	if len(creates) != 1 {
		t.Fatalf("creates %v", creates)
	}
	s := creates[0].Spec
	if s.Hypervisor != "hv-a" || s.CPUs != 1 || s.MemoryMiB != 512 || s.Image != "node.img" ||
		string(s.ConfigDrive["join-token"]) != "secret-for-web-abcde" || strings.Contains(creates[0].String(), "secret") {
		t.Fatalf("create call %v (config drive %d files)", creates[0], len(s.ConfigDrive))
	}
	if req := e.placer.Requests(); len(req) != 1 || req[0].CPUs != 1 || req[0].MemoryMiB != 512 || req[0].Provider != "fake" {
		t.Fatalf("placement requests %+v", req)
	}

	e.readyNode(t, "web-abcde")
	m = e.waitPhase(t, "web-abcde", api.MachineJoined)
	wantCondition(t, m, api.ConditionJoined, api.ConditionTrue, machine.ReasonNodeReady)
	if m.Status.NodeName != "web-abcde" || m.Status.JoinedTime.IsZero() {
		t.Fatalf("joined status %+v", m.Status)
	}
	controllerstest.WaitFor(t, func() bool {
		n, err := client.For[api.Node](e.c).Get(context.Background(), "", "web-abcde")
		return err == nil && n.Labels["tier"] == "web" && n.Labels[api.LabelProvider] == "fake" && len(n.Spec.Taints) == 1 &&
			n.Labels[api.LabelHypervisor] == "host-hv-a" && n.Spec.ProviderID == m.Status.ProviderID
	}, "the machine's labels, taints and provider ID on its node")

	if err := client.For[api.Machine](e.c).Delete(context.Background(), "", "web-abcde", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return e.get(t, "web-abcde") == nil }, "the machine to go")
	if ms := e.fake.Machines(); len(ms) != 0 {
		t.Fatalf("VMs left: %v", ms)
	}
	if _, err := client.For[api.Node](e.c).Get(context.Background(), "", "web-abcde"); !client.IsNotFound(err) {
		t.Fatalf("node left: %v", err)
	}
}

func TestMachineCreateFailures(t *testing.T) {
	e := start(t, func(o *machine.Options) { o.CreateTimeout = 300 * time.Millisecond })
	cases := []struct {
		name   string
		inject func()
		reason string
	}{
		{"no-room", func() { e.fake.FailNext(iaasfake.OpCreate, iaas.ErrInsufficientCapacity) }, kit.ReasonInsufficientCapacity},
		{"quota", func() { e.fake.FailNext(iaasfake.OpCreate, iaas.ErrQuota) }, kit.ReasonQuota},
		{"unreachable", func() { e.fake.FailNext(iaasfake.OpCreate, iaas.ErrUnreachable) }, kit.ReasonUnreachable},
		{"hangs", func() { e.fake.FailNext(iaasfake.OpCreate, iaasfake.ErrHang) }, kit.ReasonUnreachable},
		{"placement", func() { e.placer.FailNext(iaas.ErrInsufficientCapacity) }, kit.ReasonInsufficientCapacity},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.inject()
			e.create(t, tc.name)
			m := e.waitPhase(t, tc.name, api.MachineFailed)
			wantCondition(t, m, api.ConditionProvisioned, api.ConditionFalse, tc.reason)
			if m.Status.Message == "" || m.Status.ProviderID != "" {
				t.Fatalf("failed status %+v", m.Status)
			}
			if ms := e.fake.Machines(); len(ms) != 0 {
				t.Fatalf("VMs left: %v", ms)
			}
		})
	}
	e.fake.FailNext(iaasfake.OpCreate, iaas.ErrQuota) // once only
	e.create(t, "plain")
	e.waitPhase(t, "plain", api.MachineFailed)
	e.create(t, "after")
	e.waitPhase(t, "after", api.MachineRunning)
}

func TestMachineJoinTimeoutDeletesTheVM(t *testing.T) {
	e := start(t, func(o *machine.Options) { o.JoinTimeout = 2 * time.Second })
	e.create(t, "slow")
	e.waitPhase(t, "slow", api.MachineRunning)
	m := e.waitPhase(t, "slow", api.MachineFailed)
	wantCondition(t, m, api.ConditionJoined, api.ConditionFalse, machine.ReasonJoinTimeout)
	if ms := e.fake.Machines(); len(ms) != 0 {
		t.Fatalf("VMs left: %v", ms)
	}
}

func TestMachineVMDisappears(t *testing.T) {
	e := start(t, nil)
	e.create(t, "gone")
	e.waitPhase(t, "gone", api.MachineRunning)
	e.readyNode(t, "gone")
	e.waitPhase(t, "gone", api.MachineJoined)
	if !e.fake.Disappear("gone") {
		t.Fatal("no VM to destroy")
	}
	m := e.waitPhase(t, "gone", api.MachineFailed)
	wantCondition(t, m, api.ConditionProvisioned, api.ConditionFalse, machine.ReasonVMDisappeared)
}

func TestMachineUnreachableIsUnknownThenBack(t *testing.T) {
	e := start(t, nil)
	e.create(t, "far")
	e.waitPhase(t, "far", api.MachineRunning)
	e.fake.FailAlways(iaasfake.OpGet, iaas.ErrUnreachable)
	m := e.waitPhase(t, "far", api.MachineUnknown)
	wantCondition(t, m, api.ConditionReachable, api.ConditionFalse, kit.ReasonUnreachable)
	e.fake.ClearFailures()
	e.waitPhase(t, "far", api.MachineRunning)
}

// A VM created before a crash that kept its status from being written is
// found by name, not created twice.
func TestMachineFindsTheVMOfAnEarlierCreate(t *testing.T) {
	e := start(t, nil)
	vm, err := e.fake.Create(context.Background(), iaas.MachineSpec{Name: "again", Hypervisor: "hv-a"})
	if err != nil {
		t.Fatal(err)
	}
	before := len(e.fake.CallsOf(iaasfake.OpCreate))
	e.create(t, "again")
	m := e.waitPhase(t, "again", api.MachineRunning)
	if m.Status.ProviderID != vm.ID || len(e.fake.CallsOf(iaasfake.OpCreate)) != before || len(e.fake.Machines()) != 1 {
		t.Fatalf("status %+v, calls %v", m.Status, e.fake.Calls())
	}
}

// A controller stopped while a Create hangs leaves the machine
// Provisioning; the next one creates exactly one VM.
func TestMachineCreateInterruptedByARestart(t *testing.T) {
	e := start(t, nil)
	e.fake.FailNext(iaasfake.OpCreate, iaasfake.ErrHang)
	e.create(t, "interrupted")
	controllerstest.WaitFor(t, func() bool { return len(e.fake.CallsOf(iaasfake.OpCreate)) == 1 }, "a create in flight")
	e.stop()
	if m := e.get(t, "interrupted"); m.Status.Phase != api.MachineProvisioning {
		t.Fatalf("phase %s after the interrupted create, want Provisioning", m.Status.Phase)
	}
	e.run()
	e.waitPhase(t, "interrupted", api.MachineRunning)
	if n := len(e.fake.Machines()); n != 1 {
		t.Fatalf("%d VMs, want 1", n)
	}
}
