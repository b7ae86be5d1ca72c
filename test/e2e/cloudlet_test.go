package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/cloudmgr/cloud/api"
	cd "github.com/cloudmgr/cloud/caas/containerd"
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
	sock, snapshotter := projectContainerd(t)
	ns := fmt.Sprintf("cloudmgr-e2e-lets-%d", time.Now().UnixNano())
	state := t.TempDir()
	cleanupCloudletNamespace(t, sock, ns, state)
	common := []string{"--state-dir", state, "--containerd", sock, "--snapshotter", snapshotter, "--containerd-namespace", ns,
		"--node-name", "edge-1", "--heartbeat-interval", "200ms", "--hypervisor", "hv-1", "--zone", "zone-a"}
	args := append([]string{"--server", "https://" + address, "--ca-file", filepath.Join(dir, "pki", "ca.crt"), "--join-token", token}, common...)
	cmd, log := startCloudlet(t, bin, args...)
	c := adminClient(t, dir)
	n := waitReady(t, c, "edge-1", log)
	if n.Labels[api.LabelHypervisor] != "hv-1" || n.Labels[api.LabelZone] != "zone-a" || n.Labels[api.LabelHostname] != "edge-1" {
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
		"--join-token", token, "--state-dir", t.TempDir(), "--containerd", sock, "--containerd-namespace", ns, "--node-name", "edge-2")
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

// projectContainerd returns the socket and snapshotter of the containerd
// that make deps starts, failing with how to start it when it is missing.
func projectContainerd(t *testing.T) (socket, snapshotter string) {
	t.Helper()
	run := filepath.Join(repoRoot(), ".run", "containerd")
	socket = envOr(envContainerdSocket, filepath.Join(run, "containerd.sock"))
	if _, err := os.Stat(socket); err != nil {
		t.Fatalf("containerd socket %s: %v; run `make deps`", socket, err)
	}
	snapshotter = os.Getenv(envSnapshotter)
	if snapshotter == "" {
		b, err := os.ReadFile(filepath.Join(run, "snapshotter"))
		if err != nil {
			t.Fatalf("no snapshotter chosen (%v); run `make deps`", err)
		}
		snapshotter = strings.TrimSpace(string(b))
	}
	return socket, snapshotter
}

// cleanupCloudletNamespace removes, when the test ends, whatever a cloudlet
// left in its containerd namespace: containers, sandboxes, images, the
// namespace and its cgroup parents. Register it before starting the
// cloudlet, so that it runs after the cloudlet is killed.
func cleanupCloudletNamespace(t *testing.T, socket, ns, stateDir string) {
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), time.Minute)
		defer cancel()
		rt, err := cd.New(cd.Config{Socket: socket, Namespace: ns, RuncRoot: filepath.Join(stateDir, "runc"), StateDir: filepath.Join(stateDir, "runtime")})
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer rt.Close()
		list, _ := rt.ListContainers(ctx)
		for _, c := range list {
			_ = rt.StopContainer(ctx, c.ID, 0)
			if err := rt.RemoveContainer(ctx, c.ID); err != nil {
				t.Errorf("cleanup: %v", err)
			}
		}
		entries, _ := os.ReadDir(filepath.Join(stateDir, "runtime", "netns"))
		for _, e := range entries {
			_ = rt.RemoveSandbox(ctx, e.Name())
		}
		c, err := containerd.New(socket, containerd.WithTimeout(10*time.Second))
		if err != nil {
			t.Errorf("cleanup: %v", err)
			return
		}
		defer c.Close()
		imgs, _ := c.ImageService().List(ctx)
		for _, img := range imgs {
			_ = c.ImageService().Delete(ctx, img.Name, images.SynchronousDelete())
		}
		if err := c.NamespaceService().Delete(ctx, ns); err != nil && !errdefs.IsNotFound(err) {
			t.Logf("cleanup: namespace %s left behind: %v", ns, err)
		}
		dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", ns))
		for _, d := range append(dirs, filepath.Join("/sys/fs/cgroup", ns)) {
			_ = os.Remove(d)
		}
	})
}
