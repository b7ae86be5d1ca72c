package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/images"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/caas"
	cd "github.com/cloudmgr/cloud/caas/containerd"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// projectContainerd finds the containerd and registry of make deps.
func projectContainerd(b *testing.B) (socket, snapshotter, image string) {
	_, file, _, _ := runtime.Caller(0)
	run := filepath.Join(filepath.Dir(file), "..", "..", ".run", "containerd")
	socket = filepath.Join(run, "containerd.sock")
	if v := os.Getenv("CLOUDMGR_CONTAINERD_SOCKET"); v != "" {
		socket = v
	}
	if _, err := os.Stat(socket); err != nil {
		b.Fatalf("containerd socket %s: %v; run `make deps`", socket, err)
	}
	s, err := os.ReadFile(filepath.Join(run, "snapshotter"))
	if err != nil {
		b.Fatalf("no snapshotter chosen: %v; run `make deps`", err)
	}
	registry := "127.0.0.1:5055"
	if v := os.Getenv("CLOUDMGR_REGISTRY"); v != "" {
		registry = v
	}
	return socket, strings.TrimSpace(string(s)), registry + "/cloudmgr/busybox:test"
}

func percentile(d []time.Duration, p float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[min(len(s)-1, int(float64(len(s))*p))]
}

// BenchmarkPodStartup creates b.N pods (at least 10) of an image already
// on the node, one after another, and measures API create to the pod's
// status saying Running, seen through a watch; next to it, the same number
// of bare containerd starts of the same image through the same runtime
// (create container + start task, no API, no agent). It reports p50 and
// p99 of both and the agent's added latency at p50.
func BenchmarkPodStartup(b *testing.B) {
	socket, snapshotter, image := projectContainerd(b)
	n := max(b.N, 10)
	env := apiservertest.Start(b, apiservertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	state := b.TempDir()
	ns := fmt.Sprintf("cloudmgr-bench-%d", time.Now().UnixNano())
	bin, err := test.Binaries("cloudmgr-logger")
	if err != nil {
		b.Fatal(err)
	}
	// Both paths log through the log driver, as cloudlet runs them.
	rt, err := cd.New(cd.Config{Socket: socket, Namespace: ns, Snapshotter: snapshotter,
		RuncRoot: filepath.Join(state, "runc"), StateDir: filepath.Join(state, "runtime"), PlainHTTPRegistries: []string{strings.Split(image, "/")[0]},
		LogDriver: filepath.Join(bin, "cloudmgr-logger")})
	if err != nil {
		b.Fatal(err)
	}
	// Deferred calls run last first: containers go, then the namespace.
	defer deleteNamespace(socket, ns)
	defer rt.Close()
	defer cleanupRuntime(rt, state)
	if _, err := rt.EnsureImage(ctx, image, false, nil); err != nil {
		b.Fatal(err)
	}

	// Bare containerd: create and start, as a reference.
	var bare []time.Duration
	for i := range n {
		sb, err := rt.CreateSandbox(ctx, fmt.Sprintf("bare-%04d-0000-0000-0000-000000000000", i))
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		if _, err := rt.StartContainer(ctx, caas.ContainerSpec{PodUID: sb.PodUID, PodNamespace: "bench", PodName: "bare", Name: "c",
			Image: image, Command: []string{"sleep", "1000"}, NetNSPath: sb.NetNSPath, LogPath: filepath.Join(state, "bare", fmt.Sprint(i))}); err != nil {
			b.Fatal(err)
		}
		bare = append(bare, time.Since(start))
	}
	cleanupRuntime(rt, state) // a clean node for the agent

	// `ctr run -d` of the same image, the reference the issue names: one
	// CLI process per start, container and task made and started.
	ctrBin, err := exec.LookPath("ctr")
	if err != nil {
		b.Fatalf("ctr (Debian package containerd) not found: %v; run `make deps`", err)
	}
	var ctrRun []time.Duration
	for i := range n {
		start := time.Now()
		out, err := exec.CommandContext(ctx, ctrBin, "--address", socket, "--namespace", ns, "run", "-d",
			"--snapshotter", snapshotter, image, fmt.Sprintf("ctr-%04d", i), "sleep", "1000").CombinedOutput()
		if err != nil {
			b.Fatalf("ctr run: %v\n%s", err, out)
		}
		ctrRun = append(ctrRun, time.Since(start))
	}
	removeAllContainers(socket, ns)

	jt, err := env.Admin.CreateJoinToken(ctx, time.Minute, "")
	if err != nil {
		b.Fatal(err)
	}
	cred, err := env.Client(b, jt.Token).Join(ctx, "bench-node")
	if err != nil {
		b.Fatal(err)
	}
	nc := env.Client(b, cred.Token)
	pm := caas.NewPodManager(nc, rt, caas.PodConfig{NodeName: "bench-node", LogDir: filepath.Join(state, "logs"), Resync: time.Second}, nil)
	go func() { _ = pm.Run(ctx) }()
	pods := client.For[api.Pod](env.Admin)
	w, err := pods.Watch(ctx, "default", client.ListOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Stop()
	var viaAPI []time.Duration
	b.ResetTimer()
	for i := range n {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("p%04d", i), Namespace: "default"},
			Spec: api.PodSpec{NodeName: "bench-node", Containers: []api.Container{{Name: "c", Image: image, ImagePullPolicy: api.PullIfNotPresent, Command: []string{"sleep", "1000"}}}}}
		start := time.Now()
		if _, err := pods.Create(ctx, p); err != nil {
			b.Fatal(err)
		}
		for running := false; !running; {
			select {
			case ev, ok := <-w.Events():
				if !ok {
					b.Fatal("watch ended")
				}
				if pp, _ := ev.Object.(*api.Pod); pp != nil && pp.Name == p.Name && pp.Status.Phase == api.PodRunning {
					running = true
				}
			case <-time.After(time.Minute):
				b.Fatalf("pod %s not Running within a minute", p.Name)
			}
		}
		viaAPI = append(viaAPI, time.Since(start))
	}
	b.StopTimer()
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(percentile(viaAPI, 0.5)), "api-p50-ms")
	b.ReportMetric(ms(percentile(viaAPI, 0.99)), "api-p99-ms")
	b.ReportMetric(ms(percentile(bare, 0.5)), "bare-p50-ms")
	b.ReportMetric(ms(percentile(bare, 0.99)), "bare-p99-ms")
	b.ReportMetric(ms(percentile(viaAPI, 0.5)-percentile(bare, 0.5)), "added-p50-ms")
	b.ReportMetric(ms(percentile(ctrRun, 0.5)), "ctr-run-p50-ms")
	b.ReportMetric(ms(percentile(ctrRun, 0.99)), "ctr-run-p99-ms")
	b.ReportMetric(float64(percentile(viaAPI, 0.5))/float64(percentile(ctrRun, 0.5)), "api/ctr-run-p50-ratio")
	cancel()
}

