package job

import (
	"context"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
)

// syncedCache returns a cache of kind k that has its first list; it
// follows changes until stop is called, and then keeps what it had.
func syncedCache(ctx context.Context, t *testing.T, c *client.Client, k *api.KindInfo) (cache *client.Cache, stop func()) {
	t.Helper()
	cctx, cancel := context.WithCancel(ctx)
	cache = client.NewCache(c, k, "", client.ListOptions{}, nil)
	done := make(chan struct{})
	go func() { defer close(done); _ = cache.Run(cctx) }()
	if !cache.WaitForSync(ctx) {
		t.Fatal("cache never synced")
	}
	stop = func() { cancel(); <-done }
	t.Cleanup(stop)
	return cache, stop
}

// TestReconcileStaleCacheNeverOverCreates: with a pod cache that stopped
// following the API server (it never shows the pods the controller
// creates), reconciling again creates no more pods than parallelism; a
// fresh cache that shows them satisfies the expectations, and nothing more
// is created either.
func TestReconcileStaleCacheNeverOverCreates(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	j, err := client.For[api.Job](env.Admin).Create(ctx, &api.Job{ObjectMeta: api.ObjectMeta{Name: "para", Namespace: "default"},
		Spec: api.JobSpec{Parallelism: i32(3), Completions: i32(5),
			Template: api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	podKind := client.For[api.Pod](env.Admin).Kind()
	jobs, _ := syncedCache(ctx, t, env.Admin, client.For[api.Job](env.Admin).Kind())
	stale, stopPods := syncedCache(ctx, t, env.Admin, podKind)
	stopPods()
	clock := controllerstest.NewFakeClock(time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC))
	r := NewReconciler(env.Admin, jobs, stale, clock, nil)
	key := "default/para"
	countPods := func() int {
		ps, _, err := client.For[api.Pod](env.Admin).List(ctx, "default", client.ListOptions{LabelSelector: api.LabelControllerUID + "=" + j.UID})
		if err != nil {
			t.Fatal(err)
		}
		return len(ps)
	}

	if _, err := r.Reconcile(ctx, key); err != nil {
		t.Fatal(err)
	}
	if n := countPods(); n != 3 {
		t.Fatalf("%d pods after the first reconcile, want 3", n)
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if o, ok := jobs.Get(key); ok && o.(*api.Job).Status.Active == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the job cache never showed 3 active")
		}
	}
	for range 3 {
		clock.Advance(time.Second)
		res, err := r.Reconcile(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if res.RequeueAfter != time.Second {
			t.Fatalf("requeue after %v while waiting for its own pods, want 1s", res.RequeueAfter)
		}
	}
	if n := countPods(); n != 3 {
		t.Fatalf("%d pods after reconciling on a stale cache, want 3", n)
	}

	// The same reconciler (same expectations) on a cache that shows them.
	fresh, _ := syncedCache(ctx, t, env.Admin, podKind)
	r.pods = fresh
	if _, err := r.Reconcile(ctx, key); err != nil {
		t.Fatal(err)
	}
	if n := countPods(); n != 3 {
		t.Fatalf("%d pods after reconciling on a fresh cache, want 3", n)
	}
	never := func(string) bool { return false }
	if !r.exp.Satisfied(key, never, never) {
		t.Fatal("expectations still pending after the cache showed the pods")
	}
}
