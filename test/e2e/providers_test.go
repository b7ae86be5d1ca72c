package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/providers/openstack"
	"github.com/cloudmgr/cloud/providers/openstack/openstacktest"
	"github.com/cloudmgr/cloud/test"
)

// writeConfig writes cloudd's config file in dir.
func writeConfig(t *testing.T, dir, text string) string {
	t.Helper()
	p := filepath.Join(dir, "cloudd.yaml")
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// waitUntil polls cond every 200 ms until it holds or timeout passes.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, s := cond()
		if ok {
			return
		}
		last = s
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestSimProviderFromConfigFile: cloudd with a simulated cloud declared in
// its config file; a NodePool of it grows simulated nodes that join
// through the API server, say they are simulated, report usage, and go
// when the pool shrinks.
func TestSimProviderFromConfigFile(t *testing.T) {
	bin, err := testBinaries()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, `
providers:
  burst:
    type: sim
    cloud: true
    hosts: [{name: rack, cpus: 16, memoryMiB: 65536, count: 2}]
    createDelay: 100ms
    heartbeatInterval: 1s
    cpuUsage: 0.5
`)
	cd := startReady(t, bin, dir, addr(t), "--config", cfg)
	admin := filepath.Join(dir, "admin.yaml")
	if out, errOut, code := cloudctl(t, bin, admin, "", "nodepool", "create", "burst", "--provider", "burst", "--replicas", "3", "--max", "5"); code != 0 {
		t.Fatalf("nodepool create: %d %s %s", code, out, errOut)
	}
	c := adminClient(t, dir)
	ctx := context.Background()
	waitUntil(t, time.Minute, "3 simulated nodes Ready", func() (bool, string) {
		nodes, _, err := client.For[api.Node](c).List(ctx, "", client.ListOptions{LabelSelector: api.LabelNodePool + "=burst"})
		if err != nil {
			return false, err.Error()
		}
		ready := 0
		for _, n := range nodes {
			for _, cond := range n.Status.Conditions {
				if cond.Type == api.NodeReady && cond.Status == api.ConditionTrue && n.Labels["cloudmgr.dev/simulated"] == "true" && n.Status.Usage != nil {
					ready++
				}
			}
		}
		return ready == 3, fmt.Sprintf("%d of %d nodes ready with usage", ready, len(nodes))
	})
	out, errOut, code := cloudctl(t, bin, admin, "", "get", "nodes", "-o", "wide")
	if code != 0 || strings.Count(out, "burst(simulated)") != 3 || strings.Count(out, "simulated") < 6 {
		t.Fatalf("get nodes -o wide: %d\n%s%s", code, out, errOut)
	}
	t.Logf("cloudctl get nodes -o wide:\n%s", out)
	if out, errOut, code := cloudctl(t, bin, admin, "", "nodepool", "scale", "burst", "--replicas", "0"); code != 0 {
		t.Fatalf("nodepool scale: %d %s %s", code, out, errOut)
	}
	waitUntil(t, time.Minute, "the pool's nodes and machines gone", func() (bool, string) {
		nodes, _, err1 := client.For[api.Node](c).List(ctx, "", client.ListOptions{LabelSelector: api.LabelNodePool + "=burst"})
		ms, _, err2 := client.For[api.Machine](c).List(ctx, "", client.ListOptions{})
		return err1 == nil && err2 == nil && len(nodes) == 0 && len(ms) == 0, fmt.Sprintf("%d nodes, %d machines", len(nodes), len(ms))
	})
	if !strings.Contains(cd.Log.String(), "SIMULATED provider") {
		t.Errorf("cloudd's log does not say the provider is simulated:\n%s", cd.Log.String())
	}
}

