package scheduler

import (
	"container/heap"
	"container/list"
	"context"
	"maps"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// Queue defaults.
const (
	// DefaultInitialBackoff is the back-off after a pod's first failed attempt;
	// it doubles with every further attempt.
	DefaultInitialBackoff = time.Second
	// DefaultMaxBackoff bounds the back-off.
	DefaultMaxBackoff = 10 * time.Second
	// DefaultUnschedulableTimeout is how long a pod stays in the
	// unschedulable set with nothing relevant happening before it is tried
	// again anyway.
	DefaultUnschedulableTimeout = 5 * time.Minute
)

// QueueOptions tune a Queue; zero values take the defaults.
type QueueOptions struct {
	InitialBackoff       time.Duration
	MaxBackoff           time.Duration
	UnschedulableTimeout time.Duration
	Clock                Clock
}

// place says which part of the queue holds a pod.
type place uint8

const (
	inActive place = iota + 1
	inBackoff
	inUnschedulable
	// inFlight: popped, being scheduled or bound.
	inFlight
)

// QueuedPod is a pending pod and its scheduling history. The scheduling
// loop owns it between Pop and the call that hands it back (Done,
// AddUnschedulable, AddBackoff); Pod is not changed meanwhile.
type QueuedPod struct {
	Pod *api.Pod
	// Key is "namespace/name".
	Key      string
	Priority int32
	// Attempts counts the scheduling cycles the pod went through.
	Attempts int
	// FirstSeen is when the pod first entered the queue (the start of its
	// end-to-end scheduling latency).
	FirstSeen time.Time

	seq      uint64 // arrival order, the last tie-break
	created  time.Time
	where    place
	index    int       // in the active or backoff heap
	backoff  time.Time // when the back-off of the last attempt ends
	parkedAt time.Time // when it entered the unschedulable set
	elem     *list.Element
	cycle    int64 // the scheduling cycle that popped it
	// newer is the latest version seen while the pod was in flight, and
	// changed says that version may fit where the old one did not.
	newer   *api.Pod
	changed bool
}

// Queue holds the pods waiting to be scheduled: an active heap ordered by
// priority then creation time, a back-off heap of pods that failed and wait
// out their back-off, and an unschedulable set of pods that fit nowhere,
// retried when the cluster changes in a way that could make room (MoveAll)
// or after UnschedulableTimeout. Pop blocks until a pod is ready; nothing
// polls: a waiting Pop sleeps on one timer set to the next back-off or
// timeout deadline, or until a pod is added.
type Queue struct {
	opts  QueueOptions
	clock Clock

	mu      sync.Mutex
	pods    map[string]*QueuedPod // every pod the queue knows, in flight too
	active  podHeap
	backoff podHeap
	parked  *list.List // unschedulable pods, oldest first
	seq     uint64
	// cycle counts pops; moveCycle is the cycle during which MoveAll last
	// ran, so that a pod found unschedulable in a cycle during which the
	// cluster changed is retried instead of parked.
	cycle     int64
	moveCycle int64
	wake      chan struct{}
	// waits counts the times Pop went to sleep (tests check it stays small).
	waits int
}

// NewQueue returns an empty queue.
func NewQueue(opts QueueOptions) *Queue {
	if opts.InitialBackoff <= 0 {
		opts.InitialBackoff = DefaultInitialBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.UnschedulableTimeout <= 0 {
		opts.UnschedulableTimeout = DefaultUnschedulableTimeout
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	q := &Queue{opts: opts, clock: opts.Clock, pods: map[string]*QueuedPod{}, parked: list.New(), wake: make(chan struct{}, 1), moveCycle: -1}
	q.active.less = func(a, b *QueuedPod) bool {
		if a.Priority != b.Priority {
			return a.Priority > b.Priority
		}
		if !a.created.Equal(b.created) {
			return a.created.Before(b.created)
		}
		return a.seq < b.seq
	}
	q.backoff.less = func(a, b *QueuedPod) bool {
		if !a.backoff.Equal(b.backoff) {
			return a.backoff.Before(b.backoff)
		}
		return a.seq < b.seq
	}
	return q
}

// PodKey is "namespace/name".
func PodKey(p *api.Pod) string { return p.Namespace + "/" + p.Name }

// Add queues a pending pod, or updates it if the queue has it (see Update).
func (q *Queue) Add(p *api.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	key := PodKey(p)
	if e := q.pods[key]; e != nil {
		q.updateLocked(e, p)
		return
	}
	q.seq++
	e := &QueuedPod{Pod: p, Key: key, Priority: api.PodPriority(p), FirstSeen: q.clock.Now(), seq: q.seq, created: p.CreationTimestamp.Time}
	q.pods[key] = e
	q.pushActiveLocked(e)
}

// Update replaces a queued pod with a newer version. A pod parked as
// unschedulable whose spec or labels changed is retried; a status-only
// change (such as the scheduler's own condition) leaves it where it is.
func (q *Queue) Update(p *api.Pod) { q.Add(p) }

func (q *Queue) updateLocked(e *QueuedPod, p *api.Pod) {
	mayHelp := mayFitNow(e.Pod, p)
	switch e.where {
	case inFlight:
		e.newer = p
		e.changed = e.changed || mayHelp
	case inActive:
		e.Pod, e.Priority = p, api.PodPriority(p)
		heap.Fix(&q.active, e.index)
	case inBackoff:
		e.Pod, e.Priority = p, api.PodPriority(p)
	case inUnschedulable:
		e.Pod, e.Priority = p, api.PodPriority(p)
		if mayHelp {
			q.parked.Remove(e.elem)
			e.elem = nil
			q.moveLocked(e, q.clock.Now())
		}
	}
}

// mayFitNow reports whether a pod's update may change where it fits: its
// spec (the generation counts spec changes) or its labels changed.
func mayFitNow(old, p *api.Pod) bool {
	return old.Generation != p.Generation || !maps.Equal(old.Labels, p.Labels)
}

// Delete forgets a pod: deleted, bound (by anyone), or no longer this
// scheduler's. A pod in flight is forgotten too; handing it back is then
// a no-op.
func (q *Queue) Delete(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	e := q.pods[key]
	if e == nil {
		return
	}
	delete(q.pods, key)
	switch e.where {
	case inActive:
		heap.Remove(&q.active, e.index)
	case inBackoff:
		heap.Remove(&q.backoff, e.index)
	case inUnschedulable:
		q.parked.Remove(e.elem)
		e.elem = nil
	}
	e.where = 0
}

// Pop returns the highest-priority pod ready to be scheduled, waiting
// until there is one or ctx ends.
func (q *Queue) Pop(ctx context.Context) (*QueuedPod, error) {
	for {
		q.mu.Lock()
		now := q.clock.Now()
		q.flushLocked(now)
		if q.active.Len() > 0 {
			e := heap.Pop(&q.active).(*QueuedPod)
			q.cycle++
			e.cycle = q.cycle
			e.Attempts++
			e.where = inFlight
			e.changed = false
			q.mu.Unlock()
			return e, nil
		}
		wait, timed := q.nextDeadlineLocked(now)
		q.waits++
		q.mu.Unlock()
		var t Timer
		var fire <-chan time.Time
		if timed {
			t = q.clock.NewTimer(wait)
			fire = t.C()
		}
		select {
		case <-q.wake:
		case <-fire:
		case <-ctx.Done():
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
	}
}

// Done hands back a pod that was bound, or is to be dropped.
func (q *Queue) Done(e *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.pods[e.Key] == e && e.where == inFlight {
		delete(q.pods, e.Key)
		e.where = 0
	}
}

// AddUnschedulable hands back a pod that fit on no node. It is parked
// until something relevant changes, unless something did while it was
// being scheduled (then it only waits out its back-off).
func (q *Queue) AddUnschedulable(e *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.takeBackLocked(e) {
		return
	}
	now := q.clock.Now()
	if e.changed || q.moveCycle >= e.cycle {
		q.moveLocked(e, now)
		return
	}
	e.where = inUnschedulable
	e.parkedAt = now
	e.elem = q.parked.PushBack(e)
	q.signal() // a new timeout deadline
}

// AddBackoff hands back a pod whose attempt failed (a bind conflict, an
// error); it is retried once its back-off has passed.
func (q *Queue) AddBackoff(e *QueuedPod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.takeBackLocked(e) {
		return
	}
	q.pushBackoffLocked(e)
}

// takeBackLocked applies what happened while e was in flight and sets its
// back-off; false if the queue no longer wants it.
func (q *Queue) takeBackLocked(e *QueuedPod) bool {
	if q.pods[e.Key] != e || e.where != inFlight {
		return false
	}
	if e.newer != nil {
		e.Pod, e.Priority, e.newer = e.newer, api.PodPriority(e.newer), nil
	}
	e.backoff = q.clock.Now().Add(q.backoffFor(e.Attempts))
	return true
}

func (q *Queue) backoffFor(attempts int) time.Duration {
	d := q.opts.InitialBackoff
	for i := 1; i < attempts && d < q.opts.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, q.opts.MaxBackoff)
}

// MoveAll retries every unschedulable pod: something happened that could
// make room (a node added or freed, a pod deleted). Pods still in their
// back-off wait it out first.
func (q *Queue) MoveAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveCycle = q.cycle
	if q.parked.Len() == 0 {
		return
	}
	now := q.clock.Now()
	for el := q.parked.Front(); el != nil; {
		next := el.Next()
		e := el.Value.(*QueuedPod)
		q.parked.Remove(el)
		e.elem = nil
		q.moveLocked(e, now)
		el = next
	}
}

// Lengths returns the number of pods in each part of the queue.
func (q *Queue) Lengths() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), q.parked.Len()
}

