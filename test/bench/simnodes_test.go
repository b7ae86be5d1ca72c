package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// Sizes of BenchmarkSimNodes, from the environment (make bench-sim sets
// them); unset, a small run that keeps the harness from rotting in make
// test.
const (
	envSimNodes = "CLOUDMGR_BENCH_SIM_NODES"
	// envSimWindow is the steady-state window in seconds.
	envSimWindow = "CLOUDMGR_BENCH_SIM_WINDOW"
	// envSimHeartbeat is the simulated nodes' heartbeat in seconds.
	envSimHeartbeat = "CLOUDMGR_BENCH_SIM_HEARTBEAT"
	// envSimProfile names a file to keep the steady state's CPU profile of
	// cloudd in.
	envSimProfile = "CLOUDMGR_BENCH_SIM_CPUPROFILE"
)

// BenchmarkSimNodes grows a NodePool of the simulator (providers/sim,
// declared in cloudd's config file) to N nodes: cloudd, in its own
// process, runs the API server over embedded etcd, the controllers that
// create N Machines with a join token each, and the simulator, whose N
// simulated nodes join through the API server with those tokens as
// cloudlet does and then renew their leases every heartbeat. It reports
// the time from the scale request to all N nodes Ready (and to half of
// them), then over a steady-state window: lease renewals (heartbeat
// writes) handled per second, cloudd's CPU in cores and resident memory,
// and, from a CPU profile whose samples the simulator labels, the share
// of that CPU that is the simulator's rather than the control plane's.
func BenchmarkSimNodes(b *testing.B) {
	nodes := envInt(b, envSimNodes, 50)
	window := time.Duration(envInt(b, envSimWindow, 5)) * time.Second
	heartbeat := time.Duration(envInt(b, envSimHeartbeat, 10)) * time.Second
	for range b.N {
		func() {
			cd, cfg, c, stop := simCloudd(b, nodes, heartbeat)
			defer stop()
			ctx := context.Background()
			pools := client.For[api.NodePool](c)
			n := int32(nodes)
			start := time.Now()
			if _, err := pools.Create(ctx, &api.NodePool{ObjectMeta: api.ObjectMeta{Name: "sim"}, Spec: api.NodePoolSpec{
				Provider: "sim", VCPUs: 1, Memory: api.MustParseQuantity("512Mi"), Replicas: &n, MaxSize: n}}); err != nil {
				b.Fatal(err)
			}
			var half time.Duration
			deadline := start.Add(time.Duration(nodes)*20*time.Millisecond + 3*time.Minute)
			for {
				p, err := pools.Get(ctx, "", "sim")
				if err != nil {
					b.Fatal(err)
				}
				if half == 0 && int(p.Status.ReadyNodes) >= nodes/2 {
					half = time.Since(start)
				}
				if int(p.Status.ReadyNodes) == nodes {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d nodes Ready after %s", p.Status.ReadyNodes, nodes, time.Since(start).Round(time.Second))
				}
				time.Sleep(500 * time.Millisecond)
			}
			allReady := time.Since(start)
			b.Logf("%d simulated nodes Ready %s after the scale request (half of them after %s)", nodes, allReady.Round(10*time.Millisecond), half.Round(10*time.Millisecond))

			// Steady state: leases only (the first status rewrite of each
			// node falls a minute after it joined, outside a short window).
			time.Sleep(min(heartbeat, 10*time.Second))
			pid := cd.Cmd.Process.Pid
			leases0, err := leaseUpdates(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			profile := filepath.Join(b.TempDir(), "cpu.pprof")
			profErr := make(chan error, 1)
			go func() { profErr <- fetchProfile(ctx, cfg, profile, int(window.Seconds())) }()
			t0 := time.Now()
			cores, rssMiB, err := sampleProcess(pid, window, nil)
			if err != nil {
				b.Fatal(err)
			}
			leases1, err := leaseUpdates(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			writes := (leases1 - leases0) / time.Since(t0).Seconds()
			if err := <-profErr; err != nil {
				b.Fatal(err)
			}
			simShare, err := labelledShare(profile, "cloudmgr", "simulator")
			if err != nil {
				b.Fatal(err)
			}
			if keep := os.Getenv(envSimProfile); keep != "" {
				if data, err := os.ReadFile(profile); err == nil {
					_ = os.WriteFile(keep, data, 0o644)
				}
			}
			b.Logf("steady state over %s: %.0f lease renewals/s handled (%d nodes every %s: %.0f expected); cloudd %.2f cores, RSS %.0f MiB; the simulator's share of the CPU profile %.0f%%, so the control plane's own CPU %.2f cores",
				window, writes, nodes, heartbeat, float64(nodes)/heartbeat.Seconds(), cores, rssMiB, simShare*100, cores*(1-simShare))
			b.ReportMetric(allReady.Seconds(), "s-to-all-ready")
			b.ReportMetric(half.Seconds(), "s-to-half-ready")
			b.ReportMetric(writes, "heartbeats/s")
			b.ReportMetric(cores, "cloudd-cores")
			b.ReportMetric(cores*(1-simShare), "control-plane-cores")
			b.ReportMetric(rssMiB, "cloudd-MiB")
		}()
	}
}

// simCloudd starts cloudd (its own process) with a simulated cloud named
// "sim" big enough for nodes 1-vCPU nodes whose agents beat every
// heartbeat, waits until it is ready and returns its admin config and
// client, and stop.
func simCloudd(b *testing.B, nodes int, heartbeat time.Duration, flags ...string) (*test.Cloudd, client.Config, *client.Client, func()) {
	b.Helper()
	bin, err := test.Binaries("cloudd")
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	cfgPath := filepath.Join(dir, "cloudd.yaml")
	hosts := max(1, nodes/50)
	if err := os.WriteFile(cfgPath, []byte(fmt.Sprintf(`providers:
  sim:
    cloud: true
    hosts: [{name: rack, cpus: 64, memoryMiB: 262144, count: %d}]
    heartbeatInterval: %s
    cpuUsage: 0.3
`, hosts, heartbeat)), 0o600); err != nil {
		b.Fatal(err)
	}
	port, err := test.FreePort()
	if err != nil {
		b.Fatal(err)
	}
	args := append([]string{"--config", cfgPath, "--log-level", "warn", "--max-requests-inflight=2000"}, flags...)
	cd, err := test.StartCloudd(bin, dir, fmt.Sprintf("127.0.0.1:%d", port), args...)
	if err != nil {
		b.Fatal(err)
	}
	stop := func() { _ = cd.Stop(syscall.SIGTERM) }
	if err := cd.WaitReady(context.Background(), 2*time.Minute); err != nil {
		stop()
		b.Fatal(err)
	}
	cfg := adminConfig(b, dir)
	c, err := client.New(cfg, api.NewScheme())
	if err != nil {
		stop()
		b.Fatal(err)
	}
	return cd, cfg, c, stop
}

// leaseUpdates is cloudd's count of successful lease updates so far
// (apiserver_request_total{verb="update",resource="leases",code="200"}).
func leaseUpdates(ctx context.Context, cfg client.Config) (float64, error) {
	fams, err := fetchMetrics(ctx, cfg)
	if err != nil {
		return 0, err
	}
	f := fams["apiserver_request_total"]
	if f == nil {
		return 0, fmt.Errorf("/metrics: no apiserver_request_total")
	}
	total := 0.0
	for _, m := range f.GetMetric() {
		labels := map[string]string{}
		for _, l := range m.GetLabel() {
			labels[l.GetName()] = l.GetValue()
		}
		if labels["verb"] == "update" && labels["resource"] == "leases" && labels["code"] == "200" {
			total += m.GetCounter().GetValue()
		}
	}
	return total, nil
}

var (
	pprofTotal = regexp.MustCompile(`of ([0-9.]+)(ms|s|us|ns|min|h) total`)
	pprofTag   = regexp.MustCompile(`^\s*([0-9.]+)(ms|s|us|ns|min|h) \(\s*[0-9.]+%\): (\S+)\s*$`)
)

// labelledShare is the fraction of the CPU profile's samples that carry
// the pprof label key=value, read with `go tool pprof`.
func labelledShare(profile, key, value string) (float64, error) {
	top, err := exec.Command("go", "tool", "pprof", "-top", "-nodecount=1", profile).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("go tool pprof -top: %v: %s", err, top)
	}
	m := pprofTotal.FindSubmatch(top)
	if m == nil {
		return 0, fmt.Errorf("go tool pprof -top: no total in:\n%s", top)
	}
	total := pprofDuration(string(m[1]), string(m[2]))
	tags, err := exec.Command("go", "tool", "pprof", "-tags", "-tagfocus="+key+"="+value, profile).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("go tool pprof -tags: %v: %s", err, tags)
	}
	labelled := 0.0
	inKey := false
	for _, line := range strings.Split(string(tags), "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), key+":") {
			inKey = true
			continue
		}
		if inKey {
			if t := pprofTag.FindStringSubmatch(line); t != nil {
				if t[3] == value {
					labelled += pprofDuration(t[1], t[2])
				}
				continue
			}
			inKey = false
		}
	}
	if total == 0 {
		return 0, fmt.Errorf("an empty CPU profile")
	}
	return labelled / total, nil
}

// pprofDuration is a pprof value with its unit, in seconds.
func pprofDuration(v, unit string) float64 {
	f, _ := strconv.ParseFloat(v, 64)
	scale := map[string]float64{"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1, "min": 60, "h": 3600}[unit]
	return f * scale
}