// TestOpenStackProviderFromConfigFile: cloudd with an OpenStack provider
// declared in its config file, its password in a file, against the
// OpenStack TEST DOUBLE (providers/openstack/openstacktest, Keystone and
// Nova JSON on loopback): a NodePool of it makes a Nova server with this
// system's metadata and the bootstrap in its user data, on a host Nova
// chose; the pool's deletion deletes it; the password shows nowhere.
func TestOpenStackProviderFromConfigFile(t *testing.T) {
	bin, err := testBinaries()
	if err != nil {
		t.Fatal(err)
	}
	cloud := openstacktest.Start(t, openstacktest.Options{})
	dir := t.TempDir()
	pw := filepath.Join(dir, "os-password")
	if err := os.WriteFile(pw, []byte(cloud.Options().Password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, dir, fmt.Sprintf(`
providers:
  public:
    type: openstack
    authURL: %s
    region: %s
    username: %s
    userDomainName: Default
    projectName: %s
    projectDomainName: Default
    passwordFile: %s
    network: private
    image: cirros-0.6.3-x86_64-disk
    pollInterval: 100ms
`, cloud.AuthURL(), cloud.Region(), cloud.Options().Username, cloud.Options().ProjectName, pw))
	cd := startReady(t, bin, dir, addr(t), "--config", cfg)
	admin := filepath.Join(dir, "admin.yaml")
	if out, errOut, code := cloudctl(t, bin, admin, "", "nodepool", "create", "pub", "--provider", "public", "--flavor", "m1.tiny", "--replicas", "1"); code != 0 {
		t.Fatalf("nodepool create: %d %s %s", code, out, errOut)
	}
	c := adminClient(t, dir)
	ctx := context.Background()
	var m *api.Machine
	waitUntil(t, time.Minute, "the pool's machine Running on an OpenStack server", func() (bool, string) {
		ms, _, err := client.For[api.Machine](c).List(ctx, "", client.ListOptions{LabelSelector: api.LabelNodePool + "=pub"})
		if err != nil || len(ms) != 1 {
			return false, fmt.Sprintf("%d machines, %v", len(ms), err)
		}
		m = ms[0]
		return m.Status.Phase == api.MachineRunning && strings.HasPrefix(m.Status.ProviderID, "openstack://"), fmt.Sprintf("%+v", m.Status)
	})
	servers := cloud.Servers()
	if len(servers) != 1 {
		t.Fatalf("the double holds %d servers, want 1: %+v", len(servers), servers)
	}
	s := servers[0]
	if s.Name != m.Name || s.Metadata[openstack.MetaManaged] == "" || m.Status.Host == "" || s.HostID != m.Status.Host {
		t.Fatalf("server %+v for machine %s (host %q)", s, m.Name, m.Status.Host)
	}
	if !strings.Contains(string(s.UserData), "bootstrap.json") {
		t.Errorf("the server's user data carries no bootstrap: %q", s.UserData)
	}
	if err := client.For[api.NodePool](c).Delete(ctx, "", "pub", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, time.Minute, "the server deleted with the pool", func() (bool, string) {
		return len(cloud.Servers()) == 0, fmt.Sprintf("%d servers", len(cloud.Servers()))
	})
	if strings.Contains(cd.Log.String(), cloud.Options().Password) {
		t.Error("cloudd's log shows the OpenStack password")
	}
}

// A bad providers entry fails start-up with its key path and the reason.
func TestBadProviderConfigFailsStartup(t *testing.T) {
	bin, err := testBinaries()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "providers:\n  public:\n    type: openstack\n    cloud: c\n    regoin: RegionOne\n")
	cd, err := test.StartCloudd(bin, dir, addr(t), "--config", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cd.Stop(syscall.SIGKILL) })
	exitErr, exited := cd.Exited(30 * time.Second)
	if !exited || exitErr == nil {
		t.Fatalf("cloudd with a bad provider entry: exited %v (%v), want a failure", exited, exitErr)
	}
	if log := cd.Log.String(); !strings.Contains(log, "providers.public: unknown keys regoin") {
		t.Fatalf("cloudd's error does not name the key:\n%s", log)
	}
}
