package e2e

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/cio"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"github.com/containerd/containerd/v2/pkg/oci"
)

// Where `make deps` (deploy/deps.sh) puts the project's containerd and
// registry; the environment variables override them.
const (
	envContainerdSocket = "CLOUDMGR_CONTAINERD_SOCKET"
	envSnapshotter      = "CLOUDMGR_CONTAINERD_SNAPSHOTTER"
	envRegistry         = "CLOUDMGR_REGISTRY"
	defaultRegistry     = "127.0.0.1:5055"
)

func envOr(key, def string) string {
	if v := os.Getenv(key); v != "" {
		return v
	}
	return def
}

// TestContainerdRunsBusybox is the smoke test of the node's real engine:
// the project's containerd (with runc) pulls the project-built busybox image
// from the local registry over plain HTTP and runs `echo hello` in a fresh
// namespace, with no pivot_root workaround. The tarball made by make deps
// must import to the same image.
func TestContainerdRunsBusybox(t *testing.T) {
	run := filepath.Join(repoRoot(), ".run", "containerd")
	socket := envOr(envContainerdSocket, filepath.Join(run, "containerd.sock"))
	if _, err := os.Stat(socket); err != nil {
		t.Fatalf("containerd socket %s: %v; run `make deps` to start the project's containerd and registry", socket, err)
	}
	snapshotter := os.Getenv(envSnapshotter)
	if snapshotter == "" {
		b, err := os.ReadFile(filepath.Join(run, "snapshotter"))
		if err != nil {
			t.Fatalf("no snapshotter chosen (%v); run `make deps`", err)
		}
		snapshotter = strings.TrimSpace(string(b))
	}
	ref := envOr(envRegistry, defaultRegistry) + "/cloudmgr/busybox:test"

	c, err := containerd.New(socket, containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatalf("connect to containerd at %s: %v; run `make deps`", socket, err)
	}
	defer c.Close()
	ns := fmt.Sprintf("cloudmgr-e2e-%d", time.Now().UnixNano())
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 2*time.Minute)
	defer cancel()
	// Clean-ups run on their own context so that a timed-out test still
	// leaves nothing behind to block the next run.
	cleanupCtx := func() (context.Context, context.CancelFunc) {
		return context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 30*time.Second)
	}
	defer func() {
		cctx, cancel := cleanupCtx()
		defer cancel()
		if err := c.NamespaceService().Delete(cctx, ns); err != nil {
			t.Logf("namespace %s left behind: %v", ns, err)
		}
		_ = os.Remove(filepath.Join(run, "runc", ns)) // empty once the task is gone
	}()

	resolver := docker.NewResolver(docker.ResolverOptions{
		Hosts: docker.ConfigureDefaultRegistries(docker.WithPlainHTTP(docker.MatchLocalhost)),
	})
	image, err := c.Pull(ctx, ref, containerd.WithResolver(resolver), containerd.WithPullUnpack,
		containerd.WithPullSnapshotter(snapshotter))
	if err != nil {
		t.Fatalf("pull %s: %v (is the registry up? run `make deps`)", ref, err)
	}
	defer func() {
		cctx, cancel := cleanupCtx()
		defer cancel()
		if err := c.ImageService().Delete(cctx, ref, images.SynchronousDelete()); err != nil {
			t.Errorf("delete image: %v", err)
		}
	}()
	checkImport(ctx, t, c, ref, image.Target().Digest.String())

	// The runc state and the I/O FIFOs go under .run too: by default they
	// would land in /run/containerd, shared with any system containerd.
	id := "smoke"
	ctr, err := c.NewContainer(ctx, id,
		containerd.WithImage(image),
		containerd.WithSnapshotter(snapshotter),
		containerd.WithNewSnapshot(id+"-rootfs", image),
		containerd.WithRuntime("io.containerd.runc.v2", &options.Options{Root: filepath.Join(run, "runc")}),
		containerd.WithNewSpec(oci.WithImageConfig(image), oci.WithProcessArgs("echo", "hello")),
	)
	if err != nil {
		t.Fatalf("create container: %v", err)
	}
	defer func() {
		cctx, cancel := cleanupCtx()
		defer cancel()
		if err := ctr.Delete(cctx, containerd.WithSnapshotCleanup); err != nil {
			t.Errorf("delete container: %v", err)
		}
	}()

	var stdout, stderr bytes.Buffer
	task, err := ctr.NewTask(ctx, cio.NewCreator(cio.WithStreams(nil, &stdout, &stderr), cio.WithFIFODir(filepath.Join(run, "fifo"))))
	if err != nil {
		t.Fatalf("create task: %v", err)
	}
	deleted := false
	defer func() {
		if !deleted {
			cctx, cancel := cleanupCtx()
			defer cancel()
			if _, err := task.Delete(cctx, containerd.WithProcessKill); err != nil {
				t.Errorf("delete task: %v", err)
			}
		}
	}()
	exitC, err := task.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := task.Start(ctx); err != nil {
		t.Fatalf("start task: %v", err)
	}
	var status containerd.ExitStatus
	select {
	case status = <-exitC:
	case <-ctx.Done():
		t.Fatalf("task did not exit: %v", ctx.Err())
	}
	// Delete waits for the output to be copied before it returns.
	if _, err := task.Delete(ctx); err != nil {
		t.Fatalf("delete task: %v", err)
	}
	deleted = true
	code, _, err := status.Result()
	if err != nil || code != 0 {
		t.Fatalf("exit code %d (%v); stdout %q stderr %q", code, err, stdout.String(), stderr.String())
	}
	if got := stdout.String(); got != "hello\n" {
		t.Fatalf("stdout %q, want %q (stderr %q)", got, "hello\n", stderr.String())
	}
	t.Logf("ran %s with the %s snapshotter in %s; exit 0, stdout %q", ref, snapshotter, time.Since(start).Round(time.Millisecond), stdout.String())
	if _, err := os.Stat(filepath.Join("/run/containerd/runc", ns)); err == nil {
		t.Errorf("runc state went to /run/containerd/runc/%s, want it under %s", ns, run)
	}
}

// checkImport imports the OCI tarball that make deps built and checks that
// it names the same manifest as the registry served.
func checkImport(ctx context.Context, t *testing.T, c *containerd.Client, ref, want string) {
	t.Helper()
	f, err := os.Open(filepath.Join(repoRoot(), ".run", "images", "busybox.tar"))
	if err != nil {
		t.Fatalf("test image tarball: %v; run `make deps`", err)
	}
	defer f.Close()
	imgs, err := c.Import(ctx, f)
	if err != nil {
		t.Fatalf("import tarball: %v", err)
	}
	if len(imgs) != 1 || imgs[0].Target.Digest.String() != want {
		t.Fatalf("tarball imported as %+v, want one image at %s", imgs, want)
	}
	if name := imgs[0].Name; name != ref {
		if err := c.ImageService().Delete(ctx, name, images.SynchronousDelete()); err != nil {
			t.Errorf("delete imported %s: %v", name, err)
		}
	}
}
