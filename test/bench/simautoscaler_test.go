package bench

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// envSimPending is how many pods BenchmarkSimAutoscaler sends, one after
// the other, to a pool that has no room for them.
const envSimPending = "CLOUDMGR_BENCH_SIM_PENDING"

// BenchmarkSimAutoscaler: the node autoscaler in cloudd (its own process,
// default settings: a 5 s loop woken by pods marked unschedulable) over
// CLOUDMGR_BENCH_SIM_NODES simulated nodes in 20 NodePools, plus an empty
// pool "burst". Pods that only the burst pool's template admits (a node
// selector), sent one at a time, are each marked unschedulable by the
// scheduler, get a new node from the autoscaler and run there. It reports
// pending pod to Running on its new node (p50/p99: the control plane's
// cost, the simulated machine boots at once) and, from cloudd's /metrics
// over that phase, the autoscaler's loop duration (mean) and its decision
// latency (pod marked unschedulable to the pool's replicas written, mean).
func BenchmarkSimAutoscaler(b *testing.B) {
	nodes := envInt(b, envSimNodes, 40)
	pending := envInt(b, envSimPending, 3)
	const pools = 20
	perPool := int32(max(1, nodes/pools))
	for range b.N {
		func() {
			_, cfg, c, stop := simCloudd(b, int(perPool)*pools+pending, 10*time.Second)
			defer stop()
			ctx := context.Background()
			nps := client.For[api.NodePool](c)
			start := time.Now()
			for i := range pools {
				n := perPool
				if _, err := nps.Create(ctx, &api.NodePool{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("pool-%02d", i)}, Spec: api.NodePoolSpec{
					Provider: "sim", VCPUs: 1, Memory: api.MustParseQuantity("512Mi"), Replicas: &n, MinSize: n, MaxSize: n + 5, Priority: int32(i)}}); err != nil {
					b.Fatal(err)
				}
			}
			want := perPool * pools
			deadline := start.Add(time.Duration(want)*20*time.Millisecond + 3*time.Minute)
			for {
				list, _, err := nps.List(ctx, "", client.ListOptions{})
				if err != nil {
					b.Fatal(err)
				}
				ready := int32(0)
				for _, p := range list {
					ready += p.Status.ReadyNodes
				}
				if ready == want {
					break
				}
				if time.Now().After(deadline) {
					b.Fatalf("%d of %d nodes Ready after %s", ready, want, time.Since(start).Round(time.Second))
				}
				time.Sleep(500 * time.Millisecond)
			}
			b.Logf("%d simulated nodes in %d pools Ready %s after the pools were created", want, pools, time.Since(start).Round(10*time.Millisecond))
			if _, err := nps.Create(ctx, &api.NodePool{ObjectMeta: api.ObjectMeta{Name: "burst"}, Spec: api.NodePoolSpec{
				Provider: "sim", VCPUs: 1, Memory: api.MustParseQuantity("512Mi"), MaxSize: int32(pending), Priority: pools}}); err != nil {
				b.Fatal(err)
			}
			before, err := fetchMetrics(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			pods := client.For[api.Pod](c)
			var samples []time.Duration
			for i := range pending {
				name := fmt.Sprintf("burst-%d", i)
				p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: api.PodSpec{
					NodeSelector: map[string]string{api.LabelNodePool: "burst"},
					Containers: []api.Container{{Name: "c", Image: "busybox",
						Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("600m")}}}}}}
				created := time.Now()
				if _, err := pods.Create(ctx, p); err != nil {
					b.Fatal(err)
				}
				for {
					got, err := pods.Get(ctx, "default", name)
					if err != nil {
						b.Fatal(err)
					}
					if got.Status.Phase == api.PodRunning {
						samples = append(samples, time.Since(created))
						break
					}
					if time.Since(created) > 2*time.Minute {
						b.Fatalf("pod %s not Running 2 minutes after its creation: %+v", name, got.Status)
					}
					time.Sleep(20 * time.Millisecond)
				}
			}
			after, err := fetchMetrics(ctx, cfg)
			if err != nil {
				b.Fatal(err)
			}
			loops, loopMean := histogramDelta(before, after, "cloud_autoscaler_loop_duration_seconds")
			decisions, latencyMean := histogramDelta(before, after, "cloud_autoscaler_decision_latency_seconds")
			slices.Sort(samples)
			p50, p99 := samples[len(samples)/2], samples[min(len(samples)-1, len(samples)*99/100)]
			b.Logf("%d pods, each needing a new node of the burst pool: pending to Running p50 %s, p99 %s; over that phase %d autoscaler loops of %.1f ms on average, %d scale-up decisions %.1f ms on average after the pod was marked",
				pending, p50.Round(time.Millisecond), p99.Round(time.Millisecond), loops, loopMean*1000, decisions, latencyMean*1000)
			b.ReportMetric(p50.Seconds(), "s-pending-to-running-p50")
			b.ReportMetric(p99.Seconds(), "s-pending-to-running-p99")
			b.ReportMetric(loopMean*1000, "ms/loop")
			b.ReportMetric(latencyMean*1000, "ms-decision-latency")
		}()
	}
}

// histogramDelta is the count of observations and their mean between two
// readings of a histogram (summed over its label sets).
func histogramDelta(before, after map[string]*dto.MetricFamily, name string) (int, float64) {
	sum := func(fams map[string]*dto.MetricFamily) (count uint64, total float64) {
		if f := fams[name]; f != nil {
			for _, m := range f.GetMetric() {
				count += m.GetHistogram().GetSampleCount()
				total += m.GetHistogram().GetSampleSum()
			}
		}
		return count, total
	}
	c0, s0 := sum(before)
	c1, s1 := sum(after)
	if c1 <= c0 {
		return 0, 0
	}
	return int(c1 - c0), (s1 - s0) / float64(c1-c0)
}
