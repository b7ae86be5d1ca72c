package bench

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	cd "github.com/cloudmgr/cloud/caas/containerd"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// Pods per node: sizes and windows of BenchmarkPodsPerNode.
const (
	// envBenchPods lists the node sizes to measure, comma-separated
	// (default 100; make bench measures 100 and 250).
	envBenchPods = "CLOUDMGR_BENCH_PODS"
	idleWindow   = 10 * time.Second
	churnWindow  = 10 * time.Second
	churnRate    = 5 // pods deleted and as many created per second
	// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat
	// (100 on every Linux architecture Go supports).
	clockTicks = 100
)

// benchSizes reads the node sizes from $CLOUDMGR_BENCH_PODS.
func benchSizes(b *testing.B) []int {
	v := os.Getenv(envBenchPods)
	if v == "" {
		return []int{100}
	}
	var out []int
	for _, f := range strings.Split(v, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 {
			b.Fatalf("%s=%q: want a comma-separated list of pod counts", envBenchPods, v)
		}
		out = append(out, n)
	}
	return out
}

// BenchmarkPodsPerNode brings one node (the cloudlet binary, joined to an
// in-process API server, on the project's containerd) to N running sleep
// pods and measures the agent's own overhead from /proc: CPU in cores
// (utime+stime over a window) and resident memory, first idle, then under
// churn (churnRate pods deleted and as many created per second), plus the
// time from creating the N pods to all of them Running. The scenario runs
// once per size whatever b.N is. Sizes come from $CLOUDMGR_BENCH_PODS.
func BenchmarkPodsPerNode(b *testing.B) {
	for _, n := range benchSizes(b) {
		b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) { podsPerNode(b, n) })
	}
}

func podsPerNode(b *testing.B, n int) {
	socket, snapshotter, image := projectContainerd(b)
	bin, err := test.Binaries("cloudlet")
	if err != nil {
		b.Fatal(err)
	}
	env := apiservertest.Start(b, apiservertest.Options{MaxInFlight: 1000})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	state := b.TempDir()
	ns := fmt.Sprintf("cloudmgr-bench-node-%d", time.Now().UnixNano())
	registry := strings.Split(image, "/")[0]
	rt, err := cd.New(cd.Config{Socket: socket, Namespace: ns, Snapshotter: snapshotter,
		RuncRoot: filepath.Join(state, "runc"), StateDir: filepath.Join(state, "runtime"), PlainHTTPRegistries: []string{registry}})
	if err != nil {
		b.Fatal(err)
	}
	// Deferred calls run last first: the cloudlet stops, its containers
	// and sandboxes go, then the namespace.
	defer removeCgroupParents(ns)
	defer deleteNamespace(socket, ns)
	defer rt.Close()
	defer cleanupRuntimeParallel(rt, state)
	// The image is on the node already: the figures are about running.
	if _, err := rt.EnsureImage(ctx, image, false, nil); err != nil {
		b.Fatal(err)
	}

	ca := filepath.Join(state, "ca.crt")
	if err := os.WriteFile(ca, env.CAPEM, 0o600); err != nil {
		b.Fatal(err)
	}
	jt, err := env.Admin.CreateJoinToken(ctx, time.Minute, "")
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(bin, "cloudlet"), "--server", env.URL, "--ca-file", ca, "--join-token", jt.Token,
		"--state-dir", state, "--containerd", socket, "--snapshotter", snapshotter, "--containerd-namespace", ns,
		"--insecure-registry", registry, "--node-name", "bench-pods", "--log-level", "warn")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	pid := cmd.Process.Pid

	pods := client.For[api.Pod](env.Admin)
	zero := int64(0)
	newPod := func(name string) *api.Pod {
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{NodeName: "bench-pods", TerminationGracePeriodSeconds: &zero, Containers: []api.Container{{
				Name: "c", Image: image, ImagePullPolicy: api.PullIfNotPresent, Command: []string{"sleep", "100000"}}}}}
	}
	b.ResetTimer()
	start := time.Now()
	if _, err := run(n, 8, func(i int) error {
		_, err := pods.Create(ctx, newPod(fmt.Sprintf("p%04d", i)))
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if err := waitAllRunning(ctx, pods, n, 5*time.Minute); err != nil {
		b.Fatalf("%v\ncloudlet log:\n%s", err, log.String())
	}
	toRunning := time.Since(start)
	b.StopTimer()

	time.Sleep(2 * time.Second) // status writes of the last pods settle
	idleCPU, idleRSS, err := sampleProcess(pid, idleWindow, nil)
	if err != nil {
		b.Fatal(err)
	}

	// Churn: each tick deletes the oldest pod and creates a new one, so
	// the node stays at n pods.
	next, oldest := n+1, 1
	var churnErr error
	var mu sync.Mutex
	churnCPU, churnRSS, err := sampleProcess(pid, churnWindow, func(stop <-chan struct{}) {
		t := time.NewTicker(time.Second / churnRate)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
			}
			del, add := fmt.Sprintf("p%04d", oldest), fmt.Sprintf("p%04d", next)
			oldest, next = oldest+1, next+1
			go func() {
				err := pods.Delete(ctx, "default", del, client.DeleteOptions{})
				if err == nil {
					_, err = pods.Create(ctx, newPod(add))
				}
				if err != nil {
					mu.Lock()
					churnErr = err
					mu.Unlock()
				}
			}()
		}
	})
	if err != nil {
		b.Fatal(err)
	}
	if churnErr != nil {
		b.Fatal(churnErr)
	}
	settle := time.Now()
	if err := waitAllRunning(ctx, pods, n, 5*time.Minute); err != nil {
		b.Fatalf("after churn: %v\ncloudlet log:\n%s", err, log.String())
	}
	b.ReportMetric(toRunning.Seconds(), "s-to-all-running")
	b.ReportMetric(idleCPU, "agent-cpu-idle-cores")
	b.ReportMetric(idleRSS, "agent-rss-idle-MiB")
	b.ReportMetric(churnCPU, "agent-cpu-churn-cores")
	b.ReportMetric(churnRSS, "agent-rss-churn-MiB")
	b.ReportMetric(time.Since(settle).Seconds(), "s-to-settle-after-churn")
	// Each container's output goes through a cloudmgr-logger process (a
	// child of its shim): its memory is part of the node's cost per pod.
	if kib, count, err := loggersPrivateKiB(); err != nil {
		b.Fatal(err)
	} else if count > 0 {
		b.ReportMetric(float64(kib)/1024/float64(count), "logger-private-MiB-per-container")
	}
}

