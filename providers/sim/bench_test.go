package sim_test

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/providers/sim"
)

// Benchmark sizes: go test -bench . -sim.nodes 5000 -sim.heartbeat 10s.
var (
	benchNodes     = flag.Int("sim.nodes", 0, "simulated nodes in BenchmarkJoin (besides 100 and 1000) and BenchmarkHeartbeats (instead of 1000)")
	benchHeartbeat = flag.Duration("sim.heartbeat", 2*time.Second, "heartbeat interval in BenchmarkHeartbeats (measured over two intervals)")
)

// cpuTime is the CPU time this process (API server, etcd and simulated
// nodes alike) has used.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// registered counts the simulated nodes that have joined and registered,
// and their heartbeats.
func registered(p *sim.Provider) (nodes, heartbeats int) {
	for _, n := range p.Nodes() {
		if n.Registered {
			nodes++
		}
		heartbeats += n.Heartbeats
	}
	return nodes, heartbeats
}

// joinAll creates n machines whose simulated nodes join env, and waits
// until all registered. Tokens are minted before the timer runs. It
// returns the CPU time the process used meanwhile.
func joinAll(b *testing.B, env *apiservertest.Env, p *sim.Provider, prefix string, n int) time.Duration {
	b.Helper()
	b.StopTimer()
	specs := make([]iaas.MachineSpec, n)
	for i := range n {
		name := fmt.Sprintf("%s-%d", prefix, i)
		drive, _ := bootstrap(b, env, name)
		specs[i] = iaas.MachineSpec{Name: name, CPUs: 4, MemoryMiB: 8192, ConfigDrive: drive}
	}
	b.StartTimer()
	c0 := cpuTime()
	for _, s := range specs {
		if _, err := p.Create(context.Background(), s); err != nil {
			b.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Minute)
	for {
		if got, _ := registered(p); got == n {
			return cpuTime() - c0
		}
		if time.Now().After(deadline) {
			got, _ := registered(p)
			b.Fatalf("%d of %d simulated nodes registered after 5 minutes", got, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// BenchmarkJoin: N simulated nodes join a real API server (join token
// exchange, Node labels, status, lease) through one shared transport.
// ns/node is the wall time per node; allocs/op and B/op count the whole
// process, API server and etcd included.
func BenchmarkJoin(b *testing.B) {
	sizes := []int{100, 1000}
	if *benchNodes > 0 {
		sizes = append(sizes, *benchNodes)
	}
	for _, n := range sizes {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			env := apiservertest.Start(b, apiservertest.Options{})
			b.ReportAllocs()
			b.ResetTimer()
			var cpu time.Duration
			for i := range b.N {
				p, err := sim.New(sim.Config{Cloud: true, Hosts: []sim.Host{{Name: "h", CPUs: 1 << 20, MemoryMiB: 1 << 40}},
					HeartbeatInterval: 10 * time.Second, Watch: env.Scheduler, Logger: slog.New(slog.DiscardHandler)})
				if err != nil {
					b.Fatal(err)
				}
				cpu += joinAll(b, env, p, fmt.Sprintf("j%d", i), n)
				b.StopTimer()
				_ = p.Close()
				b.StartTimer()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/node")
			b.ReportMetric(float64(cpu.Microseconds())/float64(b.N*n), "cpu-µs/node")
		})
	}
}

// BenchmarkHeartbeats: N registered simulated nodes (1000, or -sim.nodes)
// heartbeating every -sim.heartbeat, measured over two intervals: lease
// writes per second the API server handled, and the process's CPU (cores
// busy: API server, etcd and simulated nodes together) and heap.
func BenchmarkHeartbeats(b *testing.B) {
	n := 1000
	if *benchNodes > 0 {
		n = *benchNodes
	}
	window := 2 * *benchHeartbeat
	env := apiservertest.Start(b, apiservertest.Options{})
	p, err := sim.New(sim.Config{Cloud: true, Hosts: []sim.Host{{Name: "h", CPUs: 1 << 20, MemoryMiB: 1 << 40}},
		HeartbeatInterval: *benchHeartbeat, Watch: env.Scheduler, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	joinAll(b, env, p, "hb", n)
	b.ResetTimer()
	var beats int
	var cpu, wall time.Duration
	for range b.N {
		_, h0 := registered(p)
		c0, t0 := cpuTime(), time.Now()
		time.Sleep(window)
		_, h1 := registered(p)
		beats += h1 - h0
		cpu += cpuTime() - c0
		wall += time.Since(t0)
	}
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(beats)/wall.Seconds(), "leases/s")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	b.ReportMetric(float64(ms.HeapInuse)/(1<<20), "heap-MiB")
}
