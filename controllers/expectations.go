package controllers

import (
	"sync"
	"time"
)

// Expectations remember, per owner key, the pods a controller created or
// deleted and has not yet seen in its cache. While some are pending the
// controller does not create or delete more: its cache may be behind its
// own writes, and acting on it could create more pods than declared. They
// expire after a TTL in case an event is never seen (the pod was created
// and deleted before the watch delivered it). Nothing here outlives the
// process: after a restart the cache is freshly listed, so it is current.
type Expectations struct {
	mu    sync.Mutex
	ttl   time.Duration
	now   func() time.Time
	items map[string]*expectation
}

type expectation struct {
	creates map[string]bool // pod names created, not yet in the cache
	deletes map[string]bool // pod names deleted, still active in the cache
	at      time.Time
}

// NewExpectations returns empty expectations that expire ttl after the
// last write recorded for a key, timed by now (nil: the wall clock).
func NewExpectations(ttl time.Duration, now func() time.Time) *Expectations {
	if now == nil {
		now = time.Now
	}
	return &Expectations{ttl: ttl, now: now, items: map[string]*expectation{}}
}

func (e *Expectations) get(key string) *expectation {
	x := e.items[key]
	if x == nil {
		x = &expectation{creates: map[string]bool{}, deletes: map[string]bool{}}
		e.items[key] = x
	}
	return x
}

// Created records a pod created for key.
func (e *Expectations) Created(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	x.creates[pod], x.at = true, e.now()
}

// Deleted records a pod deleted for key.
func (e *Expectations) Deleted(key, pod string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.get(key)
	x.deletes[pod], x.at = true, e.now()
}

// Satisfied reports whether the cache shows every write made for key:
// seen(name) tells whether the pod is in the cache, active(name) whether
// it is there and still counts.
func (e *Expectations) Satisfied(key string, seen, active func(name string) bool) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := e.items[key]
	if x == nil {
		return true
	}
	for n := range x.creates {
		if seen(n) {
			delete(x.creates, n)
		}
	}
	for n := range x.deletes {
		if !active(n) {
			delete(x.deletes, n)
		}
	}
	if len(x.creates) == 0 && len(x.deletes) == 0 || e.now().Sub(x.at) > e.ttl {
		delete(e.items, key)
		return true
	}
	return false
}

// Forget drops what was expected for key.
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.items, key)
}
