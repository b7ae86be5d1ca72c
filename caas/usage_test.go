package caas_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/caas"
)

// fakeHost is a hand-written HostStats. With step set, every read moves
// the clock by step and the busy counter by cores×step.
type fakeHost struct {
	mu    sync.Mutex
	s     caas.HostSample
	step  time.Duration
	cores float64
	err   error
}

func (h *fakeHost) ReadHost() (caas.HostSample, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err != nil {
		return caas.HostSample{}, h.err
	}
	if h.step > 0 {
		h.s.Timestamp = h.s.Timestamp.Add(h.step)
		h.s.CPUBusyNanos += uint64(h.cores * float64(h.step.Nanoseconds()))
	}
	return h.s, nil
}

func (h *fakeHost) set(at time.Time, busy, mem uint64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.s = caas.HostSample{Timestamp: at, CPUBusyNanos: busy, MemoryUsedBytes: mem}
}

func (f *fakeRuntime) setCounters(at time.Time, cpu, mem map[string]uint64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.clock = at
	for id, v := range cpu {
		f.cpuNanos[id] = v
	}
	for id, v := range mem {
		f.memBytes[id] = v
	}
}

func startFake(t *testing.T, rt *fakeRuntime, uid, ns, pod, name string) string {
	t.Helper()
	id, err := rt.StartContainer(context.Background(), caas.ContainerSpec{PodUID: uid, PodNamespace: ns, PodName: pod, Name: name})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func usageOf(t *testing.T, l api.ResourceList) (string, string) {
	t.Helper()
	return l.Cpu().String(), l.Memory().String()
}

// TestUsageRates: CPU cores are Δcpu/Δwall per container and for the
// machine; a counter that went back (restart), a window that went back and
// an impossible figure give no CPU figure (never a negative or huge one);
// the node's pod figure is the sum over pods.
func TestUsageRates(t *testing.T) {
	ctx := context.Background()
	rt, host := newFakeRuntime(), &fakeHost{}
	app := startFake(t, rt, "aaaaaaaa-0001", "team-a", "web", "app")
	side := startFake(t, rt, "aaaaaaaa-0001", "team-a", "web", "sidecar")
	db := startFake(t, rt, "bbbbbbbb-0002", "team-b", "db", "main")
	wild := startFake(t, rt, "cccccccc-0003", "team-b", "wild", "main")
	s := caas.NewUsageSampler(nil, rt, host, caas.UsageConfig{NodeName: "n1", MaxCores: 2}, nil)

	t0 := time.Unix(1_800_000_000, 0)
	host.set(t0, 100e9, 1<<30)
	rt.setCounters(t0, map[string]uint64{app: 1e9, side: 5e9, db: 10e9, wild: 1e9}, map[string]uint64{app: 64 << 20, side: 1 << 20, db: 100 << 20, wild: 1 << 20})
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	if u, p := s.NodeUsage(), s.PodMetrics(""); u != nil || len(p) != 0 {
		t.Fatalf("after one sample: node usage %+v, pods %+v; want none (no window yet)", u, p)
	}

	// 10s later: app used 5s (0.5 cores), sidecar 0.1s, db's counter went
	// back (restarted), wild claims 100 cores; the machine used 15s.
	t1 := t0.Add(10 * time.Second)
	host.set(t1, 115e9, 2<<30)
	rt.setCounters(t1, map[string]uint64{app: 6e9, side: 5.1e9, db: 2e9, wild: 1e12}, map[string]uint64{app: 80 << 20})
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	u := s.NodeUsage()
	if u == nil {
		t.Fatal("no node usage after two samples")
	}
	if cpu, mem := usageOf(t, u.Node); cpu != "1500m" || mem != "2Gi" {
		t.Errorf("node usage cpu %s memory %s, want 1500m 2Gi", cpu, mem)
	}
	if cpu, mem := usageOf(t, u.Pods); cpu != "510m" || mem != "81Mi" {
		t.Errorf("pods usage cpu %s memory %s, want 510m 81Mi (app and sidecar only)", cpu, mem)
	}
	if u.WindowSeconds != 10 || !u.Timestamp.Equal(t1) {
		t.Errorf("window %vs ending %s, want 10s ending %s", u.WindowSeconds, u.Timestamp, t1)
	}
	pods := s.PodMetrics("")
	if len(pods) != 1 || pods[0].Name != "web" || pods[0].Namespace != "team-a" || len(pods[0].Containers) != 2 {
		t.Fatalf("pods %+v, want only team-a/web with two containers", pods)
	}
	c := pods[0].Containers
	if c[0].Name != "app" || c[0].Usage.Cpu().String() != "500m" || c[0].Usage.Memory().String() != "80Mi" ||
		c[1].Name != "sidecar" || c[1].Usage.Cpu().String() != "10m" {
		t.Errorf("containers %+v, want app 500m 80Mi and sidecar 10m", c)
	}
	if pods[0].Window.Duration != 10*time.Second || pods[0].Kind != api.KindPodMetrics || pods[0].APIVersion != api.APIVersionMetrics {
		t.Errorf("pod metrics %+v: want window 10s, kind %s/%s", pods[0], api.APIVersionMetrics, api.KindPodMetrics)
	}

	// Next window: db counts again from its new baseline; the sidecar
	// has stopped and drops out; the container clock going back gives
	// no figure; the host figure is 0 when idle.
	if err := rt.StopContainer(ctx, side, 0); err != nil {
		t.Fatal(err)
	}
	t2 := t1.Add(10 * time.Second)
	host.set(t2, 115e9, 2<<30)
	rt.setCounters(t2, map[string]uint64{app: 6e9, db: 4.5e9, wild: 1e12 + 1e9}, nil)
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, p := range s.PodMetrics("") {
		for _, c := range p.Containers {
			got[p.Namespace+"/"+p.Name+"/"+c.Name] = c.Usage.Cpu().String()
		}
	}
	want := map[string]string{"team-a/web/app": "0", "team-b/db/main": "250m", "team-b/wild/main": "100m"}
	if len(got) != len(want) {
		t.Errorf("containers %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s cpu %q, want %q (all: %v)", k, got[k], v, got)
		}
	}
	if cpu, _ := usageOf(t, s.NodeUsage().Node); cpu != "0" {
		t.Errorf("idle machine cpu %s, want 0", cpu)
	}
	if p := s.PodMetrics("team-b"); len(p) != 2 || p[0].Name != "db" || p[1].Name != "wild" {
		t.Errorf("team-b pods %+v, want db and wild", p)
	}

	rt.setCounters(t1, map[string]uint64{app: 7e9, db: 5e9, wild: 1e12 + 2e9}, nil) // clock went back
	if err := s.Sample(ctx); err != nil {
		t.Fatal(err)
	}
	if p := s.PodMetrics(""); len(p) != 0 {
		t.Errorf("a window that went back gave figures %+v", p)
	}

	rt.statsErr = errors.New("containerd gone")
	if err := s.Sample(ctx); err == nil {
		t.Error("Sample hid the runtime's error")
	}
}

