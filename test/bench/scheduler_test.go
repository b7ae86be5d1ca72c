package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// Sizes of BenchmarkScheduler, from the environment (make bench-scheduler
// sets them from NODES, PODS and PLACED); unset, a small run that keeps the
// harness from rotting in make test.
const (
	envSchedNodes    = "CLOUDMGR_BENCH_SCHED_NODES"
	envSchedPods     = "CLOUDMGR_BENCH_SCHED_PODS"
	envSchedPlaced   = "CLOUDMGR_BENCH_SCHED_PLACED"
	envSchedCreators = "CLOUDMGR_BENCH_SCHED_CREATORS"
	// envSchedWorkers is cloudd's --scheduler-workers.
	envSchedWorkers = "CLOUDMGR_BENCH_SCHED_WORKERS"
	// envSchedProfile names a file to write a CPU profile of cloudd to,
	// taken over the first seconds of the measured phase.
	envSchedProfile = "CLOUDMGR_BENCH_SCHED_CPUPROFILE"
	// nodesPerHypervisor: simulated nodes (VMs) per physical host.
	nodesPerHypervisor = 50
)

func envInt(b *testing.B, name string, def int) int {
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 0 {
		b.Fatalf("%s=%q: want a non-negative integer", name, v)
	}
	return n
}

