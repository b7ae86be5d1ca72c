package vm_test

import (
	"context"
	"fmt"
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
	"github.com/cloudmgr/cloud/iaas/vm"
)

func startVMs(t *testing.T) (*apiservertest.Env, *iaasfake.Provider) {
	t.Helper()
	env, fake, _ := startVMsPlaced(t)
	return env, fake
}

func startVMsPlaced(t *testing.T, retry ...time.Duration) (*apiservertest.Env, *iaasfake.Provider, *iaasfake.Placer) {
	t.Helper()
	env := apiservertest.Start(t, apiservertest.Options{})
	fake := iaasfake.New("libvirt")
	placer := &iaasfake.Placer{Hypervisor: "local"}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	controllerstest.RunManager(t, env.IaaSController(t), log, func(m *controllers.Manager) error {
		_, err := vm.Setup(m, vm.Options{Providers: iaas.Providers{"libvirt": fake}, Placer: placer,
			Refresh: 200 * time.Millisecond, RetryMin: append(retry, 0)[0]})
		return err
	})
	return env, fake, placer
}

func waitVM(t *testing.T, c *client.Client, ns, name string, cond func(*api.VirtualMachine) bool, what string) *api.VirtualMachine {
	t.Helper()
	var v *api.VirtualMachine
	var last string
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("VM %s/%s when last seen: %s", ns, name, last)
		}
	})
	controllerstest.WaitFor(t, func() bool {
		var err error
		v, err = client.For[api.VirtualMachine](c).Get(context.Background(), ns, name)
		last = fmt.Sprintf("%+v (error %v)", v, err)
		if err != nil {
			v = nil
		}
		return err == nil && cond(v)
	}, what)
	return v
}

func update(t *testing.T, c *client.Client, ns, name string, change func(*api.VirtualMachine)) {
	t.Helper()
	r := client.For[api.VirtualMachine](c)
	for {
		v, err := r.Get(context.Background(), ns, name)
		if err != nil {
			t.Fatal(err)
		}
		change(v)
		if _, err = r.Update(context.Background(), v); !client.IsConflict(err) {
			if err != nil {
				t.Fatal(err)
			}
			return
		}
	}
}

func phase(p api.VirtualMachinePhase) func(*api.VirtualMachine) bool {
	return func(v *api.VirtualMachine) bool { return v.Status.Phase == p }
}

