// Package bench measures the figures the control-plane issue asks for, each
// side by side with a reference in the same run, since these machines are
// shared and noisy: run `make bench`.
package bench

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// BenchmarkClouddStartToReady starts the cloudd binary on a fresh data dir
// (embedded etcd, certificates, admin token) and on an existing one, and
// reports the time until /readyz answers 200.
func BenchmarkClouddStartToReady(b *testing.B) {
	bin, err := test.Binaries("cloudd")
	if err != nil {
		b.Fatal(err)
	}
	for _, mode := range []string{"fresh", "restart"} {
		b.Run(mode, func(b *testing.B) {
			var total time.Duration
			for i := 0; i < b.N; i++ {
				dir := b.TempDir()
				port, _ := test.FreePort()
				addr := fmt.Sprintf("127.0.0.1:%d", port)
				if mode == "restart" {
					c, err := test.StartCloudd(bin, dir, addr)
					if err != nil {
						b.Fatal(err)
					}
					if err := c.WaitReady(context.Background(), time.Minute); err != nil {
						b.Fatal(err)
					}
					_ = c.Stop(syscall.SIGTERM)
				}
				start := time.Now()
				c, err := test.StartCloudd(bin, dir, addr)
				if err != nil {
					b.Fatal(err)
				}
				if err := c.WaitReady(context.Background(), time.Minute); err != nil {
					b.Fatal(err)
				}
				total += time.Since(start)
				_ = c.Stop(syscall.SIGTERM)
			}
			b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-ready")
		})
	}
}

func pod(name string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "bench"}},
		Spec: api.PodSpec{Containers: []api.Container{{
			Name: "c", Image: "busybox:1.36",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": api.MustParseQuantity("100m"), "memory": api.MustParseQuantity("64Mi")}},
		}}},
	}
}

