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
	"github.com/cloudmgr/cloud/test"
)

// TestPodRunsInContainerd: the whole path with real daemons: cloudd, a
// cloudlet joined with a token, the project's containerd and runc, and the
// project-built image from the local registry. A pod bound to the node runs,
// writes its log, and on delete is stopped and removed.
func TestPodRunsInContainerd(t *testing.T) {
	sock, snapshotter := projectContainerd(t)
	n := startJoinedNode(t, sock, snapshotter, "box-1")
	c, log, registry, state := n.c, n.log, n.registry, n.state

	ctx := context.Background()
	pods := client.For[api.Pod](c)
	grace := int64(2)
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "hello", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "box-1", TerminationGracePeriodSeconds: &grace, Containers: []api.Container{{
			Name: "main", Image: registry + "/cloudmgr/busybox:test",
			Command:   []string{"sh", "-c", "echo hello-from-pod; exec sleep 1000"},
			Resources: api.ResourceRequirements{Limits: api.ResourceList{"cpu": api.MustParseQuantity("200m"), "memory": api.MustParseQuantity("32Mi")}},
		}}},
	}
	if _, err := pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	var got *api.Pod
	var err error
	for {
		got, err = pods.Get(ctx, "default", "hello")
		if err == nil && got.Status.Phase == api.PodRunning && len(got.Status.ContainerStatuses) == 1 && got.Status.ContainerStatuses[0].Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not Running within 60s: %+v\ncloudlet log:\n%s", got, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	logs, _ := filepath.Glob(filepath.Join(state, "logs", "default_hello_*", "main-0.log"))
	deadline = time.Now().Add(10 * time.Second)
	for {
		if len(logs) == 1 {
			if b, _ := os.ReadFile(logs[0]); strings.Contains(string(b), "hello-from-pod") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no container log with the pod's output (found %v)", logs)
		}
		time.Sleep(100 * time.Millisecond)
		logs, _ = filepath.Glob(filepath.Join(state, "logs", "default_hello_*", "main-0.log"))
	}

	// Delete: SIGTERM (sleep ignores it as pid 1), SIGKILL after 2s, then
	// the pod is gone from the API.
	if err := pods.Delete(ctx, "default", "hello", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	deadline = time.Now().Add(30 * time.Second)
	for {
		_, err := pods.Get(ctx, "default", "hello")
		if client.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod still there 30s after delete: %v\ncloudlet log:\n%s", err, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestAllInOne: cloudd --all-in-one finds the containerd of make deps by
// itself, registers this machine as node "local", runs a pod bound to it
// and execs in it through the in-process agent's tunnel.
func TestAllInOne(t *testing.T) {
	bin, err := test.Binaries("cloudd")
	if err != nil {
		t.Fatal(err)
	}
	sock, _ := projectContainerd(t)
	dir := t.TempDir()
	ns := fmt.Sprintf("cloudmgr-e2e-aio-%d", time.Now().UnixNano())
	cleanupCloudletNamespace(t, sock, ns, filepath.Join(dir, "node"))
	c0, err := test.StartCloudd(bin, dir, addr(t), "--all-in-one", "--containerd", sock, "--containerd-namespace", ns)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c0.Stop(syscall.SIGTERM) })
	if err := c0.WaitReady(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	c := adminClient(t, dir)
	waitReady(t, c, "local", c0.Log)
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "aio", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "local", Containers: []api.Container{{
			Name: "main", Image: envOr(envRegistry, defaultRegistry) + "/cloudmgr/busybox:test", Command: []string{"sleep", "1000"},
		}}},
	}
	pods := client.For[api.Pod](c)
	if _, err := pods.Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := pods.Get(context.Background(), "default", "aio")
		if err == nil && got.Status.Phase == api.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not Running within 60s: %+v\ncloudd log:\n%s", got, c0.Log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	// The in-process agent serves exec through its tunnel, as cloudlet does.
	deadline = time.Now().Add(20 * time.Second)
	for {
		var out strings.Builder
		code, err := c.Exec(context.Background(), "default", "aio", client.ExecOptions{Command: []string{"echo", "from-aio"}}, nil, &out, nil)
		if err == nil && code == 0 && out.String() == "from-aio\n" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("exec in the all-in-one pod: code %d, err %v, out %q\ncloudd log:\n%s", code, err, out.String(), c0.Log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	zero := int64(0)
	if err := pods.Delete(context.Background(), "default", "aio", client.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
}