func TestTenantVMLifecycle(t *testing.T) {
	env, fake := startVMs(t)
	ctx := context.Background()
	a, b := env.Tenant(t, "team-a"), env.Tenant(t, "team-b")
	v := &api.VirtualMachine{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "team-a"},
		Spec: api.VirtualMachineSpec{CPUs: 1, Memory: api.MustParseQuantity("512Mi"), Image: "debian.img", UserData: "#cloud-config\nhostname: web\n"}}
	if _, err := client.For[api.VirtualMachine](a).Create(ctx, v); err != nil {
		t.Fatal(err)
	}
	got := waitVM(t, a, "team-a", "web", phase(api.VMRunning), "the VM running")
	if got.Status.Hypervisor != "local" || got.Status.Host != "host-local" || got.Status.ProviderID == "" {
		t.Fatalf("status %+v", got.Status)
	}
	creates := fake.CallsOf(iaasfake.OpCreate)
	if len(creates) != 1 || string(creates[0].Spec.ConfigDrive["user-data"]) != v.Spec.UserData || creates[0].Spec.MemoryMiB != 512 ||
		creates[0].Spec.Name != vm.MachineName(got) {
		t.Fatalf("create calls %v", creates)
	}

	// Another tenant sees none of it.
	if list, _, err := client.For[api.VirtualMachine](b).List(ctx, "", client.ListOptions{}); err != nil || len(list) != 0 {
		t.Fatalf("team-b lists %d VMs (%v)", len(list), err)
	}
	if _, err := client.For[api.VirtualMachine](b).Get(ctx, "team-a", "web"); !client.IsForbidden(err) {
		t.Fatalf("team-b reads team-a's VM: %v", err)
	}
	if err := client.For[api.VirtualMachine](b).Delete(ctx, "team-a", "web", client.DeleteOptions{}); !client.IsForbidden(err) {
		t.Fatalf("team-b deletes team-a's VM: %v", err)
	}
	if list, _, err := client.For[api.VirtualMachine](a).List(ctx, "", client.ListOptions{}); err != nil || len(list) != 1 {
		t.Fatalf("team-a lists %d VMs (%v)", len(list), err)
	}

	// Console tail: the last 20 lines.
	var log strings.Builder
	for i := range 30 {
		fmt.Fprintf(&log, "line %d\n", i)
	}
	fake.SetConsole(got.Status.ProviderID, log.String())
	got = waitVM(t, a, "team-a", "web", func(v *api.VirtualMachine) bool { return strings.HasSuffix(v.Status.ConsoleTail, "line 29") }, "the console tail")
	if lines := strings.Split(got.Status.ConsoleTail, "\n"); len(lines) != 20 || lines[0] != "line 10" {
		t.Fatalf("console tail %q", got.Status.ConsoleTail)
	}

	// Run strategy.
	no, yes := false, true
	update(t, a, "team-a", "web", func(v *api.VirtualMachine) { v.Spec.Running = &no })
	waitVM(t, a, "team-a", "web", phase(api.VMStopped), "the VM stopped")
	if m, _ := fake.MachineNamed(vm.MachineName(got)); m.State != iaas.StateStopped {
		t.Fatalf("provider state %s", m.State)
	}
	update(t, a, "team-a", "web", func(v *api.VirtualMachine) { v.Spec.Running = &yes })
	waitVM(t, a, "team-a", "web", phase(api.VMRunning), "the VM running again")

	// Restart.
	update(t, a, "team-a", "web", func(v *api.VirtualMachine) {
		v.Annotations = map[string]string{vm.AnnotationRestart: time.Now().UTC().Format(time.RFC3339)}
	})
	waitVM(t, a, "team-a", "web", func(v *api.VirtualMachine) bool { return v.Annotations[vm.AnnotationRestart] == "" }, "the restart handled")
	if n := len(fake.CallsOf(iaasfake.OpReboot)); n != 1 {
		t.Fatalf("%d reboots", n)
	}

	// Delete.
	if err := client.For[api.VirtualMachine](a).Delete(ctx, "team-a", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		_, err := client.For[api.VirtualMachine](a).Get(ctx, "team-a", "web")
		return client.IsNotFound(err)
	}, "the VM object to go")
	if ms := fake.Machines(); len(ms) != 0 {
		t.Fatalf("VMs left: %v", ms)
	}
}

func TestVMCreateFailureAndStartStopped(t *testing.T) {
	env, fake := startVMs(t)
	ctx := context.Background()
	a := env.Tenant(t, "team-a")
	fake.FailNext(iaasfake.OpCreate, iaas.ErrQuota)
	no := false
	for _, name := range []string{"over", "cold"} {
		v := &api.VirtualMachine{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "team-a"},
			Spec: api.VirtualMachineSpec{Flavor: "small", Running: &no}}
		if _, err := client.For[api.VirtualMachine](a).Create(ctx, v); err != nil {
			t.Fatal(err)
		}
		if name == "over" {
			got := waitVM(t, a, "team-a", "over", phase(api.VMFailed), "the VM failed")
			if c := kit.FindCondition(got.Status.Conditions, api.ConditionProvisioned); c == nil || c.Reason != kit.ReasonQuota || got.Status.Message == "" {
				t.Fatalf("status %+v", got.Status)
			}
		}
	}
	waitVM(t, a, "team-a", "cold", phase(api.VMStopped), "a VM created stopped")
	if n := len(fake.Machines()); n != 1 {
		t.Fatalf("%d VMs, want 1", n)
	}
	got := waitVM(t, a, "team-a", "cold", phase(api.VMStopped), "")
	fake.Disappear(got.Status.ProviderID)
	got = waitVM(t, a, "team-a", "cold", phase(api.VMFailed), "the disappeared VM failed")
	if c := kit.FindCondition(got.Status.Conditions, api.ConditionProvisioned); c == nil || c.Reason != vm.ReasonVMDisappeared {
		t.Fatalf("status %+v", got.Status)
	}
}