// run spreads n operations over c goroutines and returns operations per second.
func run(n, c int, op func(i int) error) (float64, error) {
	var next atomic.Int64
	var firstErr atomic.Value
	var wg sync.WaitGroup
	start := time.Now()
	for range c {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > n {
					return
				}
				if err := op(i); err != nil {
					firstErr.CompareAndSwap(nil, err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := firstErr.Load().(error); err != nil {
		return 0, err
	}
	return float64(n) / time.Since(start).Seconds(), nil
}

// BenchmarkCreate compares object creates through the API (HTTPS, token,
// strict decode, defaults, validation, etcd transaction) with raw etcd puts
// of the same encoded object to the same etcd member, at 1 and 64
// concurrent clients, each client with its own connection as separate
// processes would have. Two etcd references: a gRPC client over the
// member's socket (what any etcd client pays) and the in-process client the
// API server itself uses (no transport at all). b.N objects go through each
// path; the ratios are api/etcd-grpc and api/etcd-inproc.
func BenchmarkCreate(b *testing.B) {
	env := apiservertest.Start(b, apiservertest.Options{MaxInFlight: 1000})
	raw, _ := json.Marshal(pod("reference-object-of-the-same-size"))
	inproc := env.Etcd.Client()
	grpc, err := clientv3.New(clientv3.Config{Endpoints: []string{env.Etcd.ClientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer grpc.Close()
	ctx := context.Background()
	for _, c := range []int{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", c), func(b *testing.B) {
			n := max(b.N, 200)
			round := time.Now().UnixNano()
			clients := make([]*client.Resource[api.Pod, *api.Pod], c)
			for i := range clients {
				clients[i] = client.For[api.Pod](env.Client(b, env.AdminToken))
				// Connect (TLS handshake) before the clock starts.
				if _, _, err := clients[i].List(ctx, "kube-none", client.ListOptions{}); err != nil {
					b.Fatal(err)
				}
			}
			put := func(e *clientv3.Client, tag string) func(int) error {
				return func(i int) error {
					_, err := e.Put(ctx, fmt.Sprintf("/bench/%s/%d-%d", tag, round, i), string(raw))
					return err
				}
			}
			inprocRate, err := run(n, c, put(inproc, "inproc"))
			if err != nil {
				b.Fatal(err)
			}
			grpcRate, err := run(n, c, put(grpc, "grpc"))
			if err != nil {
				b.Fatal(err)
			}
			apiRate, err := run(n, c, func(i int) error {
				_, err := clients[i%c].Create(ctx, pod(fmt.Sprintf("p-%d-%d", round, i)))
				return err
			})
			if err != nil {
				b.Fatal(err)
			}
			b.ReportMetric(apiRate, "api-creates/s")
			b.ReportMetric(grpcRate, "etcd-grpc-puts/s")
			b.ReportMetric(inprocRate, "etcd-inproc-puts/s")
			b.ReportMetric(apiRate/grpcRate, "api/etcd-grpc")
			b.ReportMetric(apiRate/inprocRate, "api/etcd-inproc")
			_, _ = inproc.Delete(ctx, "/bench/", clientv3.WithPrefix())
		})
	}
}

// BenchmarkWatchFanout opens 1,000 concurrent watches on pods through the
// API, creates events, and reports events delivered per second across all
// watchers: with the typed client (which decodes every object, in this same
// process, on the same two cores as the server) and with readers that only
// split the stream into events (what the server itself can deliver). 1,000
// raw etcd watches of the same prefix give the reference.
func BenchmarkWatchFanout(b *testing.B) {
	const watchers = 1000
	env := apiservertest.Start(b, apiservertest.Options{MaxInFlight: 2000})
	pods := client.For[api.Pod](env.Admin)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	events := max(b.N, 100)
	round := 0
	create := func() {
		round++
		for i := range events {
			if _, err := pods.Create(ctx, pod(fmt.Sprintf("w%d-%d", round, i))); err != nil {
				b.Fatal(err)
			}
		}
	}
	// Each watcher starts where a list left it, as informers do.
	listRV := func() string {
		_, rv, err := pods.List(ctx, "default", client.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		return rv
	}

	rv := listRV()
	var got atomic.Int64
	var done sync.WaitGroup
	for i := range watchers {
		w, err := pods.Watch(ctx, "default", client.ListOptions{ResourceVersion: rv})
		if err != nil {
			b.Fatalf("watcher %d: %v", i, err)
		}
		done.Add(1)
		go func() {
			defer done.Done()
			defer w.Stop()
			for n := 0; n < events; n++ {
				ev, ok := <-w.Events()
				if !ok || ev.Type == client.Error {
					b.Errorf("watch ended early: %v", ev.Err)
					return
				}
				got.Add(1)
			}
		}()
	}
	start := time.Now()
	create()
	done.Wait()
	typedRate := float64(got.Load()) / time.Since(start).Seconds()

	rawRate := rawFanout(b, env, watchers, events, listRV(), create)

	etcd := env.Etcd.Client()
	var gotRaw atomic.Int64
	var doneRaw sync.WaitGroup
	for range watchers {
		wch := etcd.Watch(ctx, "/bench/watch/", clientv3.WithPrefix(), clientv3.WithCreatedNotify())
		<-wch
		doneRaw.Add(1)
		go func() {
			defer doneRaw.Done()
			n := 0
			for resp := range wch {
				gotRaw.Add(int64(len(resp.Events)))
				if n += len(resp.Events); n >= events {
					return
				}
			}
		}()
	}
	raw, _ := json.Marshal(pod("reference"))
	start = time.Now()
	for i := range events {
		if _, err := etcd.Put(ctx, fmt.Sprintf("/bench/watch/%d", i), string(raw)); err != nil {
			b.Fatal(err)
		}
	}
	doneRaw.Wait()
	etcdRate := float64(gotRaw.Load()) / time.Since(start).Seconds()
	if got.Load() != int64(watchers*events) {
		b.Fatalf("delivered %d events, want %d", got.Load(), watchers*events)
	}
	b.ReportMetric(typedRate, "api-typed-events/s")
	b.ReportMetric(rawRate, "api-stream-events/s")
	b.ReportMetric(etcdRate, "etcd-events/s")
	b.ReportMetric(rawRate/etcdRate, "stream/etcd")
}

// rawFanout opens watchers that count the events of the stream without
// decoding them, runs create, and returns events delivered per second.
func rawFanout(b *testing.B, env *apiservertest.Env, watchers, events int, rv string, create func()) float64 {
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(env.CAPEM)
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true}}
	defer hc.CloseIdleConnections()
	var got atomic.Int64
	var done sync.WaitGroup
	for i := range watchers {
		req, _ := http.NewRequest("GET", env.URL+"/api/v1/namespaces/default/pods?watch=1&resourceVersion="+rv, nil)
		req.Header.Set("Authorization", "Bearer "+env.AdminToken)
		resp, err := hc.Do(req)
		if err != nil || resp.StatusCode != 200 {
			b.Fatalf("raw watcher %d: %v %v", i, err, resp)
		}
		done.Add(1)
		go func() {
			defer done.Done()
			defer resp.Body.Close()
			r := bufio.NewReaderSize(resp.Body, 64<<10)
			for n := 0; n < events; n++ {
				if _, err := r.ReadSlice('\n'); err != nil {
					b.Errorf("raw watcher: %v", err)
					return
				}
				got.Add(1)
			}
		}()
	}
	start := time.Now()
	create()
	done.Wait()
	if got.Load() != int64(watchers*events) {
		b.Fatalf("raw watchers got %d events, want %d", got.Load(), watchers*events)
	}
	return float64(got.Load()) / time.Since(start).Seconds()
}

func TestMain(m *testing.M) {
	os.Exit(m.Run())
}