// TestProcHostStats reads /proc-format files: busy time is user, nice,
// system, irq, softirq and steal in 1/100 s ticks; memory used is
// MemTotal − MemAvailable. Malformed files are errors naming the field.
func TestProcHostStats(t *testing.T) {
	dir := t.TempDir()
	write := func(name, data string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("stat", "cpu  100 20 30 5000 70 1 2 3 0 0\ncpu0 50 10 15 2500 35 1 1 2 0 0\nintr 1\n")
	write("meminfo", "MemTotal:       2048 kB\nMemFree:         100 kB\nMemAvailable:    512 kB\n")
	h, err := caas.ProcHostStats{ProcDir: dir}.ReadHost()
	if err != nil {
		t.Fatal(err)
	}
	if want := uint64(100+20+30+1+2+3) * 10_000_000; h.CPUBusyNanos != want || h.MemoryUsedBytes != 1536*1024 {
		t.Errorf("read %+v, want busy %d ns and 1536 KiB used", h, want)
	}
	write("stat", "cpu  100 x 30 5000\n")
	if _, err := (caas.ProcHostStats{ProcDir: dir}).ReadHost(); err == nil {
		t.Error("malformed /proc/stat accepted")
	}
	write("stat", "cpu  1 2 3 4\n")
	write("meminfo", "MemTotal: 2048 kB\n")
	if _, err := (caas.ProcHostStats{ProcDir: dir}).ReadHost(); err == nil {
		t.Error("meminfo without MemAvailable accepted")
	}

	real, err := caas.ProcHostStats{}.ReadHost()
	if err != nil || real.CPUBusyNanos == 0 || real.MemoryUsedBytes == 0 {
		t.Errorf("this machine's /proc: %+v, %v", real, err)
	}
}

// TestUsageWrittenBesideConditions: the sampler and the NodeAgent both
// write the Node's status through the real API server, often; neither
// loses the other's fields.
func TestUsageWrittenBesideConditions(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	c := joinedClient(t, env, "worker-u")
	rt := newFakeRuntime()
	agent, err := caas.NewNodeAgent(c, caas.NodeConfig{Name: "worker-u", StateDir: t.TempDir(),
		HeartbeatInterval: 20 * time.Millisecond, StatusEvery: time.Nanosecond}, caas.VersionProbe{Runtime: rt}, nil)
	if err != nil {
		t.Fatal(err)
	}
	host := &fakeHost{step: time.Second, cores: 0.75}
	host.set(time.Unix(1_800_000_000, 0), 0, 300<<20)
	sampler := caas.NewUsageSampler(c, rt, host, caas.UsageConfig{NodeName: "worker-u", Interval: 20 * time.Millisecond}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = agent.Run(ctx) }()
	go func() { defer wg.Done(); _ = sampler.Run(ctx) }()
	t.Cleanup(func() { cancel(); wg.Wait() })

	n := waitNode(t, env.Admin, "worker-u", "usage and conditions", func(n *api.Node) bool {
		return n.Status.Usage != nil && len(n.Status.Conditions) == 3
	})
	if cpu, mem := usageOf(t, n.Status.Usage.Node); cpu != "750m" || mem != "300Mi" || n.Status.Usage.WindowSeconds != 1 {
		t.Errorf("node usage %+v, want cpu 750m memory 300Mi over 1s", n.Status.Usage)
	}
	// From now on every read must show both writers' fields.
	deadline := time.Now().Add(time.Second)
	reads := 0
	for time.Now().Before(deadline) {
		n := waitNode(t, env.Admin, "worker-u", "node", func(*api.Node) bool { return true })
		if n.Status.Usage == nil || len(n.Status.Conditions) != 3 || n.Status.Allocatable.Cpu().IsZero() {
			t.Fatalf("read %d: status lost a writer's fields: usage %+v, %d conditions, allocatable %v", reads, n.Status.Usage, len(n.Status.Conditions), n.Status.Allocatable)
		}
		reads++
		time.Sleep(10 * time.Millisecond)
	}
	t.Logf("%d reads, each with usage and conditions", reads)
}
