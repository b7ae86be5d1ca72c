package scheduler

import (
	"context"
	"net/http"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/cloudmgr/cloud/api"
)

// loop is a scheduler fed by hand (no watches) with a fake API and clock.
type loop struct {
	s     *Scheduler
	api   *fakeAPI
	clock *fakeClock
	stop  func()
}

func startLoop(t *testing.T, nodes ...*api.Node) *loop {
	t.Helper()
	f, clock := newFakeAPI(), newFakeClock()
	s, err := New(Config{Profile: testProfile(), Binder: f, Writer: f, Clock: clock, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nodes {
		s.NodeHandler().OnAdd(n)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- s.Schedule(ctx) }()
	l := &loop{s: s, api: f, clock: clock, stop: func() { cancel(); <-done }}
	t.Cleanup(l.stop)
	return l
}

func (l *loop) nextBind(t *testing.T) string {
	t.Helper()
	select {
	case b := <-l.api.bound:
		return b
	case <-time.After(10 * time.Second):
		t.Fatal("no binding was written")
		return ""
	}
}

func (l *loop) noBind(t *testing.T) {
	t.Helper()
	select {
	case b := <-l.api.bound:
		t.Fatalf("unexpected binding %s", b)
	case <-time.After(100 * time.Millisecond):
	}
}

// waitFor polls cond (the loop runs on its own goroutines).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func (l *loop) attempts(result string) int {
	var m dto.Metric
	if err := l.s.metrics.attempts.WithLabelValues(result).Write(&m); err != nil {
		panic(err)
	}
	return int(m.GetCounter().GetValue())
}

func TestSchedulerBindsAndTheWatchConfirms(t *testing.T) {
	l := startLoop(t, testNode("n1", "hv1", "4", "8Gi"))
	p := requestPod("web", "1", "1Gi")
	l.s.PodHandler().OnAdd(p)
	if got := l.nextBind(t); got != "default/web->n1" {
		t.Fatalf("bound %s", got)
	}
	waitFor(t, "the bind to finish", func() bool { return l.attempts(ResultScheduled) == 1 })
	if !l.s.cache.IsAssumed("default/web") {
		t.Fatal("the pod does not count on its node while the watch has not shown it")
	}
	bound := *p
	bound.Spec.NodeName = "n1"
	l.s.PodHandler().OnUpdate(p, &bound)
	if l.s.cache.IsAssumed("default/web") {
		t.Fatal("the watch did not confirm the pod")
	}
	if node, _ := l.s.cache.NodeOf("default/web"); node != "n1" {
		t.Fatalf("pod on %q, want n1", node)
	}
	if a, b, u := l.s.queue.Lengths(); a+b+u != 0 {
		t.Fatalf("queue %d/%d/%d after the binding", a, b, u)
	}
}

func TestSchedulerRetriesAConflictAndDropsAGonePod(t *testing.T) {
	l := startLoop(t, testNode("n1", "hv1", "4", "8Gi"))
	l.api.bindErrs = []error{apiError(http.StatusConflict, api.StatusReasonConflict)}
	l.s.PodHandler().OnAdd(requestPod("web", "1", "1Gi"))
	l.nextBind(t)
	waitFor(t, "the pod in back-off", func() bool { _, b, _ := l.s.queue.Lengths(); return b == 1 })
	if _, placed := l.s.cache.NodeOf("default/web"); placed {
		t.Fatal("a failed binding was not forgotten")
	}
	l.noBind(t) // not before its back-off
	l.clock.Step(time.Second)
	if got := l.nextBind(t); got != "default/web->n1" {
		t.Fatalf("retry bound %s", got)
	}

	l.api.mu.Lock()
	l.api.bindErrs = []error{apiError(http.StatusNotFound, api.StatusReasonNotFound)}
	l.api.mu.Unlock()
	l.s.PodHandler().OnAdd(requestPod("gone", "1", "1Gi"))
	l.nextBind(t)
	waitFor(t, "the failure to be counted", func() bool { return l.attempts(ResultError) == 2 })
	l.clock.Step(time.Minute)
	l.noBind(t)
	if a, b, u := l.s.queue.Lengths(); a+b+u != 0 {
		t.Fatalf("a pod that is gone is still queued (%d/%d/%d)", a, b, u)
	}
	if _, placed := l.s.cache.NodeOf("default/gone"); placed {
		t.Fatal("a pod that is gone still counts on its node")
	}
}

func TestSchedulerReportsAnUnschedulablePodOnce(t *testing.T) {
	node := testNode("n1", "hv1", "1", "8Gi")
	l := startLoop(t, node)
	p := requestPod("big", "8", "1Gi")
	l.s.PodHandler().OnAdd(p)
	waitFor(t, "the condition and the event", func() bool { _, s, e := l.api.counts(); return s == 1 && e == 1 })
	l.api.mu.Lock()
	st, ev := l.api.statuses[0], l.api.events[0]
	l.api.mu.Unlock()
	const want = "0/1 nodes are available: 1 Insufficient cpu."
	c := api.PodConditionByType(&st.Status, api.PodScheduled)
	if c == nil || c.Status != api.ConditionFalse || c.Reason != api.PodReasonUnschedulable || c.Message != want {
		t.Fatalf("condition %+v, want PodScheduled=False Unschedulable %q", c, want)
	}
	if ev.Reason != ReasonFailedScheduling || ev.Type != api.EventTypeWarning || ev.Message != want || ev.InvolvedObject.Name != "big" {
		t.Fatalf("event %+v", ev)
	}
	if _, _, u := l.s.queue.Lengths(); u != 1 {
		t.Fatal("the pod is not in the unschedulable set")
	}
	// The watch brings the pod with its condition; a node change that
	// frees nothing relevant, then one that does, retries it: the same
	// message is not written again, and no second event within the minute.
	l.s.PodHandler().OnUpdate(p, st)
	usage := *node
	usage.Status.Usage = &api.NodeUsage{Node: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("100m")}}
	l.s.NodeHandler().OnUpdate(node, &usage)
	if _, _, u := l.s.queue.Lengths(); u != 1 {
		t.Fatal("a usage report retried the unschedulable pod")
	}
	relabeled := usage
	relabeled.Labels = map[string]string{api.LabelHypervisor: "hv2"}
	l.s.NodeHandler().OnUpdate(&usage, &relabeled)
	l.clock.Step(time.Second)
	waitFor(t, "the retry", func() bool { return l.attempts(ResultUnschedulable) == 2 })
	waitFor(t, "the pod parked again", func() bool { _, _, u := l.s.queue.Lengths(); return u == 1 })
	if _, s, e := l.api.counts(); s != 1 || e != 1 {
		t.Fatalf("%d condition writes and %d events, want 1 and 1", s, e)
	}

	// A node with room: placed.
	l.s.NodeHandler().OnAdd(testNode("n2", "hv2", "16", "32Gi"))
	l.clock.Step(2 * time.Second)
	if got := l.nextBind(t); got != "default/big->n2" {
		t.Fatalf("bound %s", got)
	}
}

