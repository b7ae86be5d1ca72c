package scheduler

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// instantBinder binds at once and shows the binding to the scheduler as
// its watch would, so the loop runs at its own speed with no API behind it.
type instantBinder struct {
	s     *Scheduler
	pods  map[string]*api.Pod
	bound atomic.Int64
	done  chan struct{}
	want  int64
}

func (f *instantBinder) Bind(_ context.Context, ns, name, _, node string) error {
	p := *f.pods[ns+"/"+name]
	p.Spec.NodeName = node
	f.s.PodHandler().OnUpdate(nil, &p)
	if f.bound.Add(1) == f.want {
		close(f.done)
	}
	return nil
}

// BenchmarkSchedulingLoop measures the scheduler alone on 5,000 nodes with
// 1,000 pods placed: queue, snapshot, framework, assume, binding hand-off
// and confirmation, with a binder that answers at once. It bounds what the
// scheduler can do when the API is not the limit.
func BenchmarkSchedulingLoop(b *testing.B) {
	const nodes = 5000
	f := newFakeAPI()
	s, err := New(Config{Profile: testProfile(), Binder: f, Writer: f, Workers: 32})
	if err != nil {
		b.Fatal(err)
	}
	for i := range nodes {
		s.NodeHandler().OnAdd(testNode(fmt.Sprintf("node-%05d", i), fmt.Sprintf("hv-%03d", i%100), "32", "128Gi"))
	}
	for i := range 1000 {
		s.PodHandler().OnAdd(boundPod(fmt.Sprintf("init-%d", i), fmt.Sprintf("node-%05d", i%nodes), "100m"))
	}
	ib := &instantBinder{s: s, pods: map[string]*api.Pod{}, done: make(chan struct{}), want: int64(b.N)}
	s.binder = ib
	pods := make([]*api.Pod, b.N)
	for i := range pods {
		pods[i] = requestPod(fmt.Sprintf("pod-%d", i), "100m", "500Mi")
		ib.pods[PodKey(pods[i])] = pods[i]
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	go func() { _ = s.Schedule(ctx) }()
	for _, p := range pods {
		s.PodHandler().OnAdd(p)
	}
	<-ib.done
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "pods/s")
}
