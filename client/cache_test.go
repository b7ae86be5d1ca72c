package client_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

func newPod(name string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": "x"}},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox:1.36"}}},
	}
}

// recorder collects handler calls as "add p1", "update p1", "delete p1".
type recorder struct {
	mu  sync.Mutex
	got []string
}

func (r *recorder) handler() client.Handler {
	add := func(verb string, o api.Object) {
		r.mu.Lock()
		defer r.mu.Unlock()
		r.got = append(r.got, verb+" "+o.GetObjectMeta().Name)
	}
	return client.Handler{
		OnAdd:    func(o api.Object) { add("add", o) },
		OnUpdate: func(_, o api.Object) { add("update", o) },
		OnDelete: func(o api.Object) { add("delete", o) },
	}
}

func (r *recorder) waitFor(t *testing.T, want ...string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		n := len(r.got)
		r.mu.Unlock()
		if n >= len(want) {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if fmt.Sprint(r.got) != fmt.Sprint(want) {
		t.Fatalf("handler calls %v, want %v", r.got, want)
	}
}

func TestCacheFollowsChanges(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods := client.For[api.Pod](env.Admin)
	if _, err := pods.Create(ctx, newPod("before")); err != nil {
		t.Fatal(err)
	}
	cache := client.NewCache(env.Admin, pods.Kind(), "default", client.ListOptions{LabelSelector: "app=x"}, nil)
	rec := &recorder{}
	cache.AddHandler(rec.handler())
	go func() { _ = cache.Run(ctx) }()
	if !cache.WaitForSync(ctx) {
		t.Fatal("cache never synced")
	}
	p, err := pods.Create(ctx, newPod("after"))
	if err != nil {
		t.Fatal(err)
	}
	p.Labels["more"] = "yes"
	if _, err := pods.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "default", "before", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	other := newPod("unselected")
	other.Labels = nil
	if _, err := pods.Create(ctx, other); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "add before", "add after", "update after", "delete before")
	if _, ok := cache.Get("default/after"); !ok {
		t.Fatal("cache lacks default/after")
	}
	if _, ok := cache.Get("default/before"); ok {
		t.Fatal("cache still holds the deleted pod")
	}
	if n := len(cache.List()); n != 1 {
		t.Fatalf("cache holds %d objects, want 1", n)
	}
}

// TestCacheRelistsWhenTooOld: when the watch ends and the revision to
// resume from has been compacted (410), the cache lists again and goes on.
func TestCacheRelistsWhenTooOld(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{WatchCacheSize: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods := client.For[api.Pod](env.Admin)
	cache := client.NewCache(env.Admin, pods.Kind(), "default", client.ListOptions{TimeoutSeconds: 1, LabelSelector: "app=x"}, nil)
	rec := &recorder{}
	cache.AddHandler(rec.handler())
	go func() { _ = cache.Run(ctx) }()
	if !cache.WaitForSync(ctx) {
		t.Fatal("cache never synced")
	}
	start, _ := strconv.ParseInt(cache.ResourceVersion(), 10, 64)
	// Pods the cache does not select move the revision on and push its
	// resume point out of the server's watch cache; compaction then
	// removes it from etcd too.
	for i := range 5 {
		p := newPod(fmt.Sprintf("unselected-%d", i))
		p.Labels = nil
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	cur, err := env.Store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		rv, _ := strconv.ParseInt(cache.ResourceVersion(), 10, 64)
		if rv >= cur {
			break // only a relist can have moved it past the compaction
		}
		if time.Now().After(deadline) {
			t.Fatalf("cache revision stuck at %d (start %d), compaction at %d: no relist after 410", rv, start, cur)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, err := pods.Create(ctx, newPod("later")); err != nil {
		t.Fatal(err)
	}
	rec.waitFor(t, "add later")
}

func TestClientErrors(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	_, err := pods.Get(ctx, "default", "nope")
	if !client.IsNotFound(err) || client.IgnoreNotFound(err) != nil {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := pods.Create(ctx, newPod("dup")); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, newPod("dup")); !client.IsAlreadyExists(err) {
		t.Fatalf("second create: %v, want AlreadyExists", err)
	}
	p, _ := pods.Get(ctx, "default", "dup")
	stale := p.ResourceVersion
	if _, err := pods.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	p.ResourceVersion = stale
	if _, err := pods.Update(ctx, p); !client.IsConflict(err) {
		t.Fatalf("stale update: %v, want Conflict", err)
	}
	bad := env.Client(t, "not-a-token")
	if _, err := client.For[api.Pod](bad).Get(ctx, "default", "dup"); client.Code(err) != 401 {
		t.Fatalf("bad token: %v, want 401", err)
	}
	if _, err := client.New(client.Config{Server: "ftp://x"}, env.Scheme); err == nil {
		t.Fatal("client.New accepted an ftp URL")
	}
}

// TestCreateAnswerReplacesObject: what the server dropped (a user-set
// status) does not survive in the caller's object.
func TestCreateAnswerReplacesObject(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	p := newPod("with-status")
	p.Status.PodIP = "10.0.0.9"
	got, err := client.For[api.Pod](env.Admin).Create(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.PodIP != "" || got.Status.Phase != api.PodPending {
		t.Fatalf("status after create: %+v, want phase Pending and no podIP", got.Status)
	}
}