// BenchmarkScheduler measures the scheduler as cloudd ships it: the cloudd
// binary (embedded etcd, API server, scheduler in-process acting through
// the HTTPS API) in a process of its own, so its peak memory and CPU are
// its own. It creates N Ready nodes over N/50 hypervisors (at least 4),
// each 32 cpu, 128Gi, 110 pods; has PLACED pods placed first; then
// creates M pods (100m cpu, 500Mi, as kube-scheduler's SchedulingBasic)
// from several concurrent creators, and follows a watch of pods: each
// pod's latency is from its creation to its binding as the watch shows
// them; throughput is pods bound per second (average over the run, and the
// p50/p99 of one-second samples). The scenario runs once whatever b.N is.
func BenchmarkScheduler(b *testing.B) {
	nodes := envInt(b, envSchedNodes, 100)
	pods := envInt(b, envSchedPods, 200)
	placed := envInt(b, envSchedPlaced, 50)
	creators := envInt(b, envSchedCreators, 16)
	workers := envInt(b, envSchedWorkers, 64)
	if nodes < 1 || pods < 1 || creators < 1 || workers < 1 {
		b.Fatalf("need at least one node, pod, creator and worker (%d, %d, %d, %d)", nodes, pods, creators, workers)
	}
	bin, err := test.Binaries("cloudd")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	port, err := test.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	cloudd, err := test.StartCloudd(bin, dir, addr, "--scheduler=true", fmt.Sprintf("--scheduler-workers=%d", workers), "--max-requests-inflight=2000")
	if err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cloudd.Stop(syscall.SIGTERM) }()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := cloudd.WaitReady(ctx, 2*time.Minute); err != nil {
		b.Fatal(err)
	}
	cfg := adminConfig(b, dir)
	newClient := func() *client.Client {
		c, err := client.New(cfg, api.NewScheme())
		if err != nil {
			b.Fatal(err)
		}
		return c
	}
	admin := newClient()

	hypervisors := max(4, (nodes+nodesPerHypervisor-1)/nodesPerHypervisor)
	start := time.Now()
	nodeAPI := client.For[api.Node](admin)
	if _, err := run(nodes, 16, func(i int) error {
		_, err := nodeAPI.Create(ctx, benchNode(i-1, hypervisors))
		return err
	}); err != nil {
		b.Fatalf("create nodes: %v", err)
	}
	b.Logf("%d nodes over %d hypervisors created in %s", nodes, hypervisors, time.Since(start).Round(time.Millisecond))

	// Each creator has its own connection, as separate clients would, and
	// sends bodies encoded beforehand without decoding the answers, so
	// that the load generator takes as little of the shared CPU as it can.
	podClients := make([]*client.Client, creators)
	for i := range podClients {
		podClients[i] = newClient()
	}
	createPods := func(prefix string, n int) error {
		bodies := make([][]byte, n)
		for i := range bodies {
			bodies[i], _ = json.Marshal(benchPod(fmt.Sprintf("%s-%d", prefix, i+1)))
		}
		_, err := run(n, creators, func(i int) error {
			return podClients[i%creators].Do(ctx, http.MethodPost, "/api/v1/namespaces/default/pods", nil, bodies[i-1], nil)
		})
		return err
	}
	timeout := 2*time.Minute + time.Duration(nodes+pods+placed)*20*time.Millisecond

	if placed > 0 {
		w := watchPods(ctx, b, admin, cfg, "init-")
		start = time.Now()
		if err := createPods("init", placed); err != nil {
			b.Fatalf("create placed pods: %v", err)
		}
		if err := w.waitBound(placed, timeout); err != nil {
			b.Fatal(err)
		}
		w.stop()
		b.Logf("%d pods placed first in %s", placed, time.Since(start).Round(time.Millisecond))
	}

	w := watchPods(ctx, b, admin, cfg, "pod-")
	ticks0, err := cpuTicks(cloudd.Cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}
	self0, err := cpuTicks(os.Getpid())
	if err != nil {
		b.Fatal(err)
	}
	var profileDone chan struct{}
	if path := os.Getenv(envSchedProfile); path != "" {
		profileDone = make(chan struct{})
		go func() {
			defer close(profileDone)
			if err := fetchProfile(ctx, cfg, path, 10); err != nil {
				b.Errorf("cpu profile: %v", err)
			}
		}()
	}
	start = time.Now()
	if err := createPods("pod", pods); err != nil {
		b.Fatalf("create pods: %v", err)
	}
	created := time.Since(start)
	if err := w.waitBound(pods, timeout); err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(start)
	ticks1, _ := cpuTicks(cloudd.Cmd.Process.Pid)
	self1, _ := cpuTicks(os.Getpid())
	w.stop()
	if profileDone != nil {
		<-profileDone
	}
	peak, err := peakRSSKiB(cloudd.Cmd.Process.Pid)
	if err != nil {
		b.Fatal(err)
	}

	st := w.stats()
	cores := float64(ticks1-ticks0) / clockTicks / elapsed.Seconds()
	benchCores := float64(self1-self0) / clockTicks / elapsed.Seconds()
	b.ReportMetric(st.average, "pods/s")
	b.ReportMetric(st.perSecondP50, "pods/s-p50")
	b.ReportMetric(st.perSecondP99, "pods/s-p99")
	b.ReportMetric(float64(st.latencyP50.Microseconds())/1000, "latency-p50-ms")
	b.ReportMetric(float64(st.latencyP99.Microseconds())/1000, "latency-p99-ms")
	b.ReportMetric(float64(peak)/1024, "cloudd-peak-rss-MiB")
	b.ReportMetric(cores, "cloudd-cores")
	b.ReportMetric(benchCores, "loadgen-cores")
	fmt.Printf("scheduler: %d nodes (%d hypervisors), %d pods placed first, %d pods from %d creators, %d binding workers (created in %s, all bound in %s)\n",
		nodes, hypervisors, placed, pods, creators, workers, created.Round(time.Millisecond), elapsed.Round(time.Millisecond))
	fmt.Printf("scheduler: throughput average %.0f pods/s, per-second samples p50 %.0f p99 %.0f (%d samples); latency created->bound p50 %.1f ms p99 %.1f ms max %.1f ms; cloudd peak RSS %.0f MiB, %.2f cores (load generator %.2f cores)\n",
		st.average, st.perSecondP50, st.perSecondP99, st.samples, ms(st.latencyP50), ms(st.latencyP99), ms(st.latencyMax), float64(peak)/1024, cores, benchCores)
	if inside, err := schedulerMetrics(ctx, cfg); err != nil {
		b.Errorf("scheduler metrics: %v", err)
	} else {
		fmt.Printf("scheduler: inside cloudd: %s\n", inside)
	}
	fmt.Printf("scheduler: %.0f pods/s, p99 %.0f ms, %d nodes, %d pods\n", st.average, ms(st.latencyP99), nodes, pods)
}

