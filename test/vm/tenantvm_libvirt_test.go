package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	iaasvm "github.com/cloudmgr/cloud/iaas/vm"
	"github.com/cloudmgr/cloud/test"
)

// TestTenantVMLifecycleOnLibvirt: a tenant creates a VM from the node
// image with cloudctl; it runs as a QEMU domain, stops (the domain is shut
// off) and starts again, its console log shows the guest booting and the
// output of its user-data script, another tenant can neither see nor list
// it, and deleting it leaves no domain or volume. (Without a node
// bootstrap on its config drive the node image runs as a plain VM.)
func TestTenantVMLifecycleOnLibvirt(t *testing.T) {
	ctx := context.Background()
	x, l := startIaaS(t)
	c := adminClient(t, x.DataDir)

	cfgA, cfgB := filepath.Join(x.DataDir, "team-a.yaml"), filepath.Join(x.DataDir, "team-b.yaml")
	for tenant, cfg := range map[string]string{"team-a": cfgA, "team-b": cfgB} {
		if out, err := x.Cloudctl(x.Admin, "tenant", "create", tenant, "--write-config", cfg); err != nil {
			t.Fatalf("tenant create %s: %v\n%s", tenant, err, out)
		}
	}
	// Last resort: the VM's domain and volumes, by its machine name.
	var machine string
	t.Cleanup(func() {
		if machine == "" {
			return
		}
		_, _ = x.Cloudctl(cfgA, "vm", "delete", "db")
		if names, _ := test.DomainNames(l, machine); len(names) > 0 {
			t.Errorf("cleanup: domain %s was left behind; destroying it", machine)
			_ = test.RemoveDomain(l, machine)
		}
		files, _ := x.PoolFiles("cloudmgr-" + machine + "-")
		for _, f := range files {
			t.Errorf("cleanup: pool volume %s was left behind; removing it", f)
			_ = os.Remove(filepath.Join(x.PoolDir, f))
		}
		if t.Failed() {
			t.Logf("cloudd log (tail):\n%s", tail(x.Log.String(), 20000))
		}
	})

	// User data that is a script runs in the guest, its output on the
	// console.
	udata := filepath.Join(x.DataDir, "user-data.sh")
	if err := os.WriteFile(udata, []byte("#!/bin/sh\necho \"hello-from-user-data on $(hostname)\"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := x.Cloudctl(cfgA, "vm", "create", "db", "--vcpus", "1", "--memory", "512Mi", "--image", "cloudmgr-node",
		"--user-data-file", udata); err != nil {
		t.Fatalf("vm create: %v\n%s", err, out)
	}
	vms := client.For[api.VirtualMachine](c)
	vm, err := vms.Get(ctx, "team-a", "db")
	if err != nil {
		t.Fatalf("the tenant's VM is not in its namespace team-a: %v", err)
	}
	machine = iaasvm.MachineName(vm)

	// phase waits for the VM's phase and its domain's state.
	phase := func(want api.VirtualMachinePhase, dom golibvirt.DomainState) {
		t.Helper()
		waitFor(t, 3*time.Minute, fmt.Sprintf("VM db %s, domain %s in state %d", want, machine, dom), func() (bool, string) {
			vm, err := vms.Get(ctx, "team-a", "db")
			if err != nil {
				return false, err.Error()
			}
			st, found, err := test.DomainState(l, machine)
			return vm.Status.Phase == want && found && st == dom,
				fmt.Sprintf("VM phase %s (%s), conditions %+v; domain found %v, state %d, error %v",
					vm.Status.Phase, vm.Status.Message, vm.Status.Conditions, found, st, err)
		})
	}
	phase(api.VMRunning, golibvirt.DomainRunning)
	if out, err := x.Cloudctl(cfgA, "vm", "get", "db"); err != nil || !strings.Contains(out, "db") {
		t.Fatalf("the tenant's vm get db: %v\n%s", err, out)
	}

	if out, err := x.Cloudctl(cfgA, "vm", "stop", "db"); err != nil {
		t.Fatalf("vm stop: %v\n%s", err, out)
	}
	phase(api.VMStopped, golibvirt.DomainShutoff)
	if out, err := x.Cloudctl(cfgA, "vm", "start", "db"); err != nil {
		t.Fatalf("vm start: %v\n%s", err, out)
	}
	phase(api.VMRunning, golibvirt.DomainRunning)

	var console string
	waitUntil(t, 3*time.Minute, "boot output and the user-data script's in vm console-log", func() (bool, error) {
		out, err := x.Cloudctl(cfgA, "vm", "console-log", "db")
		console = out
		return err == nil && strings.Contains(out, "cloudmgr-init: start") && strings.Contains(out, "hello-from-user-data on db"), err
	})
	t.Logf("vm console-log db:\n%s", tail(console, 2000))

	// The other tenant sees nothing of it.
	if out, err := x.Cloudctl(cfgB, "vm", "get", "db"); err == nil || !strings.Contains(out, "NotFound") {
		t.Errorf("team-b's vm get db: err %v, want NotFound:\n%s", err, out)
	}
	if out, err := x.Cloudctl(cfgB, "get", "vm"); err != nil || strings.Contains(out, "db") {
		t.Errorf("team-b's get vm: err %v, want an empty list:\n%s", err, out)
	}
	if out, err := x.Cloudctl(cfgB, "vm", "get", "db", "-n", "team-a"); err == nil || !strings.Contains(out, "Forbidden") {
		t.Errorf("team-b's vm get db -n team-a: err %v, want Forbidden:\n%s", err, out)
	}

	if out, err := x.Cloudctl(cfgA, "vm", "delete", "db"); err != nil {
		t.Fatalf("vm delete: %v\n%s", err, out)
	}
	waitUntil(t, 2*time.Minute, "domain and volumes of "+machine+" gone", func() (bool, error) {
		if _, found, err := test.DomainState(l, machine); found || err != nil {
			return false, err
		}
		files, err := x.PoolFiles("cloudmgr-" + machine + "-")
		return err == nil && len(files) == 0, err
	})
}

// tail is the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}
