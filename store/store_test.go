package store

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// thing is a minimal object kind for store tests, independent of the real kinds.
type thing struct {
	api.TypeMeta   `json:",inline"`
	api.ObjectMeta `json:"metadata"`
	Spec           struct {
		N     int    `json:"n"`
		Color string `json:"color,omitempty"`
	} `json:"spec"`
}

func newThing() api.Object { return &thing{} }

func mk(name string, n int) *thing {
	t := &thing{}
	t.Kind, t.APIVersion = "Thing", "v1"
	t.Name = name
	t.Spec.N = n
	return t
}

func rv(o api.Object) int64 {
	n, _ := strconv.ParseInt(o.GetObjectMeta().ResourceVersion, 10, 64)
	return n
}

func startStore(t testing.TB) *Store {
	t.Helper()
	e, err := StartEmbedded(EmbeddedConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	t.Cleanup(e.Close)
	return New(e.Client())
}

func TestCreateGetUpdateDelete(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	a := mk("a", 1)
	if err := s.Create(ctx, "/registry/things/a", a); err != nil {
		t.Fatal(err)
	}
	if rv(a) == 0 {
		t.Fatal("create did not set resourceVersion")
	}
	if err := s.Create(ctx, "/registry/things/a", mk("a", 2)); !errors.Is(err, ErrAlreadyExists) {
		t.Fatalf("second create: got %v, want ErrAlreadyExists", err)
	}
	var got thing
	if err := s.Get(ctx, "/registry/things/a", &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.N != 1 || got.ResourceVersion != a.ResourceVersion {
		t.Fatalf("get: %+v, want n=1 rv=%s", got, a.ResourceVersion)
	}
	stale := rv(a)
	got.Spec.N = 2
	if err := s.Update(ctx, "/registry/things/a", &got, stale); err != nil {
		t.Fatal(err)
	}
	got.Spec.N = 3
	if err := s.Update(ctx, "/registry/things/a", &got, stale); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	if err := s.Update(ctx, "/registry/things/zz", &got, 5); !errors.Is(err, ErrNotFound) {
		t.Fatalf("update missing: got %v, want ErrNotFound", err)
	}
	var del thing
	if err := s.Delete(ctx, "/registry/things/a", stale, &del); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale delete: got %v, want ErrConflict", err)
	}
	if err := s.Delete(ctx, "/registry/things/a", 0, &del); err != nil {
		t.Fatal(err)
	}
	if del.Spec.N != 2 {
		t.Fatalf("deleted object: n=%d, want 2", del.Spec.N)
	}
	if err := s.Get(ctx, "/registry/things/a", &got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
}

func TestCreateRequiresKey(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	inNS := []Cond{{Key: "/registry/namespaces/ns1"}, {Key: "/registry/terminating/ns1/marker", Absent: true}}
	err := s.Create(ctx, "/registry/things/ns1/a", mk("a", 1), inNS...)
	if !errors.Is(err, ErrNotFound) {
		t.Fatalf("create in missing namespace: got %v, want ErrNotFound", err)
	}
	if err := s.Create(ctx, "/registry/namespaces/ns1", mk("ns1", 0)); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "/registry/things/ns1/a", mk("a", 1), inNS...); err != nil {
		t.Fatal(err)
	}
	if err := s.Mark(ctx, "/registry/terminating/ns1/marker"); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, "/registry/things/ns1/b", mk("b", 1), inNS...); !errors.Is(err, ErrPresent) {
		t.Fatalf("create in a marked namespace: got %v, want ErrPresent", err)
	}
	var ns thing
	created, err := s.GetWithCreateRevision(ctx, "/registry/namespaces/ns1", &ns)
	if err != nil || created != rv(&ns) {
		t.Fatalf("create revision %d (err %v), want %d", created, err, rv(&ns))
	}
	// Deleting the namespace takes its contents in the same transaction.
	var out thing
	if err := s.Delete(ctx, "/registry/namespaces/ns1", 0, &out, "/registry/things/ns1/", "/registry/terminating/ns1/"); err != nil {
		t.Fatal(err)
	}
	items, _, err := s.List(ctx, "/registry/things/", newThing, nil)
	if err != nil || len(items) != 0 {
		t.Fatalf("after namespace delete: %d items, err %v", len(items), err)
	}
}

