package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/errdefs"

	"github.com/cloudmgr/cloud/caas"
	"github.com/cloudmgr/cloud/test"
)

// testImage is the image make deps pushes to the local registry.
func testImage() string {
	reg := os.Getenv("CLOUDMGR_REGISTRY")
	if reg == "" {
		reg = "127.0.0.1:5055"
	}
	return reg + "/cloudmgr/busybox:test"
}

func repoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newTestRuntime connects to the project's containerd in a namespace of
// the test's own and removes everything in it when the test ends.
func newTestRuntime(t *testing.T) *Runtime {
	t.Helper()
	run := filepath.Join(repoRoot(), ".run", "containerd")
	socket := os.Getenv("CLOUDMGR_CONTAINERD_SOCKET")
	if socket == "" {
		socket = filepath.Join(run, "containerd.sock")
	}
	if _, err := os.Stat(socket); err != nil {
		t.Fatalf("containerd socket %s: %v; run `make deps` to start the project's containerd and registry", socket, err)
	}
	snapshotter := os.Getenv("CLOUDMGR_CONTAINERD_SNAPSHOTTER")
	if snapshotter == "" {
		b, err := os.ReadFile(filepath.Join(run, "snapshotter"))
		if err != nil {
			t.Fatalf("no snapshotter chosen (%v); run `make deps`", err)
		}
		snapshotter = strings.TrimSpace(string(b))
	}
	bin, err := test.Binaries("cloudmgr-logger")
	if err != nil {
		t.Fatalf("build the log driver: %v", err)
	}
	ns := "cloudmgr-test-" + randomHex(4)
	rt, err := New(Config{
		Socket: socket, Namespace: ns, Snapshotter: snapshotter,
		RuncRoot: filepath.Join(run, "runc"), FIFODir: filepath.Join(run, "fifo"),
		StateDir:            t.TempDir(),
		LogDriver:           filepath.Join(bin, "cloudmgr-logger"),
		PlainHTTPRegistries: []string{strings.SplitN(testImage(), "/", 2)[0]},
	})
	if err != nil {
		t.Fatalf("%v; run `make deps`", err)
	}
	t.Cleanup(func() { cleanupNamespace(t, rt, run) })
	return rt
}

// cleanupNamespace kills and removes every container, sandbox and image
// of the test's namespace, then the namespace, on a fresh context.
func cleanupNamespace(t *testing.T, rt *Runtime, run string) {
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), rt.cfg.Namespace), time.Minute)
	defer cancel()
	defer rt.Close()
	ctrs, err := rt.client.Containers(ctx)
	if err != nil {
		t.Errorf("cleanup: list containers: %v", err)
	}
	for _, c := range ctrs {
		if err := rt.RemoveContainer(ctx, c.ID()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	entries, _ := os.ReadDir(filepath.Join(rt.cfg.StateDir, "netns"))
	for _, e := range entries {
		if err := rt.RemoveSandbox(ctx, e.Name()); err != nil {
			t.Errorf("cleanup: %v", err)
		}
	}
	imgs, _ := rt.client.ImageService().List(ctx)
	for _, img := range imgs {
		if err := rt.client.ImageService().Delete(ctx, img.Name, images.SynchronousDelete()); err != nil {
			t.Errorf("cleanup: delete image %s: %v", img.Name, err)
		}
	}
	if err := rt.client.NamespaceService().Delete(ctx, rt.cfg.Namespace); err != nil && !errdefs.IsNotFound(err) {
		t.Errorf("cleanup: namespace %s left behind: %v", rt.cfg.Namespace, err)
	}
	_ = os.Remove(filepath.Join(run, "runc", rt.cfg.Namespace))
	// runc removes a container's cgroup but not the namespace's parent.
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", rt.cfg.Namespace))
	for _, d := range append(dirs, filepath.Join("/sys/fs/cgroup", rt.cfg.Namespace)) {
		_ = os.Remove(d)
	}
}

// pod makes a sandbox and returns a spec template for its containers.
func pod(t *testing.T, rt *Runtime, ctx context.Context) caas.ContainerSpec {
	t.Helper()
	uid := randomHex(8)
	sb, err := rt.CreateSandbox(ctx, uid)
	if err != nil {
		t.Fatal(err)
	}
	return caas.ContainerSpec{PodUID: uid, PodNamespace: "default", PodName: "p-" + uid[:4],
		Image: testImage(), NetNSPath: sb.NetNSPath}
}

// waitExited polls ListContainers until id has exited.
func waitExited(t *testing.T, rt *Runtime, ctx context.Context, id string, timeout time.Duration) caas.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		st := find(t, rt, ctx, id)
		if st.State == caas.ContainerExited {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container %s still %s after %s", id, st.State, timeout)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// find returns id's status from ListContainers.
func find(t *testing.T, rt *Runtime, ctx context.Context, id string) caas.ContainerStatus {
	t.Helper()
	list, err := rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, st := range list {
		if st.ID == id {
			return st
		}
	}
	t.Fatalf("container %s not listed (have %+v)", id, list)
	return caas.ContainerStatus{}
}

func testContext(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}