// schedulerMetrics reads cloudd's /metrics and describes the scheduler's
// histograms over the whole run (the pods placed first included): queue to
// bound (e2e), one cycle's filtering and scoring (algorithm), and the
// binding write, each as its mean and the upper bounds of the buckets
// holding p50 and p99.
func schedulerMetrics(ctx context.Context, cfg client.Config) (string, error) {
	fams, err := fetchMetrics(ctx, cfg)
	if err != nil {
		return "", err
	}
	var parts []string
	for _, h := range []struct{ name, label string }{
		{"scheduler_e2e_scheduling_duration_seconds", "queued->bound"},
		{"scheduler_scheduling_algorithm_duration_seconds", "cycle"},
		{"scheduler_binding_duration_seconds", "binding write"},
	} {
		f := fams[h.name]
		if f == nil || len(f.GetMetric()) == 0 || f.GetMetric()[0].GetHistogram() == nil {
			return "", fmt.Errorf("no histogram %s", h.name)
		}
		hist := f.GetMetric()[0].GetHistogram()
		n := float64(hist.GetSampleCount())
		if n == 0 {
			continue
		}
		quantile := func(q float64) string {
			for _, bk := range hist.GetBucket() {
				if float64(bk.GetCumulativeCount()) >= q*n {
					return fmt.Sprintf("<=%gms", bk.GetUpperBound()*1000)
				}
			}
			return "beyond the last bucket"
		}
		parts = append(parts, fmt.Sprintf("%s mean %.2f ms, p50 %s, p99 %s", h.label, hist.GetSampleSum()/n*1000, quantile(0.5), quantile(0.99)))
	}
	return strings.Join(parts, "; "), nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// adminConfig reads DATA-DIR/admin.yaml.
func adminConfig(b *testing.B, dir string) client.Config {
	f, err := client.LoadConfigFile(filepath.Join(dir, "admin.yaml"))
	if err != nil {
		b.Fatal(err)
	}
	cur, err := f.Context("")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := cur.ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	return cfg
}

// benchNode is simulated node i: Ready, 32 cpu, 128Gi, 110 pods, on
// hypervisor i%hypervisors, in one of three zones.
func benchNode(i, hypervisors int) *api.Node {
	hv := i % hypervisors
	name := fmt.Sprintf("node-%05d", i)
	alloc := api.ResourceList{api.ResourceCPU: api.MustParseQuantity("32"), api.ResourceMemory: api.MustParseQuantity("128Gi"),
		api.ResourcePods: api.MustParseQuantity("110")}
	return &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{
			api.LabelHostname: name, api.LabelHypervisor: fmt.Sprintf("hv-%03d", hv), api.LabelZone: fmt.Sprintf("zone-%d", hv%3)}},
		Status: api.NodeStatus{Capacity: alloc, Allocatable: alloc,
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, LastHeartbeatTime: api.Now()}}},
	}
}

func benchPod(name string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "bench"}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox:1.36",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("100m"), api.ResourceMemory: api.MustParseQuantity("500Mi")}}}}},
	}
}

// podWatch follows the pods whose name has a prefix through a raw watch,
// decoding only name and node, and records when each was created and when
// it was bound.
type podWatch struct {
	prefix string
	body   io.ReadCloser
	done   chan struct{}

	mu      sync.Mutex
	added   map[string]time.Time
	bound   map[string]time.Time
	changed chan struct{}
	err     error
}

type watchLine struct {
	Type   string `json:"type"`
	Object struct {
		Metadata struct {
			Name string `json:"name"`
		} `json:"metadata"`
		Spec struct {
			NodeName string `json:"nodeName"`
		} `json:"spec"`
	} `json:"object"`
}

func watchPods(ctx context.Context, b *testing.B, c *client.Client, cfg client.Config, prefix string) *podWatch {
	_, rv, err := client.For[api.Pod](c).List(ctx, "default", client.ListOptions{LabelSelector: "app=none"})
	if err != nil {
		b.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cfg.CAData)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(ctx, "GET", cfg.Server+"/api/v1/namespaces/default/pods?watch=1&resourceVersion="+rv, nil)
	req.Header.Set("Authorization", "Bearer "+cfg.Token)
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != 200 {
		b.Fatalf("watch: %s", resp.Status)
	}
	w := &podWatch{prefix: prefix, body: resp.Body, done: make(chan struct{}), added: map[string]time.Time{}, bound: map[string]time.Time{}, changed: make(chan struct{}, 1)}
	go w.read()
	return w
}