func TestConcurrentGuaranteedUpdateLosesNothing(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	if err := s.Create(ctx, "/registry/things/c", mk("c", 0)); err != nil {
		t.Fatal(err)
	}
	const workers, each = 20, 5
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				_, err := s.GuaranteedUpdate(ctx, "/registry/things/c", newThing, func(cur api.Object) (api.Object, error) {
					cur.(*thing).Spec.N++
					return cur, nil
				})
				if err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	var got thing
	if err := s.Get(ctx, "/registry/things/c", &got); err != nil {
		t.Fatal(err)
	}
	if got.Spec.N != workers*each {
		t.Fatalf("counter = %d, want %d", got.Spec.N, workers*each)
	}
}

func TestListPagesAtOneRevision(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	for i := range 1234 {
		if err := s.Create(ctx, fmt.Sprintf("/registry/things/%05d", i), mk(fmt.Sprint(i), i)); err != nil {
			t.Fatal(err)
		}
	}
	items, rev, err := s.List(ctx, "/registry/things/", newThing, func(o api.Object) bool { return o.(*thing).Spec.N%2 == 0 })
	if err != nil {
		t.Fatal(err)
	}
	if len(items) != 617 {
		t.Fatalf("got %d even items, want 617", len(items))
	}
	cur, _ := s.CurrentRevision(ctx)
	if rev != cur {
		t.Fatalf("list revision %d, current %d", rev, cur)
	}
}

// collect reads n events or fails after a timeout.
func collect(t *testing.T, ch <-chan Event, n int) []Event {
	t.Helper()
	var out []Event
	timeout := time.After(20 * time.Second)
	for len(out) < n {
		select {
		case e, ok := <-ch:
			if !ok {
				t.Fatalf("watch closed after %d of %d events", len(out), n)
			}
			out = append(out, e)
		case <-timeout:
			t.Fatalf("timed out after %d of %d events", len(out), n)
		}
	}
	return out
}