// moveLocked sends a pod out of the unschedulable set (or flight) to the
// back-off heap, or straight to the active heap if its back-off is over.
func (q *Queue) moveLocked(e *QueuedPod, now time.Time) {
	if e.backoff.After(now) {
		q.pushBackoffLocked(e)
	} else {
		q.pushActiveLocked(e)
	}
}

func (q *Queue) pushActiveLocked(e *QueuedPod) {
	e.where = inActive
	heap.Push(&q.active, e)
	q.signal()
}

func (q *Queue) pushBackoffLocked(e *QueuedPod) {
	e.where = inBackoff
	heap.Push(&q.backoff, e)
	q.signal()
}

// flushLocked moves the pods whose back-off is over to the active heap,
// and the pods parked for longer than the timeout out of the set.
func (q *Queue) flushLocked(now time.Time) {
	for q.backoff.Len() > 0 && !q.backoff.items[0].backoff.After(now) {
		e := heap.Pop(&q.backoff).(*QueuedPod)
		e.where = inActive
		heap.Push(&q.active, e)
	}
	for el := q.parked.Front(); el != nil; el = q.parked.Front() {
		e := el.Value.(*QueuedPod)
		if now.Sub(e.parkedAt) < q.opts.UnschedulableTimeout {
			break
		}
		q.parked.Remove(el)
		e.elem = nil
		q.moveLocked(e, now)
	}
}

// nextDeadlineLocked is how long until a back-off ends or a parked pod
// times out; false if nothing is waiting on time.
func (q *Queue) nextDeadlineLocked(now time.Time) (time.Duration, bool) {
	var next time.Time
	if q.backoff.Len() > 0 {
		next = q.backoff.items[0].backoff
	}
	if el := q.parked.Front(); el != nil {
		t := el.Value.(*QueuedPod).parkedAt.Add(q.opts.UnschedulableTimeout)
		if next.IsZero() || t.Before(next) {
			next = t
		}
	}
	if next.IsZero() {
		return 0, false
	}
	return max(next.Sub(now), 0), true
}

// signal wakes a waiting Pop; it never blocks.
func (q *Queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// podHeap is a binary heap of pods that keeps each pod's index.
type podHeap struct {
	items []*QueuedPod
	less  func(a, b *QueuedPod) bool
}

func (h *podHeap) Len() int           { return len(h.items) }
func (h *podHeap) Less(i, j int) bool { return h.less(h.items[i], h.items[j]) }
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	e := x.(*QueuedPod)
	e.index = len(h.items)
	h.items = append(h.items, e)
}
func (h *podHeap) Pop() any {
	n := len(h.items) - 1
	e := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	e.index = -1
	return e
}
