// Package controllers holds the level-triggered reconcilers that keep the
// cluster equal to what was declared (replica sets, deployments, daemon
// sets, jobs, node lifecycle, namespaces, garbage collection), and the
// machinery they share: a de-duplicating work queue, watch-fed caches, a
// runner and leader election.
package controllers

import (
	"context"
	"sync"
	"time"
)

// Queue is a de-duplicating work queue after client-go's: a key waiting in
// the queue is queued once however often it is added (the dirty set), and
// a key being processed is not handed to a second worker; if it is added
// meanwhile it is queued again when the first worker calls Done. Failed
// keys come back after a per-key exponential back-off.
type Queue struct {
	mu         sync.Mutex
	cond       *sync.Cond
	order      []string
	dirty      map[string]bool
	processing map[string]bool
	failures   map[string]int
	timers     map[string]*time.Timer
	shutdown   bool

	baseDelay, maxDelay time.Duration
}

// NewQueue returns a queue whose retries back off from base (doubling) up
// to max.
func NewQueue(base, max time.Duration) *Queue {
	q := &Queue{
		dirty: map[string]bool{}, processing: map[string]bool{},
		failures: map[string]int{}, timers: map[string]*time.Timer{},
		baseDelay: base, maxDelay: max,
	}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// Add queues key unless it is already waiting.
func (q *Queue) Add(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.addLocked(key)
}

func (q *Queue) addLocked(key string) {
	if q.shutdown || q.dirty[key] {
		return
	}
	q.dirty[key] = true
	if q.processing[key] {
		return // queued again by Done
	}
	q.order = append(q.order, key)
	q.cond.Signal()
}

// AddAfter queues key after d (at once if d <= 0). A later AddAfter of the
// same key replaces an earlier one that has not fired, when it is sooner.
func (q *Queue) AddAfter(key string, d time.Duration) {
	if d <= 0 {
		q.Add(key)
		return
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.shutdown {
		return
	}
	if t, ok := q.timers[key]; ok {
		t.Stop()
	}
	q.timers[key] = time.AfterFunc(d, func() {
		q.mu.Lock()
		defer q.mu.Unlock()
		delete(q.timers, key)
		q.addLocked(key)
	})
}

// AddRateLimited queues key after its back-off, which doubles with every
// failure until Forget.
func (q *Queue) AddRateLimited(key string) {
	q.mu.Lock()
	n := q.failures[key]
	q.failures[key] = n + 1
	q.mu.Unlock()
	d := q.baseDelay
	for i := 0; i < n && d < q.maxDelay; i++ {
		d *= 2
	}
	q.AddAfter(key, min(d, q.maxDelay))
}

// Forget clears key's failure count (after a success).
func (q *Queue) Forget(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.failures, key)
}

// Failures is how many times key failed since it was last forgotten.
func (q *Queue) Failures(key string) int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.failures[key]
}

// Get blocks until a key is ready or the queue shuts down (ok false). The
// caller must call Done(key) when finished with it.
func (q *Queue) Get() (key string, ok bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for len(q.order) == 0 && !q.shutdown {
		q.cond.Wait()
	}
	if len(q.order) == 0 {
		return "", false
	}
	key = q.order[0]
	q.order[0] = ""
	q.order = q.order[1:]
	delete(q.dirty, key)
	q.processing[key] = true
	return key, true
}

// Done marks key as processed; if it was added meanwhile it is queued again.
func (q *Queue) Done(key string) {
	q.mu.Lock()
	defer q.mu.Unlock()
	delete(q.processing, key)
	if q.dirty[key] && !q.shutdown {
		q.order = append(q.order, key)
		q.cond.Signal()
	}
}

// Len is the number of keys waiting.
func (q *Queue) Len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.order)
}

// ShutDown wakes every Get, which then returns ok false: a shut-down queue
// hands out nothing more, and the keys still waiting are dropped (the
// next leader, or the next start, lists everything again).
func (q *Queue) ShutDown() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.shutdown = true
	q.order = nil
	for k, t := range q.timers {
		t.Stop()
		delete(q.timers, k)
	}
	q.cond.Broadcast()
}

// waitShutdown ties the queue's life to ctx.
func (q *Queue) waitShutdown(ctx context.Context) {
	<-ctx.Done()
	q.ShutDown()
}