// A VM that finds no room waits Pending, saying why, instead of failing;
// a change to a Hypervisor makes it try again at once, and it runs.
func TestVMWaitsForRoom(t *testing.T) {
	// Timed retries an hour apart: only the Hypervisor change can retry.
	env, fake, placer := startVMsPlaced(t, time.Hour)
	ctx := context.Background()
	a := env.Tenant(t, "team-a")
	placer.FailNext(iaas.ErrInsufficientCapacity)
	v := &api.VirtualMachine{ObjectMeta: api.ObjectMeta{Name: "big", Namespace: "team-a"}, Spec: api.VirtualMachineSpec{Flavor: "small"}}
	if _, err := client.For[api.VirtualMachine](a).Create(ctx, v); err != nil {
		t.Fatal(err)
	}
	got := waitVM(t, a, "team-a", "big", func(v *api.VirtualMachine) bool {
		c := kit.FindCondition(v.Status.Conditions, api.ConditionProvisioned)
		return c != nil && c.Status == api.ConditionFalse
	}, "the VM waiting for room")
	if c := kit.FindCondition(got.Status.Conditions, api.ConditionProvisioned); got.Status.Phase != api.VMPending ||
		c.Reason != kit.ReasonInsufficientCapacity || !strings.Contains(got.Status.Message, "placement") {
		t.Fatalf("a VM without room: status %+v, want Pending with reason %s", got.Status, kit.ReasonInsufficientCapacity)
	}
	// Room arrives: a new hypervisor.
	hv := &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: "hv-new"}, Spec: api.HypervisorSpec{URI: "test:///default"}}
	if _, err := client.For[api.Hypervisor](env.Admin).Create(ctx, hv); err != nil {
		t.Fatal(err)
	}
	got = waitVM(t, a, "team-a", "big", phase(api.VMRunning), "the VM running once there is room")
	if c := kit.FindCondition(got.Status.Conditions, api.ConditionProvisioned); c == nil || c.Status != api.ConditionTrue {
		t.Fatalf("status %+v, want Provisioned", got.Status)
	}
	if n := len(placer.Requests()); n != 2 {
		t.Fatalf("%d placement requests, want 2 (one without room, one placed)", n)
	}
	if n := len(fake.Machines()); n != 1 {
		t.Fatalf("%d VMs, want 1", n)
	}
}

// A tenant that writes another tenant's VM ID into its own VM's status
// cannot stop or delete that VM through it.
func TestVMIgnoresAForeignProviderID(t *testing.T) {
	env, fake := startVMs(t)
	ctx := context.Background()
	a, b := env.Tenant(t, "team-a"), env.Tenant(t, "team-b")
	for _, x := range []struct {
		c  *client.Client
		ns string
	}{{a, "team-a"}, {b, "team-b"}} {
		v := &api.VirtualMachine{ObjectMeta: api.ObjectMeta{Name: "box", Namespace: x.ns}, Spec: api.VirtualMachineSpec{Flavor: "small"}}
		if _, err := client.For[api.VirtualMachine](x.c).Create(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	victim := waitVM(t, a, "team-a", "box", phase(api.VMRunning), "team-a's VM running")
	waitVM(t, b, "team-b", "box", phase(api.VMRunning), "team-b's VM running")
	no := false
	update(t, b, "team-b", "box", func(v *api.VirtualMachine) { v.Spec.Running = &no })
	for {
		cur, err := client.For[api.VirtualMachine](b).Get(ctx, "team-b", "box")
		if err != nil {
			t.Fatal(err)
		}
		cur.Status.ProviderID = victim.Status.ProviderID
		_, err = client.For[api.VirtualMachine](b).UpdateStatus(ctx, cur)
		if client.IsForbidden(err) {
			return // the API server keeps tenants from writing VM status: defended there
		}
		if err == nil {
			break
		}
		if !client.IsConflict(err) {
			t.Fatal(err)
		}
	}
	got := waitVM(t, b, "team-b", "box", phase(api.VMFailed), "team-b's VM failed")
	if c := kit.FindCondition(got.Status.Conditions, api.ConditionProvisioned); c == nil || c.Reason != vm.ReasonNotOurs {
		t.Fatalf("status %+v", got.Status)
	}
	if err := client.For[api.VirtualMachine](b).Delete(ctx, "team-b", "box", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return len(fake.Machines()) == 1 }, "team-b's own VM deleted")
	m, ok := fake.MachineNamed(vm.MachineName(victim))
	if !ok || m.State != iaas.StateRunning {
		t.Fatalf("team-a's VM touched: %+v %v", m, fake.Calls())
	}
	for _, c := range fake.Calls() {
		if c.ID == m.ID && c.Op != iaasfake.OpGet && c.Op != iaasfake.OpConsoleLog {
			t.Fatalf("%v on team-a's VM (calls %v)", c, fake.Calls())
		}
	}
}
