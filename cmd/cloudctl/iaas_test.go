package main

import (
	"context"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/iaasfake"
	"github.com/cloudmgr/cloud/iaas/machine"
	"github.com/cloudmgr/cloud/iaas/nodepool"
	"github.com/cloudmgr/cloud/iaas/vm"
)

// iaasServer runs the real API server with the IaaS controllers over a
// fake provider "libvirt", and a SIMULATED NODE AGENT: each VM the fake
// runs registers a Ready node of its name, and pods deleted there are
// confirmed gone at once. It returns the admin config and the fake.
func iaasServer(t *testing.T) (string, *client.Client, *iaasfake.Provider) {
	t.Helper()
	env, cfg := realServerConfig(t)
	fake := iaasfake.New("libvirt")
	provs := iaas.Providers{"libvirt": fake}
	placer := &iaasfake.Placer{Hypervisor: "local"}
	controllerstest.RunManager(t, env.Admin, nil, func(m *controllers.Manager) error {
		_, err := machine.Setup(m, machine.Options{Providers: provs, Placer: placer, CheckInterval: 200 * time.Millisecond})
		return err
	}, func(m *controllers.Manager) error {
		_, err := nodepool.Setup(m, nodepool.Options{DrainPoll: 200 * time.Millisecond})
		return err
	}, func(m *controllers.Manager) error {
		_, err := vm.Setup(m, vm.Options{Providers: provs, Placer: placer, Refresh: 200 * time.Millisecond})
		return err
	})
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	wg.Go(func() {
		nodes := client.For[api.Node](env.Admin)
		for ctx.Err() == nil {
			for _, m := range fake.Machines() {
				if m.Labels[api.LabelNodePool] == "" {
					continue // a tenant VM
				}
				if _, err := nodes.Get(ctx, "", m.Name); client.IsNotFound(err) {
					_, _ = nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: m.Name},
						Status: api.NodeStatus{Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, LastHeartbeatTime: api.Now()}}}})
				}
			}
			select {
			case <-ctx.Done():
			case <-time.After(100 * time.Millisecond):
			}
		}
	})
	return cfg, env.Admin, fake
}

func TestNodePoolCommands(t *testing.T) {
	cfg, admin, fake := iaasServer(t)
	ctx := context.Background()
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append([]string{"--config", cfg}, args...)...)
	}

	// Bad input: a usage error or the server's field path, nothing stored.
	_, errOut, code := cli("nodepool", "create", "bad", "--taint", "dedicated")
	if code == 0 || !strings.Contains(errOut, "--taint") {
		t.Fatalf("bad taint: exit %d, %s", code, errOut)
	}
	_, errOut, code = cli("nodepool", "create", "bad", "--min", "3", "--max", "2")
	if code == 0 || !strings.Contains(errOut, "spec.maxSize") {
		t.Fatalf("bad sizes: exit %d, %s", code, errOut)
	}
	if _, err := client.For[api.NodePool](admin).Get(ctx, "", "bad"); !client.IsNotFound(err) {
		t.Fatalf("a bad pool was stored: %v", err)
	}

	out, errOut, code := cli("nodepool", "create", "web", "--provider", "libvirt", "--hypervisor", "local", "--replicas", "2",
		"--vcpus", "1", "--memory", "512Mi", "--max", "3", "--label", "tier=web", "--taint", "dedicated=web:NoSchedule", "--priority", "5")
	if code != 0 || out != "nodepool/web created\n" {
		t.Fatalf("create: exit %d, %q %s", code, out, errOut)
	}
	pool, err := client.For[api.NodePool](admin).Get(ctx, "", "web")
	if err != nil || *pool.Spec.Replicas != 2 || pool.Spec.MaxSize != 3 || pool.Spec.Hypervisors[0] != "local" || pool.Spec.Labels["tier"] != "web" ||
		pool.Spec.Taints[0].Effect != api.TaintEffectNoSchedule || pool.Spec.Priority != 5 || pool.Spec.Memory.String() != "512Mi" {
		t.Fatalf("pool %+v: %v", pool, err)
	}
	controllerstest.WaitFor(t, func() bool {
		out, _, _ = cli("get", "nodepools")
		return strings.Contains(out, "web    libvirt    2          2       0     3     ")
	}, "get nodepools to show 2 ready")
	mustContain(t, "get nodepools", out, "NAME   PROVIDER   REPLICAS   READY   MIN   MAX   AGE")

	out, errOut, code = cli("nodepool", "scale", "web", "--replicas", "5")
	if code != 0 || out != "nodepool/web scaled\n" || !strings.Contains(errOut, "outside the pool's size range 0..3") {
		t.Fatalf("scale: exit %d, %q %q", code, out, errOut)
	}
	if _, _, code = cli("nodepool", "scale", "web", "--replicas", "1"); code != 0 {
		t.Fatal("scale to 1 failed")
	}
	controllerstest.WaitFor(t, func() bool { return len(fake.Machines()) == 1 }, "one VM left")

	out, errOut, code = cli("nodepool", "delete", "web", "--timeout", "40s")
	if code != 0 || !strings.HasSuffix(out, "nodepool/web deleted\n") || !strings.Contains(out, "VM(s) left to drain and delete") {
		t.Fatalf("delete: exit %d, %q %q", code, out, errOut)
	}
	if n := len(fake.Machines()); n != 0 {
		t.Fatalf("%d VMs left", n)
	}
}

