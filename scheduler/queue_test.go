package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

func pendingPod(name string, priority int32, created time.Time) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name, Generation: 1,
			CreationTimestamp: api.Time{Time: created}, Labels: map[string]string{"app": "x"}},
		Spec: api.PodSpec{Priority: &priority, Containers: []api.Container{{Name: "c", Image: "busybox"}}},
	}
}

// tryPop returns a pod ready now, or nil, without waiting.
func tryPop(t *testing.T, q *Queue) *QueuedPod {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e, err := q.Pop(ctx)
	if err != nil {
		return nil
	}
	return e
}

func popName(t *testing.T, q *Queue) string {
	t.Helper()
	e := tryPop(t, q)
	if e == nil {
		return ""
	}
	return e.Pod.Name
}

func TestQueueOrdersByPriorityThenAge(t *testing.T) {
	clock := newFakeClock()
	q := NewQueue(QueueOptions{Clock: clock})
	t0 := clock.Now()
	q.Add(pendingPod("low-old", 0, t0))
	q.Add(pendingPod("high-new", 100, t0.Add(2*time.Second)))
	q.Add(pendingPod("low-new", 0, t0.Add(time.Second)))
	q.Add(pendingPod("high-old", 100, t0))
	q.Add(pendingPod("low-new-second", 0, t0.Add(time.Second))) // same age: arrival order
	var got []string
	for {
		n := popName(t, q)
		if n == "" {
			break
		}
		got = append(got, n)
	}
	want := []string{"high-old", "high-new", "low-old", "low-new", "low-new-second"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("pop order %v, want %v", got, want)
	}
}

func TestQueueBackoffDoublesUpToTheMaximum(t *testing.T) {
	clock := newFakeClock()
	q := NewQueue(QueueOptions{Clock: clock})
	q.Add(pendingPod("p", 0, clock.Now()))
	for i, want := range []time.Duration{1, 2, 4, 8, 10, 10} {
		e := tryPop(t, q)
		if e == nil {
			t.Fatalf("attempt %d: nothing to pop", i+1)
		}
		if e.Attempts != i+1 {
			t.Fatalf("attempts %d, want %d", e.Attempts, i+1)
		}
		q.AddBackoff(e)
		clock.Step(want*time.Second - time.Millisecond)
		if n := popName(t, q); n != "" {
			t.Fatalf("attempt %d: popped %s before its back-off of %ds", i+1, n, want)
		}
		clock.Step(time.Millisecond)
		if a, b, u := q.Lengths(); a != 0 || b != 1 || u != 0 {
			t.Fatalf("lengths %d/%d/%d, want the pod in back-off", a, b, u)
		}
	}
	if tryPop(t, q) == nil {
		t.Fatal("the pod did not leave back-off")
	}
}

func TestQueueUnschedulableWaitsForAnEvent(t *testing.T) {
	clock := newFakeClock()
	q := NewQueue(QueueOptions{Clock: clock})
	p := pendingPod("p", 0, clock.Now())
	q.Add(p)
	q.AddUnschedulable(tryPop(t, q))
	clock.Step(time.Minute) // well past its back-off
	if n := popName(t, q); n != "" {
		t.Fatalf("popped %s with nothing changed", n)
	}
	// A status-only update (the scheduler's own condition) moves nothing.
	st := *p
	st.ResourceVersion = "2"
	st.Status.Conditions = []api.PodCondition{{Type: api.PodScheduled, Status: api.ConditionFalse}}
	q.Update(&st)
	if n := popName(t, q); n != "" {
		t.Fatalf("a status update made %s pop", n)
	}
	if _, _, u := q.Lengths(); u != 1 {
		t.Fatalf("unschedulable %d, want 1", u)
	}
	// A node event does.
	q.MoveAll()
	e := tryPop(t, q)
	if e == nil || e.Pod != &st {
		t.Fatalf("after MoveAll popped %v, want the newest version of the pod", e)
	}
	// A label change moves it too.
	q.AddUnschedulable(e)
	relabeled := st
	relabeled.Labels = map[string]string{"app": "y"}
	q.Update(&relabeled)
	clock.Step(2 * time.Second) // its second back-off
	if n := popName(t, q); n != "p" {
		t.Fatalf("after a label change popped %q, want p", n)
	}
}

func TestQueueMoveDuringTheCycleIsNotLost(t *testing.T) {
	clock := newFakeClock()
	q := NewQueue(QueueOptions{Clock: clock})
	q.Add(pendingPod("p", 0, clock.Now()))
	e := tryPop(t, q)
	q.MoveAll() // a node was added while p was being scheduled
	q.AddUnschedulable(e)
	if a, b, u := q.Lengths(); a != 0 || b != 1 || u != 0 {
		t.Fatalf("lengths %d/%d/%d, want p in back-off, not parked", a, b, u)
	}
	clock.Step(time.Second)
	if n := popName(t, q); n != "p" {
		t.Fatalf("popped %q, want p", n)
	}
}

