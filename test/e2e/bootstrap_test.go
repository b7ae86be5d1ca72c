package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/test"
)

// TestCloudletBootstrapFile: a cloudlet started with only --bootstrap (the
// file a node VM finds on its config drive) joins with the server, CA,
// token, name and labels the file holds; the token is neither on its
// command line nor in its log.
func TestCloudletBootstrapFile(t *testing.T) {
	bin, err := test.Binaries("cloudd", "cloudctl", "cloudlet")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	address := addr(t)
	startReady(t, bin, dir, address)
	admin := filepath.Join(dir, "admin.yaml")
	token, _, code := cloudctl(t, bin, admin, "", "node", "token", "create", "--ttl", "10m")
	token = strings.TrimSpace(token)
	if code != 0 || token == "" {
		t.Fatal("node token create failed")
	}
	ca, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(api.NodeBootstrap{Server: "https://" + address, CA: string(ca), JoinToken: token, NodeName: "boot-1",
		Labels: map[string]string{"pool": "vm"}, Hypervisor: "hv-9"})
	bootFile := filepath.Join(t.TempDir(), api.NodeBootstrapFile)
	if err := os.WriteFile(bootFile, b, 0o600); err != nil {
		t.Fatal(err)
	}
	sock, snapshotter := projectContainerd(t)
	ns := fmt.Sprintf("cloudmgr-e2e-boot-%d", time.Now().UnixNano())
	state := t.TempDir()
	cleanupCloudletNamespace(t, sock, ns, state)
	cmd, log := startCloudlet(t, bin, "--bootstrap", bootFile, "--state-dir", state, "--containerd", sock,
		"--snapshotter", snapshotter, "--containerd-namespace", ns, "--heartbeat-interval", "200ms")
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(cmdline), token) {
		t.Error("the join token is on cloudlet's command line")
	}
	n := waitReady(t, adminClient(t, dir), "boot-1", log)
	if n.Labels["pool"] != "vm" || n.Labels[api.LabelHypervisor] != "hv-9" {
		t.Errorf("labels %v, want pool=vm and the hypervisor from the bootstrap file", n.Labels)
	}
	if strings.Contains(log.String(), token) {
		t.Error("cloudlet logged its join token")
	}
}