func TestVMCommandsAndTenancy(t *testing.T) {
	cfg, _, fake := iaasServer(t)
	dir := t.TempDir()
	acme, other := filepath.Join(dir, "acme"), filepath.Join(dir, "other")
	for name, path := range map[string]string{"acme": acme, "other": other} {
		if _, errOut, code := runCLI(t, "--config", cfg, "tenant", "create", name, "--write-config", path); code != 0 {
			t.Fatalf("tenant %s: %s", name, errOut)
		}
	}
	as := func(cfg string, args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append([]string{"--config", cfg}, args...)...)
	}
	out, errOut, code := as(acme, "vm", "create", "db", "--vcpus", "1", "--memory", "512Mi", "--image", "debian.img", "--hypervisor", "local")
	if code != 0 || out != "virtualmachine/db created\n" {
		t.Fatalf("create: exit %d %q %s", code, out, errOut)
	}
	if _, errOut, code = as(acme, "vm", "create", "bad", "--memory", "lots"); code == 0 || !strings.Contains(errOut, "--memory") {
		t.Fatalf("bad memory: exit %d %s", code, errOut)
	}
	controllerstest.WaitFor(t, func() bool { out, _, _ = as(acme, "vm", "get"); return strings.Contains(out, "db     Running   local") }, "the VM running")

	// The other tenant sees nothing of it.
	out, errOut, _ = as(other, "vm", "get")
	if strings.Contains(out, "db") || !strings.Contains(errOut, "No resources found") {
		t.Fatalf("other tenant's vm get: %q %q", out, errOut)
	}
	if _, errOut, code = as(other, "vm", "stop", "db", "-n", "acme"); code == 0 || !strings.Contains(errOut, "Forbidden") {
		t.Fatalf("other tenant stopped acme's VM: exit %d %s", code, errOut)
	}

	if out, _, code = as(acme, "vm", "stop", "db"); code != 0 || out != "virtualmachine/db stopped\n" {
		t.Fatalf("stop: %d %q", code, out)
	}
	controllerstest.WaitFor(t, func() bool { out, _, _ = as(acme, "vm", "get", "db"); return strings.Contains(out, "Stopped") }, "the VM stopped")
	if out, _, code = as(acme, "vm", "start", "db"); code != 0 || out != "virtualmachine/db started\n" {
		t.Fatalf("start: %d %q", code, out)
	}
	controllerstest.WaitFor(t, func() bool { out, _, _ = as(acme, "vm", "get", "db"); return strings.Contains(out, "Running") }, "the VM running again")
	if _, _, code = as(acme, "vm", "restart", "db"); code != 0 {
		t.Fatal("restart failed")
	}
	controllerstest.WaitFor(t, func() bool { return len(fake.CallsOf(iaasfake.OpReboot)) == 1 }, "a reboot")

	fake.SetConsole(fake.Machines()[0].ID, "booting\nlogin: ")
	controllerstest.WaitFor(t, func() bool { out, _, _ = as(acme, "vm", "console-log", "db"); return out == "booting\nlogin: \n" }, "the console tail")

	if out, errOut, code = as(acme, "vm", "delete", "db"); code != 0 || out != "virtualmachine/db deleted\n" {
		t.Fatalf("delete: %d %q %s", code, out, errOut)
	}
	if n := len(fake.Machines()); n != 0 {
		t.Fatalf("%d VMs left", n)
	}
}
