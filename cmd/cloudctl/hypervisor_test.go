package main

import (
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestHypervisorCommands drives hypervisor add, get, describe and remove
// against a real API server.
func TestHypervisorCommands(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	cfg := filepath.Join(t.TempDir(), "config")
	f := client.NewConfigFile("admin", client.Context{Server: env.URL, Token: env.AdminToken,
		CertificateAuthorityData: base64.StdEncoding.EncodeToString(env.CAPEM)})
	if err := f.Save(cfg); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append([]string{"--config", cfg}, args...)...)
	}
	ctx := context.Background()

	out, errOut, code := cli("hypervisor", "add", "hv-1", "--uri", "qemu+tcp://10.0.0.5/system", "--label", "zone=a", "--label", "rack=r2",
		"--cpu-ratio", "4", "--memory-ratio", "1.5")
	if code != 0 {
		t.Fatalf("add: exit %d: %s", code, errOut)
	}
	mustContain(t, "add", out, "hypervisor/hv-1 added")
	h, err := client.For[api.Hypervisor](env.Admin).Get(ctx, "", "hv-1")
	if err != nil {
		t.Fatal(err)
	}
	if h.Spec.Labels["rack"] != "r2" || h.Spec.CPUAllocationRatio != "4" || h.Spec.MemoryAllocationRatio != "1.5" || h.Spec.Provider != "libvirt" {
		t.Fatalf("stored spec %+v", h.Spec)
	}

	for _, tc := range []struct {
		args  []string
		field string
	}{
		{[]string{"--uri", "not a uri"}, "spec.uri"},
		{[]string{"--uri", "qemu:///system", "--cpu-ratio", "0"}, "spec.cpuAllocationRatio"},
		{[]string{"--uri", "qemu:///system", "--memory-ratio", "lots"}, "spec.memoryAllocationRatio"},
		{[]string{"--uri", "qemu:///system", "--label", "noequals"}, "--label"},
		{nil, "--uri is required"},
	} {
		_, errOut, code := cli(append([]string{"hypervisor", "add", "bad"}, tc.args...)...)
		if code == 0 || !strings.Contains(errOut, tc.field) {
			t.Errorf("add %v: exit %d, stderr %q; want a failure naming %s", tc.args, code, errOut, tc.field)
		}
	}
	if _, err := client.For[api.Hypervisor](env.Admin).Get(ctx, "", "bad"); !client.IsNotFound(err) {
		t.Fatalf("a refused hypervisor was stored: %v", err)
	}

	h.Status.Conditions = []api.Condition{{Type: api.ConditionReachable, Status: api.ConditionTrue, Reason: "HostReachable"}}
	h.Status.Capacity = api.ResourceList{api.ResourceCPU: api.MustParseQuantity("4"), api.ResourceMemory: api.MustParseQuantity("8Gi")}
	h.Status.Allocated = api.ResourceList{api.ResourceCPU: api.MustParseQuantity("1"), api.ResourceMemory: api.MustParseQuantity("512Mi")}
	h.Status.Machines, h.Status.Hostname = 1, "host-1"
	if _, err := client.For[api.Hypervisor](env.Admin).UpdateStatus(ctx, h); err != nil {
		t.Fatal(err)
	}
	m := &api.Machine{ObjectMeta: api.ObjectMeta{Name: "web-1"}, Spec: api.MachineSpec{Provider: "libvirt", Pool: "web", Hypervisor: "hv-1",
		VCPUs: 1, Memory: api.MustParseQuantity("512Mi")}}
	if _, err := client.For[api.Machine](env.Admin).Create(ctx, m); err != nil {
		t.Fatal(err)
	}

	out, errOut, code = cli("get", "hypervisors")
	if code != 0 {
		t.Fatalf("get: exit %d: %s", code, errOut)
	}
	mustContain(t, "get hypervisors", out, "REACHABLE", "CPU(ALLOC/CAP)", "hv-1", "True", "1/4", "512Mi/8Gi")
	out, errOut, code = cli("get", "machines")
	if code != 0 {
		t.Fatalf("get machines: exit %d: %s", code, errOut)
	}
	mustContain(t, "get machines", out, "POOL", "HYPERVISOR", "web-1", "web", "Pending", "hv-1")
	out, errOut, code = cli("describe", "hypervisor", "hv-1")
	if code != 0 {
		t.Fatalf("describe: exit %d: %s", code, errOut)
	}
	mustContain(t, "describe", out, "URI:", "qemu+tcp://10.0.0.5/system", "Hostname:", "host-1", "CPU Allocation Ratio:", "4",
		"Reachable", "HostReachable", "Allocated:", "machine/web-1")

	_, errOut, code = cli("hypervisor", "remove", "hv-1")
	if code == 0 || !strings.Contains(errOut, "machine/web-1") || !strings.Contains(errOut, "--force") {
		t.Fatalf("remove with a machine on it: exit %d: %s", code, errOut)
	}
	out, errOut, code = cli("hypervisor", "remove", "hv-1", "--force")
	if code != 0 {
		t.Fatalf("remove --force: exit %d: %s", code, errOut)
	}
	mustContain(t, "remove", out, "hypervisor/hv-1 removed")
	if _, errOut, code = cli("hypervisor", "remove", "hv-1"); code == 0 || !strings.Contains(errOut, "NotFound") {
		t.Fatalf("remove twice: exit %d: %s", code, errOut)
	}
}
