package e2e

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// startCloudlet runs the cloudlet binary; it is killed when the test ends.
func startCloudlet(t *testing.T, bin string, args ...string) (*exec.Cmd, *strings.Builder) {
	t.Helper()
	cmd := exec.Command(filepath.Join(bin, "cloudlet"), args...)
	log := &strings.Builder{}
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd, log
}

func waitReady(t *testing.T, c *client.Client, node string, log *strings.Builder) *api.Node {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		n, err := client.For[api.Node](c).Get(context.Background(), "", node)
		if err == nil {
			for _, cond := range n.Status.Conditions {
				if cond.Type == api.NodeReady && cond.Status == api.ConditionTrue {
					return n
				}
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("node %s not Ready within 30s; cloudlet log:\n%s", node, log.String())
	return nil
}

// TestCloudletJoins: an operator mints a join token with cloudctl, the
// cloudlet binary joins with it and its Node turns Ready; the token works
// once; a restarted cloudlet uses its stored credential.
func TestCloudletJoins(t *testing.T) {
	bin, err := test.Binaries("cloudd", "cloudctl", "cloudlet")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	address := addr(t)
	startReady(t, bin, dir, address)
	admin := filepath.Join(dir, "admin.yaml")

	token, errOut, code := cloudctl(t, bin, admin, "", "node", "token", "create", "--ttl", "10m")
	token = strings.TrimSpace(token)
	if code != 0 || !strings.HasPrefix(token, "cm_") || !strings.Contains(errOut, "works once") {
		t.Fatalf("node token create: code %d, stdout %q, stderr %q", code, token, errOut)
	}
	// Something listening where containerd's socket would be: the agent
	// reports NotReady without it.
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	ln, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()

	state := t.TempDir()
	common := []string{"--state-dir", state, "--containerd", sock, "--node-name", "edge-1", "--heartbeat-interval", "200ms", "--hypervisor", "hv-1"}
	args := append([]string{"--server", "https://" + address, "--ca-file", filepath.Join(dir, "pki", "ca.crt"), "--join-token", token}, common...)
	cmd, log := startCloudlet(t, bin, args...)
	c := adminClient(t, dir)
	n := waitReady(t, c, "edge-1", log)
	if n.Labels["cloudmgr.dev/hypervisor"] != "hv-1" {
		t.Errorf("labels %v", n.Labels)
	}
	st, err := os.Stat(filepath.Join(state, "credential.json"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("credential file: %v mode %v", err, st)
	}
	if strings.Contains(log.String(), token) {
		t.Fatal("cloudlet logged its join token")
	}
	out, _, code := cloudctl(t, bin, admin, "", "get", "nodes")
	if code != 0 || !strings.Contains(out, "edge-1") || !strings.Contains(out, "Ready") {
		t.Fatalf("get nodes: %d\n%s", code, out)
	}

	// The token is used up.
	_, log2 := startCloudlet(t, bin, "--server", "https://"+address, "--ca-file", filepath.Join(dir, "pki", "ca.crt"),
		"--join-token", token, "--state-dir", t.TempDir(), "--containerd", sock, "--node-name", "edge-2")
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(log2.String(), "Unauthorized") {
		if time.Now().After(deadline) {
			t.Fatalf("second join did not fail with Unauthorized:\n%s", log2.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	// Restart with the stored credential only (SIGKILL, as a crash).
	_ = cmd.Process.Signal(syscall.SIGKILL)
	_ = cmd.Wait()
	_, log3 := startCloudlet(t, bin, common...)
	lease0, _ := client.For[api.Lease](c).Get(context.Background(), api.NamespaceNodeLease, "edge-1")
	deadline = time.Now().Add(20 * time.Second)
	for {
		l, err := client.For[api.Lease](c).Get(context.Background(), api.NamespaceNodeLease, "edge-1")
		if err == nil && lease0 != nil && l.ResourceVersion != lease0.ResourceVersion {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("restarted cloudlet does not renew the lease:\n%s", log3.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
