package main

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/leader"
)

// term is what a controller setup saw of one term of leadership.
type term struct {
	client *client.Client
	ended  chan struct{}
}

// TestControlPlaneTerms: the controllers run while leading; losing the
// lease stops them at once; the next term runs a fresh Manager with a
// fresh credential that revokes the previous one, and the scheduler's
// metrics register again without a clash.
func TestControlPlaneTerms(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	terms := make(chan term, 4)
	saved := controllerSetups
	controllerSetups = []func(*controllers.Manager) error{func(m *controllers.Manager) error {
		tm := term{client: m.Client, ended: make(chan struct{})}
		m.AddRunnable(func(ctx context.Context) {
			terms <- tm
			<-ctx.Done()
			close(tm.ended)
		})
		return nil
	}}
	defer func() { controllerSetups = saved }()

	reg := prometheus.NewRegistry()
	o := &options{scheduler: true, schedulerWorkers: 2, controllers: true, leaderElect: true, leaderTTL: 2 * time.Second}
	cp := &controlPlane{o: o, srv: env.Server, etcd: env.Etcd.Client(), serverURL: env.URL, caPEM: env.CAPEM, reg: reg, log: slog.New(slog.DiscardHandler)}
	ctx, cancel := context.WithCancel(context.Background())
	done, err := cp.start(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	stop := func() { once.Do(func() { cancel(); <-done }) }
	defer stop()

	first := waitTerm(t, terms)
	if v := leaderGauge(t, reg); v != 1 {
		t.Fatalf("cloudd_leader = %v while leading", v)
	}
	if _, _, err := client.For[api.Pod](first.client).List(ctx, "", client.ListOptions{}); err != nil {
		t.Fatalf("the controller-manager credential: %v", err)
	}
	// Take the lease away, as etcd does when keep-alives stop arriving.
	resp, err := env.Etcd.Client().Get(ctx, leader.DefaultPrefix+"/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("election keys: %v, %v", resp, err)
	}
	lost := time.Now()
	if _, err := env.Etcd.Client().Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.ended:
		t.Logf("controllers stopped %s after the lease was revoked", time.Since(lost).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("the controllers still run 5s after the lease was lost")
	}
	second := waitTerm(t, terms)
	if _, _, err := client.For[api.Pod](first.client).List(ctx, "", client.ListOptions{}); client.Code(err) != 401 {
		t.Fatalf("the first term's credential after the second term began: %v, want 401", err)
	}
	if _, _, err := client.For[api.Pod](second.client).List(ctx, "", client.ListOptions{}); err != nil {
		t.Fatalf("the second term's credential: %v", err)
	}
	if _, err := reg.Gather(); err != nil {
		t.Fatalf("metrics after two terms: %v", err)
	}
	stop()
	select {
	case <-second.ended:
	default:
		t.Fatal("the controllers still run after the control plane stopped")
	}
	if v := leaderGauge(t, reg); v != 0 {
		t.Fatalf("cloudd_leader = %v after stopping", v)
	}
	// A clean stop resigns: no election key is left behind.
	resp, err = env.Etcd.Client().Get(context.Background(), leader.DefaultPrefix+"/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 0 {
		t.Fatalf("election keys after stopping: %v, %v", resp, err)
	}
}

func waitTerm(t *testing.T, terms <-chan term) term {
	t.Helper()
	select {
	case tm := <-terms:
		return tm
	case <-time.After(30 * time.Second):
		t.Fatal("no term of leadership began within 30s")
	}
	return term{}
}

// leaderGauge reads cloudd_leader from reg.
func leaderGauge(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == "cloudd_leader" {
			return mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	t.Fatal("no cloudd_leader metric")
	return 0
}
