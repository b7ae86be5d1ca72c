package e2e

import (
	"context"
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// TestTopNodesAllInOne: cloudd --all-in-one measures its node every second;
// with a pod burning half a core, `cloudctl top nodes` shows the node using
// at least that.
func TestTopNodesAllInOne(t *testing.T) {
	bin, err := test.Binaries("cloudd", "cloudctl")
	if err != nil {
		t.Fatal(err)
	}
	sock, _ := projectContainerd(t)
	dir := t.TempDir()
	ns := fmt.Sprintf("cloudmgr-e2e-top-%d", time.Now().UnixNano())
	cleanupCloudletNamespace(t, sock, ns, filepath.Join(dir, "node"))
	c0, err := test.StartCloudd(bin, dir, addr(t), "--all-in-one", "--containerd", sock, "--containerd-namespace", ns, "--usage-interval", "1s")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c0.Stop(syscall.SIGTERM) })
	if err := c0.WaitReady(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	c := adminClient(t, dir)
	waitReady(t, c, "local", c0.Log)
	pods := client.For[api.Pod](c)
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "burn", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "local", Containers: []api.Container{{
			Name: "main", Image: envOr(envRegistry, defaultRegistry) + "/cloudmgr/busybox:test", Command: []string{"sh", "-c", "while :; do :; done"},
			Resources: api.ResourceRequirements{Limits: api.ResourceList{"cpu": api.MustParseQuantity("500m")}},
		}}},
	}
	if _, err := pods.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		zero := int64(0)
		_ = pods.Delete(context.Background(), "default", "burn", client.DeleteOptions{GracePeriodSeconds: &zero})
	})
	admin := filepath.Join(dir, "admin.yaml")
	deadline := time.Now().Add(90 * time.Second)
	var out, errOut string
	for time.Now().Before(deadline) {
		var code int
		out, errOut, code = cloudctl(t, bin, admin, "", "top", "nodes")
		if code != 0 {
			t.Fatalf("top nodes: exit %d: %s", code, errOut)
		}
		if milli, ok := topNodeCPU(out, "local"); ok && milli >= 350 {
			if !strings.HasPrefix(out, "NAME    CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)\n") &&
				!strings.HasPrefix(out, "NAME    CPU(cores)   CPU(%)    MEMORY(bytes)   MEMORY(%)\n") {
				t.Errorf("top nodes header:\n%s", out)
			}
			t.Logf("\n%s", out)
			topPodsShowsBurn(t, bin, admin, c0)
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("top nodes never showed local using 350m or more while a pod burns 500m:\n%s%s\ncloudd log:\n%s", out, errOut, c0.Log.String())
}

// topPodsShowsBurn waits for `cloudctl top pods` to show the burning pod,
// whose figure the API server fetched from the node through its tunnel,
// at no more than its 500m limit allows.
func topPodsShowsBurn(t *testing.T, bin, admin string, c0 *test.Cloudd) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	var out, errOut string
	for time.Now().Before(deadline) {
		var code int
		out, errOut, code = cloudctl(t, bin, admin, "", "top", "pods", "-n", "default")
		if code == 0 {
			for _, line := range strings.Split(out, "\n") {
				f := strings.Fields(line)
				if len(f) == 3 && f[0] == "burn" && strings.HasSuffix(f[1], "m") {
					milli, err := strconv.ParseInt(strings.TrimSuffix(f[1], "m"), 10, 64)
					if err == nil && milli >= 50 {
						if milli > 600 {
							t.Fatalf("top pods shows burn at %dm, over its 500m limit:\n%s", milli, out)
						}
						if !strings.HasPrefix(out, "NAME") {
							t.Errorf("top pods header:\n%s", out)
						}
						t.Logf("\n%s", out)
						return
					}
				}
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("top pods never showed burn:\n%s%s\ncloudd log:\n%s", out, errOut, c0.Log.String())
}

// topNodeCPU reads a node's CPU(cores) column ("523m") from top nodes.
func topNodeCPU(out, node string) (int64, bool) {
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) == 5 && f[0] == node {
			n, err := strconv.ParseInt(strings.TrimSuffix(f[1], "m"), 10, 64)
			return n, err == nil && strings.HasSuffix(f[1], "m")
		}
	}
	return 0, false
}

// TestUsageIntervalTooShort: a sampling interval under a second is refused
// before anything starts, with a non-zero exit.
func TestUsageIntervalTooShort(t *testing.T) {
	bin, err := test.Binaries("cloudlet")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, filepath.Join(bin, "cloudlet"), "--usage-interval", "100ms", "--state-dir", t.TempDir()).CombinedOutput()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 1 || !strings.Contains(string(out), "--usage-interval 100ms: must be at least 1s") {
		t.Fatalf("cloudlet --usage-interval 100ms: %v\n%s", err, out)
	}
}
