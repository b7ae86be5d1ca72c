package containerd

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/cloudmgr/cloud/caas"
)

func TestStopContainer(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := testContext(t)
	if _, err := rt.EnsureImage(ctx, testImage(), false, nil); err != nil {
		t.Fatal(err)
	}
	p := pod(t, rt, ctx)
	for _, tc := range []struct {
		name    string
		command []string
		grace   time.Duration
		code    int32
		within  time.Duration
	}{
		{"term", []string{"sh", "-c", `trap "exit 0" TERM; while true; do sleep 0.1; done`}, 10 * time.Second, 0, 2 * time.Second},
		{"kill", []string{"sleep", "1000"}, 500 * time.Millisecond, 137, 1500 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := p
			s.Name, s.Command = tc.name, tc.command
			id, err := rt.StartContainer(ctx, s)
			if err != nil {
				t.Fatal(err)
			}
			time.Sleep(200 * time.Millisecond) // let the shell set its trap
			start := time.Now()
			if err := rt.StopContainer(ctx, id, tc.grace); err != nil {
				t.Fatal(err)
			}
			took := time.Since(start)
			st := find(t, rt, ctx, id)
			if st.State != caas.ContainerExited || st.ExitCode != tc.code || took > tc.within {
				t.Errorf("stopped in %s to %+v; want exit %d within %s", took, st, tc.code, tc.within)
			}
			t.Logf("stopped in %s", took.Round(time.Millisecond))
			if err := rt.StopContainer(ctx, id, time.Second); err != nil {
				t.Errorf("stopping a stopped container: %v", err)
			}
		})
	}
	if err := rt.StopContainer(ctx, "no-such-container", time.Second); err != nil {
		t.Errorf("stopping a missing container: %v", err)
	}
}

func TestMemoryLimitOOMKilled(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := testContext(t)
	if _, err := rt.EnsureImage(ctx, testImage(), false, nil); err != nil {
		t.Fatal(err)
	}
	s := pod(t, rt, ctx)
	s.Name, s.MemoryLimit = "hog", 32<<20
	s.Command = []string{"sh", "-c", "x=a; while true; do x=$x$x; done"}
	id, err := rt.StartContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	st := waitExited(t, rt, ctx, id, time.Minute)
	if st.ExitCode != 137 || !st.OOMKilled {
		t.Fatalf("status %+v, want exit 137 and OOMKilled", st)
	}
	// A restarted agent has missed the OOM event: the memory cgroup, kept
	// until the task is deleted, must still tell.
	for deadline := time.Now().Add(5 * time.Second); !rt.oom.seen(id); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no /tasks/oom event recorded")
		}
	}
	rt.oom.forget(id)
	if st := find(t, rt, ctx, id); !st.OOMKilled {
		t.Errorf("without the OOM event: %+v, want OOMKilled from the cgroup", st)
	}
}

func TestCPUQuota(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := testContext(t)
	if _, err := rt.EnsureImage(ctx, testImage(), false, nil); err != nil {
		t.Fatal(err)
	}
	s := pod(t, rt, ctx)
	s.Name, s.CPUShares, s.CPUQuota, s.CPUPeriod = "cpu", 512, 50000, 100000
	s.Command = []string{"sleep", "1000"}
	id, err := rt.StartContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	ctr, err := rt.client.LoadContainer(namespaces.WithNamespace(ctx, rt.cfg.Namespace), id)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := ctr.Spec(namespaces.WithNamespace(ctx, rt.cfg.Namespace))
	if err != nil {
		t.Fatal(err)
	}
	got := readCPU(t, spec.Linux.CgroupsPath)
	want := map[string]string{"quota": "50000", "period": "100000", "shares": "512"}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("cgroup %s: %s = %q, want %q", spec.Linux.CgroupsPath, k, got[k], v)
		}
	}
	if err := rt.StopContainer(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
}

// readCPU reads a cgroup's CFS quota, period and weight from the host's
// cgroup v1 cpu hierarchy, or cgroup v2's cpu.max and cpu.weight.
func readCPU(t *testing.T, path string) map[string]string {
	t.Helper()
	read := func(f string) string {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	var st syscall.Statfs_t
	if syscall.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == 0x63677270 {
		dir := filepath.Join("/sys/fs/cgroup", path)
		f := strings.Fields(read(filepath.Join(dir, "cpu.max")))
		// v2 has a weight where v1 has shares; runc converts one to the
		// other, so convert the weight back when it is the one 512 gives.
		shares := "weight " + read(filepath.Join(dir, "cpu.weight"))
		if shares == "weight "+strconv.Itoa(1+((512-2)*9999)/262142) {
			shares = "512"
		}
		return map[string]string{"quota": f[0], "period": f[1], "shares": shares}
	}
	dir := filepath.Join("/sys/fs/cgroup/cpu", path)
	return map[string]string{
		"quota":  read(filepath.Join(dir, "cpu.cfs_quota_us")),
		"period": read(filepath.Join(dir, "cpu.cfs_period_us")),
		"shares": read(filepath.Join(dir, "cpu.shares")),
	}
}
