package containerd

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/caas"
)

// TestStatsFromCgroups runs a CPU-bound container capped at half a core, an
// idle one and one holding 48 MiB in tmpfs, and checks what Stats reads
// from their cgroups over a window of several seconds.
func TestStatsFromCgroups(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := testContext(t)
	if _, err := rt.EnsureImage(ctx, testImage(), false, nil); err != nil {
		t.Fatal(err)
	}
	p := pod(t, rt, ctx)
	start := func(name string, cmd ...string) string {
		s := p
		s.Name, s.Command = name, cmd
		if name == "busy" {
			s.CPUQuota, s.CPUPeriod = 50000, 100000 // 500m
		}
		id, err := rt.StartContainer(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	busy := start("busy", "sh", "-c", "while :; do :; done")
	idle := start("idle", "sleep", "1000")
	// /dev/shm is a tmpfs of 64 MiB in the default spec; its pages are
	// charged to the writer's memory cgroup and are not file pages, so
	// they count in the working set.
	mem := start("mem", "sh", "-c", "dd if=/dev/zero of=/dev/shm/fill bs=1M count=48 && sleep 1000")

	time.Sleep(time.Second) // let dd finish and the loop get going
	pid := taskPid(t, rt, ctx, busy)
	host := caas.ProcHostStats{}
	h1, p1 := readHost(t, host), procCPUNanos(t, pid)
	first := statsByID(t, rt, ctx)
	const window = 5 * time.Second
	time.Sleep(window)
	second := statsByID(t, rt, ctx)
	h2, p2 := readHost(t, host), procCPUNanos(t, pid)

	cores := func(id string) float64 {
		a, b := first[id], second[id]
		return float64(b.CPUUsageNanos-a.CPUUsageNanos) / float64(b.Timestamp.Sub(a.Timestamp).Nanoseconds())
	}
	// The figure must be what the process really used, by the kernel's
	// own per-process account (/proc/PID/stat, independent of cgroups);
	// and the limit holds. It reaches 0.5 unless other work on this
	// shared machine left the container less than that.
	truth := float64(p2-p1) / float64(h2.Timestamp.Sub(h1.Timestamp).Nanoseconds())
	hostCores := float64(h2.CPUBusyNanos-h1.CPUBusyNanos) / float64(h2.Timestamp.Sub(h1.Timestamp).Nanoseconds())
	c := cores(busy)
	if c < truth-0.05 || c > truth+0.05 {
		t.Errorf("busy container measured at %.3f cores; its process used %.3f by /proc", c, truth)
	}
	if c > 0.6 {
		t.Errorf("busy loop capped at 500m measured at %.3f cores, above its limit", c)
	}
	if saturated := hostCores >= float64(runtime.NumCPU())-0.3; !saturated && c < 0.35 {
		t.Errorf("busy loop capped at 500m used %.3f cores on a machine with room (%.2f cores busy), want 0.35..0.6", c, hostCores)
	} else if saturated {
		t.Logf("machine saturated (%.2f cores busy): checked against /proc only", hostCores)
	}
	if c := cores(idle); c > 0.02 {
		t.Errorf("sleeping container used %.3f cores, want about 0", c)
	}
	ws := second[mem].MemoryWorkingSetBytes
	if ws < 47<<20 || ws > 60<<20 {
		t.Errorf("container holding 48 MiB in tmpfs has working set %.1f MiB, want 47..60", float64(ws)/(1<<20))
	}
	if ws := second[idle].MemoryWorkingSetBytes; ws == 0 || ws > 8<<20 {
		t.Errorf("sleeping container's working set %d bytes, want above 0 and below 8 MiB", ws)
	}
	st := second[busy]
	if st.PodUID != p.PodUID || st.PodNamespace != p.PodNamespace || st.PodName != p.PodName || st.Name != "busy" {
		t.Errorf("busy container's identity %+v, want pod %s/%s (%s) container busy", st, p.PodNamespace, p.PodName, p.PodUID)
	}
	t.Logf("busy %.3f cores (/proc: %.3f), idle %.4f cores, mem working set %.1f MiB", c, truth, cores(idle), float64(ws)/(1<<20))

	// An exited container is left out.
	if err := rt.StopContainer(ctx, idle, time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ok := statsByID(t, rt, ctx)[idle]; ok {
		t.Errorf("stopped container %s still has stats", idle)
	}
}

func statsByID(t *testing.T, rt *Runtime, ctx context.Context) map[string]caas.ContainerStats {
	t.Helper()
	list, err := rt.Stats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]caas.ContainerStats{}
	for _, s := range list {
		out[s.ID] = s
	}
	if len(out) == 0 {
		t.Fatal("Stats returned no container")
	}
	return out
}

func readHost(t *testing.T, h caas.ProcHostStats) caas.HostSample {
	t.Helper()
	s, err := h.ReadHost()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// taskPid is the host PID of a container's process.
func taskPid(t *testing.T, rt *Runtime, ctx context.Context, id string) uint32 {
	t.Helper()
	c, err := rt.client.LoadContainer(rt.ctx(ctx), id)
	if err != nil {
		t.Fatal(err)
	}
	task, err := c.Task(rt.ctx(ctx), nil)
	if err != nil {
		t.Fatal(err)
	}
	return task.Pid()
}

// procCPUNanos is a process's user and system time from /proc/PID/stat
// (in 1/100 s ticks).
func procCPUNanos(t *testing.T, pid uint32) uint64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// Fields after "pid (comm)": state is the first, utime the 12th, stime the 13th.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	utime, err1 := strconv.ParseUint(f[11], 10, 64)
	stime, err2 := strconv.ParseUint(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("/proc/%d/stat: %v %v", pid, err1, err2)
	}
	return (utime + stime) * uint64(10*time.Millisecond)
}
