package apiserver

import (
	"context"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

func startCacher(t *testing.T, capacity int) (*cacher, *store.Store, *api.KindInfo) {
	t.Helper()
	e, err := store.StartEmbedded(store.EmbeddedConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("embedded etcd: %v", err)
	}
	t.Cleanup(e.Close)
	st := store.New(e.Client())
	k, _ := api.NewScheme().ByKind("v1", "Pod")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c := newCacher(k, st, slog.New(slog.DiscardHandler), capacity)
	go c.run(ctx)
	return c, st, k
}

func testPod(k *api.KindInfo, i int) api.Object {
	p := k.New().(*api.Pod)
	p.Name, p.Namespace = fmt.Sprintf("p%04d", i), "default"
	return p
}

// TestCacherExactlyOnceUnderWrites registers watchers while writes go on:
// each sees every change after its start revision once, in order, whether
// the change was replayed from the buffer or delivered live.
func TestCacherExactlyOnceUnderWrites(t *testing.T) {
	c, st, k := startCacher(t, 10000)
	ctx := context.Background()
	<-c.started // revisions taken from now on are within the cache's history
	const n = 300
	revs := make([]int64, n)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range n {
			p := testPod(k, i)
			if err := st.Create(ctx, "/registry/pods/default/"+p.GetObjectMeta().Name, p); err != nil {
				t.Error(err)
				return
			}
			revs[i], _ = strconv.ParseInt(p.GetObjectMeta().ResourceVersion, 10, 64)
		}
	}()
	type started struct {
		w     *cacheWatcher
		after int64
	}
	var ws []started
	for len(ws) < 5 {
		time.Sleep(5 * time.Millisecond)
		after, err := st.CurrentRevision(ctx)
		if err != nil {
			t.Fatal(err)
		}
		w, ok := c.watch(ctx, after)
		if !ok {
			t.Fatalf("revision %d not served from the cache", after)
		}
		ws = append(ws, started{w, after})
	}
	wg.Wait()
	for _, s := range ws {
		var want []int64
		for _, r := range revs {
			if r > s.after {
				want = append(want, r)
			}
		}
		for i, r := range want {
			select {
			case ev := <-s.w.ch:
				if ev.rev != r {
					t.Fatalf("watcher after %d: event %d has revision %d, want %d", s.after, i, ev.rev, r)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("watcher after %d: %d of %d events", s.after, i, len(want))
			}
		}
		select {
		case ev := <-s.w.ch:
			t.Fatalf("watcher after %d: extra event at %d", s.after, ev.rev)
		default:
		}
	}
}

// TestCacherDropsSlowWatcher: a watcher that does not read is cut off
// (its channel closes) instead of holding up the others or growing memory.
func TestCacherDropsSlowWatcher(t *testing.T) {
	c, st, k := startCacher(t, 10)
	ctx := context.Background()
	after, _ := st.CurrentRevision(ctx)
	slow, ok := c.watch(ctx, after)
	if !ok {
		t.Fatal("not served from the cache")
	}
	limit := cap(slow.ch)
	for i := range limit + 5 {
		p := testPod(k, i)
		if err := st.Create(ctx, "/registry/pods/default/"+p.GetObjectMeta().Name, p); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	deadline := time.After(20 * time.Second)
	for {
		select {
		case _, open := <-slow.ch:
			if !open {
				if got > limit {
					t.Fatalf("received %d events, more than the buffer of %d", got, limit)
				}
				return
			}
			got++
		case <-deadline:
			t.Fatalf("slow watcher never cut off (received %d)", got)
		}
	}
}

// TestCacherTooOldForBuffer: a revision older than the buffer is refused,
// so the caller goes to etcd.
func TestCacherTooOldForBuffer(t *testing.T) {
	c, st, k := startCacher(t, 3)
	ctx := context.Background()
	<-c.started
	start, _ := st.CurrentRevision(ctx)
	for i := range 10 {
		p := testPod(k, i)
		if err := st.Create(ctx, "/registry/pods/default/"+p.GetObjectMeta().Name, p); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		c.mu.Lock()
		n := c.buf.len()
		c.mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("buffer holds %d events", n)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, ok := c.watch(ctx, start); ok {
		t.Fatal("a revision older than the buffer was served from it")
	}
}

func TestRingKeepsTheNewest(t *testing.T) {
	var r ring
	r.reset(3)
	var evicted []int64
	for i := int64(1); i <= 7; i++ {
		if old := r.push(&cachedEvent{rev: i}); old != nil {
			evicted = append(evicted, old.rev)
		}
	}
	var kept []int64
	r.each(func(ev *cachedEvent) { kept = append(kept, ev.rev) })
	if fmt.Sprint(kept) != "[5 6 7]" || fmt.Sprint(evicted) != "[1 2 3 4]" {
		t.Fatalf("kept %v evicted %v, want [5 6 7] and [1 2 3 4]", kept, evicted)
	}
}
