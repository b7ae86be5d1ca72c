package apiserver_test

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// BenchmarkBind binds b.N pending pods over 50 nodes through the HTTP API
// (TLS, authentication, the scheduler's authorization, strict decoding,
// one read and one compare-and-swap transaction in the real embedded
// etcd), from 64 concurrent callers as the scheduler's binders would be,
// and reports binds per second. The pods are created before the clock
// starts.
func BenchmarkBind(b *testing.B) {
	env := apiservertest.Start(b, apiservertest.Options{MaxInFlight: 1000})
	ctx := context.Background()
	const nodes = 50
	for i := range nodes {
		createNode(b, env.Admin, fmt.Sprintf("node-%d", i))
	}
	uids := createPending(b, env, b.N)
	sched := env.Scheduler
	// Connect (TLS handshakes) before the clock starts.
	var warm sync.WaitGroup
	for range 64 {
		warm.Add(1)
		go func() {
			defer warm.Done()
			_, _ = client.For[api.Node](sched).Get(ctx, "", "node-0")
		}()
	}
	warm.Wait()

	var next atomic.Int64
	b.SetParallelism(max(1, 64/runtime.GOMAXPROCS(0)))
	b.ResetTimer()
	start := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := int(next.Add(1) - 1)
			if err := sched.Bind(ctx, "default", fmt.Sprintf("p-%d", i), uids[i], fmt.Sprintf("node-%d", i%nodes)); err != nil {
				b.Error(err)
				return
			}
		}
	})
	elapsed := time.Since(start)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "binds/s")
}

// createPending creates n unbound pods p-0 ... p-(n-1) in default, 32 at
// a time, and returns their uids.
func createPending(b *testing.B, env *apiservertest.Env, n int) []string {
	b.Helper()
	uids := make([]string, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	pods := client.For[api.Pod](env.Admin)
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				p, err := pods.Create(context.Background(), newPod("default", fmt.Sprintf("p-%d", i)))
				if err != nil {
					b.Error(err)
					return
				}
				uids[i] = p.UID
			}
		}()
	}
	wg.Wait()
	if b.Failed() {
		b.FailNow()
	}
	return uids
}
