package store

import (
	"context"
	"errors"
	"sync"
	"testing"
)

// TestUpdateIfOrderOfFailures: a missing object is ErrNotFound, a stale
// revision ErrConflict, and only then a failed condition a *CondError that
// names its key; nothing is written on any failure.
func TestUpdateIfOrderOfFailures(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	const pod, node = "/registry/things/p", "/registry/nodes/n1"
	onNode := []Cond{{Key: node}}
	if err := s.UpdateIf(ctx, pod, mk("p", 1), 1, onNode, nil); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing object: got %v, want ErrNotFound", err)
	}
	p := mk("p", 1)
	if err := s.Create(ctx, pod, p); err != nil {
		t.Fatal(err)
	}
	created := rv(p)

	// The node is missing: a CondError naming it, which is also ErrNotFound.
	err := s.UpdateIf(ctx, pod, mk("p", 2), created, onNode, nil)
	var ce *CondError
	if !errors.As(err, &ce) || ce.Key != node || ce.Absent || !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing node: got %v (%T), want a CondError on %s", err, err, node)
	}
	// A stale revision comes first, even while the node is missing.
	if err := s.UpdateIf(ctx, pod, mk("p", 2), created-1, onNode, nil); !errors.Is(err, ErrConflict) || errors.As(err, &ce) {
		t.Fatalf("stale revision: got %v, want ErrConflict", err)
	}
	var got thing
	if err := s.Get(ctx, pod, &got); err != nil || got.Spec.N != 1 || rv(&got) != created {
		t.Fatalf("after failed updates: %+v rev %d (err %v), want the created object", got.Spec, rv(&got), err)
	}

	if err := s.Create(ctx, node, mk("n1", 0)); err != nil {
		t.Fatal(err)
	}
	next := mk("p", 2)
	if err := s.UpdateIf(ctx, pod, next, created, onNode, nil); err != nil {
		t.Fatalf("update with the node present: %v", err)
	}
	if rv(next) <= created {
		t.Fatalf("resourceVersion %d not after %d", rv(next), created)
	}
	// An absent condition fails with ErrPresent.
	err = s.UpdateIf(ctx, pod, mk("p", 3), rv(next), []Cond{{Key: node, Absent: true}}, nil)
	if !errors.As(err, &ce) || !ce.Absent || !errors.Is(err, ErrPresent) {
		t.Fatalf("present key: got %v, want a CondError wrapping ErrPresent", err)
	}
}

// TestSideWritesCommitWithTheObject: side writes happen with the object
// and not without it, so a marker guarded by an Absent condition admits
// exactly one of many concurrent writers.
func TestSideWritesCommitWithTheObject(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	const marker = "/registry/markers/default"
	var wg sync.WaitGroup
	wins := make(chan string, 10)
	for _, name := range []string{"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := s.CreateWith(ctx, "/registry/classes/"+name, mk(name, 1),
				[]Cond{{Key: marker, Absent: true}}, []Side{{Key: marker, Value: name}})
			switch {
			case err == nil:
				wins <- name
			case !errors.Is(err, ErrPresent):
				t.Errorf("create %s: got %v, want success or ErrPresent", name, err)
			}
		}()
	}
	wg.Wait()
	close(wins)
	var winners []string
	for w := range wins {
		winners = append(winners, w)
	}
	if len(winners) != 1 {
		t.Fatalf("winners %v, want exactly one", winners)
	}
	v, ok, err := s.Raw(ctx, marker)
	if err != nil || !ok || v != winners[0] {
		t.Fatalf("marker = %q, %v (err %v), want %q", v, ok, err, winners[0])
	}
	items, _, err := s.List(ctx, "/registry/classes/", newThing, nil)
	if err != nil || len(items) != 1 {
		t.Fatalf("%d classes stored (err %v), want 1: a refused create must store nothing", len(items), err)
	}

	// An update removes the marker together with its change; a stale one
	// removes nothing.
	var cur thing
	key := "/registry/classes/" + winners[0]
	if err := s.Get(ctx, key, &cur); err != nil {
		t.Fatal(err)
	}
	if err := s.UpdateIf(ctx, key, mk(winners[0], 2), rv(&cur)-1, nil, []Side{{Key: marker, Remove: true}}); !errors.Is(err, ErrConflict) {
		t.Fatalf("stale update: got %v, want ErrConflict", err)
	}
	if _, ok, _ := s.Raw(ctx, marker); !ok {
		t.Fatal("a failed update removed the marker")
	}
	if err := s.UpdateIf(ctx, key, mk(winners[0], 2), rv(&cur), nil, []Side{{Key: marker, Remove: true}}); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.Raw(ctx, marker); ok {
		t.Fatal("the marker survived the update that removed it")
	}
}
