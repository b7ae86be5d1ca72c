package autoscaler_test

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/autoscaler"
)

// createClock is a provider decorator that notes when Create is called,
// by machine name.
type createClock struct {
	iaas.Provider
	calls chan createCall
}

type createCall struct {
	name string
	at   time.Time
}

func (c *createClock) Unwrap() iaas.Provider { return c.Provider }

func (c *createClock) Create(ctx context.Context, spec iaas.MachineSpec) (iaas.Machine, error) {
	select {
	case c.calls <- createCall{spec.Name, time.Now()}:
	default:
	}
	return c.Provider.Create(ctx, spec)
}

// clocked starts the cluster with the autoscaler's default loop interval
// (5 s) and the private cloud's Create timed.
func clocked(b *testing.B, cfg autoscaler.Config) (*cluster, *createClock) {
	clock := &createClock{calls: make(chan createCall, 1000)}
	c := start(b, func(o *autoscaler.Options, ps iaas.Providers) {
		o.Interval = 0 // the default
		o.Config = cfg
		clock.Provider = ps["private-sim"]
		ps["private-sim"] = clock
	})
	return c, clock
}

// next waits for the next Create call.
func (cc *createClock) next(b *testing.B) createCall {
	b.Helper()
	call, ok := cc.nextOrNot()
	if !ok {
		b.Fatal("no Provider.Create within a minute")
	}
	return call
}

// nextOrNot waits a minute at most for the next Create call.
func (cc *createClock) nextOrNot() (createCall, bool) {
	select {
	case call := <-cc.calls:
		return call, true
	case <-time.After(time.Minute):
		return createCall{}, false
	}
}

// reportPercentiles reports the p50 and p99 of samples in milliseconds.
func reportPercentiles(b *testing.B, samples []time.Duration) {
	b.Helper()
	slices.Sort(samples)
	at := func(q float64) float64 {
		return float64(samples[min(len(samples)-1, int(q*float64(len(samples))))]) / float64(time.Millisecond)
	}
	b.ReportMetric(at(0.5), "p50-ms")
	b.ReportMetric(at(0.99), "p99-ms")
	b.ReportMetric(0, "ns/op")
	b.Logf("%d samples: p50 %.1f ms, p99 %.1f ms, max %.1f ms", len(samples), at(0.5), at(0.99), at(1))
}

// BenchmarkDecisionLatency: from a trigger holding to Provider.Create
// called for the new machine, through the real API server, the autoscaler,
// the NodePool and Machine controllers and the simulated cloud, with the
// autoscaler's default 5 s loop interval (the loop is woken by pods marked
// unschedulable and at the end of a utilization window, not left to its
// tick). One sample per iteration: run with -benchtime 20x.
//
//   - pending: a pod that fits no node is marked unschedulable by the real
//     scheduler (the moment this benchmark's watch sees the mark) until the
//     pool's next machine is asked of the provider;
//   - utilization: a fresh one-node pool is put at 90% CPU; from the moment
//     the 1 s window held (the decision's heldTime) until the provider is
//     asked for the second machine. The window's length adds nothing to
//     this figure: the loop runs when it ends.
func BenchmarkDecisionLatency(b *testing.B) {
	b.Run("pending", func(b *testing.B) {
		c, clock := clocked(b, autoscaler.Config{Reserved: api.ResourceList{}})
		ctx, cancel := context.WithCancel(context.Background())
		var wg sync.WaitGroup
		defer wg.Wait()
		defer cancel()
		c.runScheduler(b)
		var mu sync.Mutex
		marked := map[string]time.Time{}
		pods := client.NewCache(c.env.Admin, client.For[api.Pod](c.env.Admin).Kind(), "default", client.ListOptions{}, slog.New(slog.DiscardHandler))
		pods.AddHandler(client.Handler{OnUpdate: func(_, obj api.Object) {
			p := obj.(*api.Pod)
			for _, cond := range p.Status.Conditions {
				if cond.Type == api.PodScheduled && cond.Reason == api.PodReasonUnschedulable {
					mu.Lock()
					if _, ok := marked[p.Name]; !ok {
						marked[p.Name] = time.Now()
					}
					mu.Unlock()
				}
			}
		}})
		wg.Go(func() { _ = pods.Run(ctx) })
		pods.WaitForSync(ctx)
		c.createPool(b, "private", "private-sim", 0, 1, int32(b.N)+1)
		controllerstest.WaitFor(b, func() bool { return c.ready(b, "private") == 1 }, "the pool's first node")
		<-clock.calls // the first machine's
		// 1.5 of a node's 2 CPUs: one pod a node.
		create := func(name string) {
			p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox",
					Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("1500m")}}}}}}
			if _, err := client.For[api.Pod](c.env.Admin).Create(ctx, p); err != nil {
				b.Fatal(err)
			}
		}
		create("fill") // the first node
		controllerstest.WaitFor(b, func() bool {
			got, err := client.For[api.Pod](c.env.Admin).Get(ctx, "default", "fill")
			return err == nil && got.Status.Phase == api.PodRunning
		}, "the pod filling the first node running")
		var samples []time.Duration
		b.ResetTimer()
		for i := range b.N {
			name := fmt.Sprintf("burst-%d", i)
			create(name)
			call, ok := clock.nextOrNot()
			if !ok {
				for _, d := range c.decisions(b) {
					b.Logf("decision %+v", d.Spec)
				}
				got, _ := client.For[api.Pod](c.env.Admin).Get(ctx, "default", name)
				b.Fatalf("no Provider.Create within a minute; pod %+v", got.Status)
			}
			var t0 time.Time
			controllerstest.WaitFor(b, func() bool {
				mu.Lock()
				defer mu.Unlock()
				t0 = marked[name]
				return !t0.IsZero()
			}, "the pod marked unschedulable")
			samples = append(samples, call.at.Sub(t0))
			controllerstest.WaitFor(b, func() bool {
				got, err := client.For[api.Pod](c.env.Admin).Get(ctx, "default", name)
				return err == nil && got.Status.Phase == api.PodRunning
			}, "the pod running on its new node")
		}
		b.StopTimer()
		reportPercentiles(b, samples)
	})
	b.Run("utilization", func(b *testing.B) {
		c, clock := clocked(b, autoscaler.Config{ScaleUpWindow: time.Second, Reserved: api.ResourceList{}})
		ctx := context.Background()
		var samples []time.Duration
		b.ResetTimer()
		for i := range b.N {
			pool := fmt.Sprintf("hot-%d", i)
			c.createPool(b, pool, "private-sim", 0, 1, 2)
			controllerstest.WaitFor(b, func() bool { return c.ready(b, pool) == 1 }, "the pool's first node")
			clock.next(b) // the first machine's
			if err := c.private.SetPoolCPUUsage(pool, 0.9); err != nil {
				b.Fatal(err)
			}
			call := clock.next(b)
			d := c.find(b, func(d *api.ScaleDecision) bool {
				return d.Spec.Outcome.Type == api.OutcomeScaledUp && d.Spec.Outcome.Pool == pool
			})
			if d == nil || d.Spec.HeldTime.IsZero() || d.Spec.Trigger.Type != api.TriggerUtilization {
				b.Fatalf("the scale-up decision of %s: %+v", pool, d)
			}
			samples = append(samples, call.at.Sub(d.Spec.HeldTime.Time))
			// Free the simulated host for the next pools.
			if err := client.For[api.NodePool](c.env.Admin).Delete(ctx, "", pool, client.DeleteOptions{}); err != nil {
				b.Fatal(err)
			}
		}
		b.StopTimer()
		reportPercentiles(b, samples)
	})
}