// removeAllContainers kills and removes every task and container of the
// namespace, whoever made them (ctr's carry none of the runtime's labels).
func removeAllContainers(socket, ns string) {
	c, err := containerd.New(socket, containerd.WithTimeout(10*time.Second))
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), 2*time.Minute)
	defer cancel()
	ctrs, _ := c.Containers(ctx)
	for _, ctr := range ctrs {
		if task, err := ctr.Task(ctx, nil); err == nil {
			_, _ = task.Delete(ctx, containerd.WithProcessKill)
		}
		_ = ctr.Delete(ctx, containerd.WithSnapshotCleanup)
	}
}

// cleanupRuntime removes every container and sandbox of the benchmark's
// namespace.
func cleanupRuntime(rt *cd.Runtime, state string) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	list, _ := rt.ListContainers(ctx)
	for _, c := range list {
		_ = rt.StopContainer(ctx, c.ID, 0)
		_ = rt.RemoveContainer(ctx, c.ID)
	}
	entries, _ := os.ReadDir(filepath.Join(state, "runtime", "netns"))
	for _, e := range entries {
		_ = rt.RemoveSandbox(ctx, e.Name())
	}
}

// deleteNamespace removes the benchmark's images and containerd namespace.
func deleteNamespace(socket, ns string) {
	c, err := containerd.New(socket, containerd.WithTimeout(10*time.Second))
	if err != nil {
		return
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), ns), time.Minute)
	defer cancel()
	imgs, _ := c.ImageService().List(ctx)
	for _, img := range imgs {
		_ = c.ImageService().Delete(ctx, img.Name, images.SynchronousDelete())
	}
	_ = c.NamespaceService().Delete(ctx, ns)
}