func TestQueueUnschedulableTimeout(t *testing.T) {
	clock := newFakeClock()
	q := NewQueue(QueueOptions{Clock: clock})
	q.Add(pendingPod("p", 0, clock.Now()))
	q.AddUnschedulable(tryPop(t, q))
	clock.Step(DefaultUnschedulableTimeout - time.Second)
	if n := popName(t, q); n != "" {
		t.Fatalf("popped %s before the timeout", n)
	}
	clock.Step(time.Second)
	if n := popName(t, q); n != "p" {
		t.Fatalf("popped %q after the timeout, want p", n)
	}
}

func TestQueueDeleteAndUpdate(t *testing.T) {
	clock := newFakeClock()
	q := NewQueue(QueueOptions{Clock: clock})
	for _, n := range []string{"backoff", "parked", "flight"} {
		q.Add(pendingPod(n, 0, clock.Now()))
	}
	popped := map[string]*QueuedPod{}
	for range 3 {
		e := tryPop(t, q)
		popped[e.Pod.Name] = e
	}
	q.AddBackoff(popped["backoff"])
	q.AddUnschedulable(popped["parked"])
	flight := popped["flight"]
	q.Add(pendingPod("active", 0, clock.Now()))
	if a, b, u := q.Lengths(); a != 1 || b != 1 || u != 1 {
		t.Fatalf("lengths %d/%d/%d, want one pod in each part and one in flight", a, b, u)
	}
	for _, n := range []string{"active", "backoff", "parked", "flight"} {
		q.Delete("default/" + n)
	}
	if a, b, u := q.Lengths(); a+b+u != 0 {
		t.Fatalf("lengths %d/%d/%d after deleting every pod", a, b, u)
	}
	// Handing back a pod deleted in flight is a no-op.
	q.AddBackoff(flight)
	q.AddUnschedulable(flight)
	q.Done(flight)
	clock.Step(time.Hour)
	if n := popName(t, q); n != "" {
		t.Fatalf("popped %s after it was deleted", n)
	}

	// An update replaces the queued version; one in flight is taken when
	// the pod is handed back.
	p := pendingPod("u", 0, clock.Now())
	q.Add(p)
	p2 := *p
	p2.ResourceVersion = "2"
	q.Update(&p2)
	e := tryPop(t, q)
	if e.Pod != &p2 {
		t.Fatal("the queued pod was not replaced by its update")
	}
	p3 := p2
	p3.Generation = 2
	q.Update(&p3)
	if e.Pod != &p2 {
		t.Fatal("a pod in flight changed under the scheduling cycle")
	}
	q.AddUnschedulable(e) // the spec changed meanwhile: not parked
	clock.Step(time.Second)
	if e := tryPop(t, q); e == nil || e.Pod != &p3 {
		t.Fatalf("popped %v, want the version updated in flight", e)
	}
}

// TestQueuePopSleeps checks that a waiting Pop neither spins nor sets
// timers it does not need: with nothing queued it sleeps with no timer at
// all; with one pod in back-off it sets one timer and wakes once.
func TestQueuePopSleeps(t *testing.T) {
	clock := newFakeClock()
	q := NewQueue(QueueOptions{Clock: clock})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan *QueuedPod)
	go func() {
		for {
			e, err := q.Pop(ctx)
			if err != nil {
				return
			}
			got <- e
		}
	}()
	time.Sleep(100 * time.Millisecond)
	q.mu.Lock()
	waits := q.waits
	q.mu.Unlock()
	if waits != 1 || clock.Created() != 0 {
		t.Fatalf("an empty queue went to sleep %d times with %d timers, want once with none", waits, clock.Created())
	}

	q.Add(pendingPod("p", 0, clock.Now()))
	e := <-got
	q.AddBackoff(e)
	deadline := time.Now().Add(5 * time.Second)
	for clock.Pending() != 1 {
		if time.Now().After(deadline) {
			t.Fatal("Pop set no timer for the back-off")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(50 * time.Millisecond)
	clock.Step(time.Second)
	select {
	case e = <-got:
	case <-time.After(5 * time.Second):
		t.Fatal("Pop did not wake when the back-off ended")
	}
	q.mu.Lock()
	waits = q.waits
	q.mu.Unlock()
	// Sleeps: empty at start, then after the first pop, then once per
	// back-off (the AddBackoff wake-up may add one).
	if waits > 4 || clock.Created() > 2 {
		t.Fatalf("Pop slept %d times and set %d timers for one back-off", waits, clock.Created())
	}
	if e.Attempts != 2 {
		t.Fatalf("attempts %d, want 2", e.Attempts)
	}
}

func TestQueuePopEndsWithTheContext(t *testing.T) {
	q := NewQueue(QueueOptions{})
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error)
	go func() {
		_, err := q.Pop(ctx)
		errc <- err
	}()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-errc:
		if err == nil {
			t.Fatal("Pop returned no error when its context ended")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pop did not return when its context ended")
	}
}
