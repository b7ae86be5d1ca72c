package controllers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestQueueDeduplicates(t *testing.T) {
	q := NewQueue(time.Millisecond, time.Second)
	q.Add("a")
	q.Add("b")
	q.Add("a")
	if q.Len() != 2 {
		t.Fatalf("len %d, want 2", q.Len())
	}
	k, _ := q.Get()
	if k != "a" {
		t.Fatalf("first key %q, want a (FIFO)", k)
	}
	// Added while processing: not handed out again until Done.
	q.Add("a")
	k2, _ := q.Get()
	if k2 != "b" {
		t.Fatalf("second key %q, want b", k2)
	}
	if q.Len() != 0 {
		t.Fatalf("a key being processed was queued for a second worker")
	}
	q.Done("a")
	if k3, _ := q.Get(); k3 != "a" {
		t.Fatalf("after Done, got %q, want a again", k3)
	}
}

func TestQueueBackOffDoublesAndForgetResets(t *testing.T) {
	q := NewQueue(20*time.Millisecond, time.Second)
	for i, want := range []time.Duration{20 * time.Millisecond, 40 * time.Millisecond, 80 * time.Millisecond} {
		start := time.Now()
		q.AddRateLimited("k")
		k, _ := q.Get()
		got := time.Since(start)
		q.Done(k)
		if got < want {
			t.Fatalf("retry %d came after %s, want at least %s", i, got, want)
		}
	}
	if q.Failures("k") != 3 {
		t.Fatalf("failures %d, want 3", q.Failures("k"))
	}
	q.Forget("k")
	if q.Failures("k") != 0 {
		t.Fatal("Forget did not reset the failures")
	}
}

func TestQueueShutDownWakesGet(t *testing.T) {
	q := NewQueue(time.Millisecond, time.Second)
	done := make(chan bool)
	go func() {
		_, ok := q.Get()
		done <- ok
	}()
	q.ShutDown()
	if <-done {
		t.Fatal("Get returned a key from a shut-down queue")
	}
	q.Add("x")
	if q.Len() != 0 {
		t.Fatal("a shut-down queue accepted a key")
	}
}

// One key is never reconciled by two workers at once, and no add is lost.
func TestQueueOneWorkerPerKey(t *testing.T) {
	q := NewQueue(time.Millisecond, time.Second)
	var busy sync.Map
	var overlaps, processed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for {
				k, ok := q.Get()
				if !ok {
					return
				}
				if _, loaded := busy.LoadOrStore(k, true); loaded {
					overlaps.Add(1)
				}
				time.Sleep(100 * time.Microsecond)
				busy.Delete(k)
				processed.Add(1)
				q.Done(k)
			}
		})
	}
	for i := range 2000 {
		q.Add([]string{"a", "b", "c"}[i%3])
	}
	deadline := time.Now().Add(5 * time.Second)
	for q.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	q.ShutDown()
	wg.Wait()
	if overlaps.Load() != 0 {
		t.Fatalf("%d times a key was processed by two workers at once", overlaps.Load())
	}
	if processed.Load() < 3 || processed.Load() > 2000 {
		t.Fatalf("processed %d times", processed.Load())
	}
}