func (w *podWatch) read() {
	defer close(w.done)
	r := bufio.NewReaderSize(w.body, 1<<20)
	for {
		line, err := r.ReadSlice('\n')
		if err != nil {
			w.mu.Lock()
			w.err = err
			w.mu.Unlock()
			return
		}
		now := time.Now()
		var ev watchLine
		if err := json.Unmarshal(line, &ev); err != nil {
			w.mu.Lock()
			w.err = fmt.Errorf("watch event: %w", err)
			w.mu.Unlock()
			return
		}
		name := ev.Object.Metadata.Name
		if !strings.HasPrefix(name, w.prefix) || ev.Type == "DELETED" {
			continue
		}
		w.mu.Lock()
		if _, ok := w.added[name]; !ok {
			w.added[name] = now
		}
		if _, ok := w.bound[name]; !ok && ev.Object.Spec.NodeName != "" {
			w.bound[name] = now
		}
		w.mu.Unlock()
		select {
		case w.changed <- struct{}{}:
		default:
		}
	}
}

func (w *podWatch) waitBound(n int, timeout time.Duration) error {
	t := time.NewTimer(timeout)
	defer t.Stop()
	for {
		w.mu.Lock()
		got, err := len(w.bound), w.err
		w.mu.Unlock()
		if got >= n {
			return nil
		}
		if err != nil {
			return fmt.Errorf("%d of %d pods bound when the watch ended: %w", got, n, err)
		}
		select {
		case <-w.changed:
		case <-t.C:
			return fmt.Errorf("%d of %d pods bound after %s", got, n, timeout)
		}
	}
}

func (w *podWatch) stop() {
	w.body.Close()
	<-w.done
}

type schedStats struct {
	average                            float64
	perSecondP50, perSecondP99         float64
	samples                            int
	latencyP50, latencyP99, latencyMax time.Duration
}

func (w *podWatch) stats() schedStats {
	w.mu.Lock()
	defer w.mu.Unlock()
	var first, last time.Time
	lat := make([]time.Duration, 0, len(w.bound))
	for name, t := range w.bound {
		a, ok := w.added[name]
		if !ok {
			continue
		}
		lat = append(lat, t.Sub(a))
		if first.IsZero() || a.Before(first) {
			first = a
		}
		if t.After(last) {
			last = t
		}
	}
	var st schedStats
	if len(lat) == 0 {
		return st
	}
	st.average = float64(len(lat)) / last.Sub(first).Seconds()
	st.latencyP50, st.latencyP99 = percentile(lat, 0.50), percentile(lat, 0.99)
	st.latencyMax = slices.Max(lat)
	// One-second samples from the first creation; the last, partial
	// second is left out when there are others.
	buckets := make([]float64, int(last.Sub(first)/time.Second)+1)
	for _, t := range w.bound {
		buckets[int(t.Sub(first)/time.Second)]++
	}
	if len(buckets) > 1 {
		buckets = buckets[:len(buckets)-1]
	}
	slices.Sort(buckets)
	st.samples = len(buckets)
	st.perSecondP50 = buckets[min(len(buckets)-1, len(buckets)/2)]
	st.perSecondP99 = buckets[min(len(buckets)-1, int(float64(len(buckets))*0.99))]
	return st
}

// fetchMetrics reads cloudd's /metrics as the admin.
func fetchMetrics(ctx context.Context, cfg client.Config) (map[string]*dto.MetricFamily, error) {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cfg.CAData)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(ctx, "GET", cfg.Server+"/metrics", nil)
	req.Header.Set("Authorization", "Bearer "+cfg.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("/metrics: %s", resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	return parser.TextToMetricFamilies(resp.Body)
}

// fetchProfile saves a CPU profile of cloudd over seconds.
func fetchProfile(ctx context.Context, cfg client.Config, path string, seconds int) error {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(cfg.CAData)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	req, _ := http.NewRequestWithContext(ctx, "GET", fmt.Sprintf("%s/debug/pprof/profile?seconds=%d", cfg.Server, seconds), nil)
	req.Header.Set("Authorization", "Bearer "+cfg.Token)
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("profile: %s", resp.Status)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// peakRSSKiB returns VmHWM (the largest resident set so far) of pid in KiB.
func peakRSSKiB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			return strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		}
	}
	return 0, fmt.Errorf("/proc/%d/status: no VmHWM", pid)
}
