package containerd

import (
	"context"
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
	first := statsByID(t, rt, ctx)
	const window = 5 * time.Second
	time.Sleep(window)
	second := statsByID(t, rt, ctx)

	cores := func(id string) float64 {
		a, b := first[id], second[id]
		return float64(b.CPUUsageNanos-a.CPUUsageNanos) / float64(b.Timestamp.Sub(a.Timestamp).Nanoseconds())
	}
	if c := cores(busy); c < 0.35 || c > 0.6 {
		t.Errorf("busy loop capped at 500m used %.3f cores, want 0.35..0.6", c)
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
	t.Logf("busy %.3f cores, idle %.4f cores, mem working set %.1f MiB", cores(busy), cores(idle), float64(ws)/(1<<20))

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