// loggersPrivateKiB sums the private memory (Private_Clean+Private_Dirty
// of smaps_rollup) of every cloudmgr-logger process and counts them.
func loggersPrivateKiB() (int64, int, error) {
	dirs, err := filepath.Glob("/proc/[0-9]*")
	if err != nil {
		return 0, 0, err
	}
	var total int64
	count := 0
	for _, d := range dirs {
		comm, err := os.ReadFile(d + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "cloudmgr-logger" {
			continue
		}
		b, err := os.ReadFile(d + "/smaps_rollup")
		if err != nil {
			continue // gone meanwhile
		}
		for _, line := range strings.Split(string(b), "\n") {
			for _, key := range []string{"Private_Clean:", "Private_Dirty:"} {
				if v, ok := strings.CutPrefix(line, key); ok {
					n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
					if err != nil {
						return 0, 0, fmt.Errorf("%s/smaps_rollup: %q: %w", d, line, err)
					}
					total += n
				}
			}
		}
		count++
	}
	return total, count, nil
}

// waitAllRunning polls until exactly want pods exist, all Running.
func waitAllRunning(ctx context.Context, pods *client.Resource[api.Pod, *api.Pod], want int, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		list, _, err := pods.List(ctx, "default", client.ListOptions{})
		running := 0
		if err == nil {
			for _, p := range list {
				if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil {
					running++
				}
			}
			if running == want && len(list) == want {
				return nil
			}
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d of %d pods Running (%d listed, %v) after %s", running, want, len(list), err, timeout)
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// sampleProcess runs load (when given) for window and returns pid's CPU
// use over it in cores and its largest resident set seen, in MiB (sampled
// every 250ms).
func sampleProcess(pid int, window time.Duration, load func(stop <-chan struct{})) (cores, rssMiB float64, err error) {
	stop := make(chan struct{})
	done := make(chan struct{})
	if load != nil {
		go func() { defer close(done); load(stop) }()
	} else {
		close(done)
	}
	t0, err := cpuTicks(pid)
	if err != nil {
		return 0, 0, err
	}
	start := time.Now()
	var maxRSS int64
	for time.Since(start) < window {
		rss, err := rssKiB(pid)
		if err != nil {
			return 0, 0, err
		}
		maxRSS = max(maxRSS, rss)
		time.Sleep(250 * time.Millisecond)
	}
	t1, err := cpuTicks(pid)
	elapsed := time.Since(start)
	close(stop)
	<-done
	if err != nil {
		return 0, 0, err
	}
	return float64(t1-t0) / clockTicks / elapsed.Seconds(), float64(maxRSS) / 1024, nil
}

// cpuTicks returns utime+stime of pid, in clock ticks.
func cpuTicks(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name, in parentheses, may hold spaces: fields count
	// from after its closing one (utime and stime are fields 14 and 15).
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("/proc/%d/stat: %d fields", pid, len(f))
	}
	u, err1 := strconv.ParseInt(f[11], 10, 64)
	s, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("/proc/%d/stat: utime %q stime %q", pid, f[11], f[12])
	}
	return u + s, nil
}

// rssKiB returns VmRSS of pid in KiB.
func rssKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
}

// cleanupRuntimeParallel removes every container and sandbox of the
// benchmark's namespace, eight at a time (hundreds of containers).
func cleanupRuntimeParallel(rt *cd.Runtime, state string) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	list, _ := rt.ListContainers(ctx)
	_, _ = run(len(list), 8, func(i int) error {
		c := list[i-1]
		_ = rt.StopContainer(ctx, c.ID, 0)
		_ = rt.RemoveContainer(ctx, c.ID)
		return nil
	})
	cleanupRuntime(rt, state) // what is left, and the sandboxes
}

// removeCgroupParents removes the namespace's cgroup directories, which
// runc leaves (empty) when it removes the containers' own.
func removeCgroupParents(ns string) {
	dirs, _ := filepath.Glob(filepath.Join("/sys/fs/cgroup/*", ns))
	for _, d := range append(dirs, filepath.Join("/sys/fs/cgroup", ns)) {
		_ = os.Remove(d)
	}
}
