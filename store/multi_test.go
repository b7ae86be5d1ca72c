package store

import (
	"context"
	"errors"
	"strings"
	"testing"
)

// TestCommitAllOrNothing: a Commit whose one key changed stores nothing
// and names the key; a fresh one stores every write and deletes what it
// deletes.
func TestCommitAllOrNothing(t *testing.T) {
	s := startStore(t)
	ctx := context.Background()
	const a, b = "/registry/things/a", "/registry/things/b"
	pa, pb := mk("a", 1), mk("b", 1)
	if err := s.Create(ctx, a, pa); err != nil {
		t.Fatal(err)
	}
	if err := s.Create(ctx, b, pb); err != nil {
		t.Fatal(err)
	}
	err := s.Commit(ctx, []Write{{Key: a, Obj: mk("a", 2), Rev: rv(pa)}, {Key: b, Obj: mk("b", 2), Rev: rv(pb) - 1}})
	if !errors.Is(err, ErrConflict) || !strings.Contains(err.Error(), b) {
		t.Fatalf("stale b: %v, want ErrConflict naming %s", err, b)
	}
	var got thing
	if err := s.Get(ctx, a, &got); err != nil || got.Spec.N != 1 {
		t.Fatalf("a after a failed commit: %+v %v, want unchanged", got.Spec, err)
	}
	na := mk("a", 3)
	if err := s.Commit(ctx, []Write{{Key: a, Obj: na, Rev: rv(pa)}, {Key: b, Rev: rv(pb), Delete: true}}); err != nil {
		t.Fatal(err)
	}
	if err := s.Get(ctx, a, &got); err != nil || got.Spec.N != 3 || rv(&got) != rv(na) {
		t.Fatalf("a after commit: %+v rev %d %v", got.Spec, rv(&got), err)
	}
	if err := s.Get(ctx, b, &got); !errors.Is(err, ErrNotFound) {
		t.Fatalf("b after commit: %v, want ErrNotFound", err)
	}
	if err := s.Commit(ctx, []Write{{Key: b, Obj: mk("b", 1), Rev: rv(pb)}}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("gone b: %v, want ErrNotFound", err)
	}
}