func withPriority(p *api.Pod, prio int32) *api.Pod {
	p.Spec.Priority = &prio
	return p
}

// TestSchedulerPreempts: a high-priority pod that fits nowhere evicts the
// fewest lower-priority pods, is nominated to their node, holds that room
// against a lower-priority pod that arrives meanwhile, and is placed there
// once the victims are gone.
func TestSchedulerPreempts(t *testing.T) {
	l := startLoop(t, testNode("n1", "hv1", "4", "8Gi"))
	low := map[string]*api.Pod{}
	for _, name := range []string{"low-a", "low-b", "low-c", "low-d"} {
		p := withPriority(boundPod(name, "n1", "1"), 0)
		low["default/"+name] = p
		l.s.PodHandler().OnAdd(p)
	}
	high := withPriority(requestPod("high", "2", "1Gi"), 1000)
	l.s.PodHandler().OnAdd(high)
	waitFor(t, "two victims evicted", func() bool {
		l.api.mu.Lock()
		defer l.api.mu.Unlock()
		return len(l.api.deleted) == 2
	})
	waitFor(t, "the nomination written", func() bool { _, s, _ := l.api.counts(); return s == 1 })
	l.api.mu.Lock()
	victims, st := append([]string(nil), l.api.deleted...), l.api.statuses[0]
	l.api.mu.Unlock()
	if st.Name != "high" || st.Status.NominatedNodeName != "n1" {
		t.Fatalf("status written for %s nominated to %q, want high on n1", st.Name, st.Status.NominatedNodeName)
	}
	waitFor(t, "the Preempted events", func() bool {
		l.api.mu.Lock()
		defer l.api.mu.Unlock()
		n := 0
		for _, e := range l.api.events {
			if e.Reason == ReasonPreempted {
				n++
			}
		}
		return n == 2
	})
	if _, placed := l.s.cache.NodeOf("default/high"); placed {
		t.Fatal("the preemptor was placed before its victims left")
	}

	// The victims go (their node stopped them); before the preemptor's
	// back-off ends, a low-priority pod arrives: the room is held.
	for _, v := range victims {
		l.s.PodHandler().OnDelete(low[v])
	}
	l.s.PodHandler().OnAdd(withPriority(requestPod("late", "1", "1Gi"), 0))
	waitFor(t, "the late pod found unschedulable", func() bool { return l.attempts(ResultUnschedulable) == 2 })
	l.clock.Step(time.Second)
	if got := l.nextBind(t); got != "default/high->n1" {
		t.Fatalf("bound %s, want high on n1", got)
	}
	l.noBind(t)
}