func expectQuiet(t *testing.T, ch <-chan Event) {
	t.Helper()
	select {
	case e := <-ch:
		t.Fatalf("unexpected extra event %s %v", e.Type, e.Object)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestWatchResumeExactlyOnce(t *testing.T) {
	s := startStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var revs []int64
	for i := range 10 {
		o := mk(fmt.Sprint(i), i)
		if err := s.Create(ctx, fmt.Sprintf("/registry/things/%d", i), o); err != nil {
			t.Fatal(err)
		}
		revs = append(revs, rv(o))
	}
	// Resume after the fourth create: exactly creates 4..9, then live events.
	ch, err := s.Watch(ctx, "/registry/things/", revs[3], newThing, nil)
	if err != nil {
		t.Fatal(err)
	}
	evs := collect(t, ch, 6)
	for i, e := range evs {
		if e.Type != Added || e.Object.GetObjectMeta().Name != fmt.Sprint(i+4) || rv(e.Object) != revs[i+4] {
			t.Fatalf("event %d: %s %s rv %d", i, e.Type, e.Object.GetObjectMeta().Name, rv(e.Object))
		}
	}
	var o thing
	if err := s.Get(ctx, "/registry/things/2", &o); err != nil {
		t.Fatal(err)
	}
	o.Spec.N = 100
	if err := s.Update(ctx, "/registry/things/2", &o, rv(&o)); err != nil {
		t.Fatal(err)
	}
	var del thing
	if err := s.Delete(ctx, "/registry/things/3", 0, &del); err != nil {
		t.Fatal(err)
	}
	evs = collect(t, ch, 2)
	if evs[0].Type != Modified || evs[0].Object.(*thing).Spec.N != 100 {
		t.Fatalf("want MODIFIED n=100, got %s %+v", evs[0].Type, evs[0].Object)
	}
	if evs[1].Type != Deleted || evs[1].Object.GetObjectMeta().Name != "3" || rv(evs[1].Object) != rv(&del) {
		t.Fatalf("want DELETED 3 at rv %d, got %s %+v", rv(&del), evs[1].Type, evs[1].Object)
	}
	expectQuiet(t, ch)

	// Resuming from the last event seen repeats nothing.
	ch2, err := s.Watch(ctx, "/registry/things/", rv(evs[1].Object), newThing, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectQuiet(t, ch2)
}

func TestWatchFilterEntersAndLeaves(t *testing.T) {
	s := startStore(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	red := func(o api.Object) bool { return o.(*thing).Spec.Color == "red" }
	ch, err := s.Watch(ctx, "/registry/things/", 0, newThing, red)
	if err != nil {
		t.Fatal(err)
	}
	o := mk("x", 1)
	if err := s.Create(ctx, "/registry/things/x", o); err != nil {
		t.Fatal(err)
	}
	o.Spec.Color = "red"
	if err := s.Update(ctx, "/registry/things/x", o, rv(o)); err != nil {
		t.Fatal(err)
	}
	o.Spec.N = 2
	if err := s.Update(ctx, "/registry/things/x", o, rv(o)); err != nil {
		t.Fatal(err)
	}
	o.Spec.Color = "blue"
	if err := s.Update(ctx, "/registry/things/x", o, rv(o)); err != nil {
		t.Fatal(err)
	}
	evs := collect(t, ch, 3)
	want := []EventType{Added, Modified, Deleted}
	for i, e := range evs {
		if e.Type != want[i] {
			t.Fatalf("event %d = %s, want %s", i, e.Type, want[i])
		}
	}
	expectQuiet(t, ch)
}

func TestWatchCompactedIsTooOld(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	var first int64
	for i := range 5 {
		o := mk(fmt.Sprint(i), i)
		if err := s.Create(ctx, fmt.Sprintf("/registry/things/%d", i), o); err != nil {
			t.Fatal(err)
		}
		if i == 0 {
			first = rv(o)
		}
	}
	cur, _ := s.CurrentRevision(ctx)
	if err := s.Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	_, err := s.Watch(ctx, "/registry/things/", first, newThing, nil)
	if !errors.Is(err, ErrTooOld) {
		t.Fatalf("watch from compacted revision: got %v, want ErrTooOld", err)
	}
	// From the compaction point itself it works.
	ch, err := s.Watch(ctx, "/registry/things/", cur, newThing, nil)
	if err != nil {
		t.Fatal(err)
	}
	expectQuiet(t, ch)
}

func TestRestartKeepsObjectsAndRevisions(t *testing.T) {
	dir := t.TempDir()
	e, err := StartEmbedded(EmbeddedConfig{Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	s := New(e.Client())
	o := mk("p", 7)
	if err := s.Create(context.Background(), "/registry/things/p", o); err != nil {
		t.Fatal(err)
	}
	e.Close()
	e, err = StartEmbedded(EmbeddedConfig{Dir: dir})
	if err != nil {
		t.Fatalf("restart: %v", err)
	}
	defer e.Close()
	var got thing
	if err := New(e.Client()).Get(context.Background(), "/registry/things/p", &got); err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != o.ResourceVersion || got.Spec.N != 7 {
		t.Fatalf("after restart: rv %s n %d, want rv %s n 7", got.ResourceVersion, got.Spec.N, o.ResourceVersion)
	}
}

func TestStartEmbeddedUnwritableDir(t *testing.T) {
	_, err := StartEmbedded(EmbeddedConfig{Dir: "/proc/cloudmgr-cannot-write-here"})
	if err == nil {
		t.Fatal("expected an error for an unwritable data dir")
	}
}
