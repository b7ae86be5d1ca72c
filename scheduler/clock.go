// Package scheduler places pending pods on nodes: a priority queue of the
// pods to place (with back-off and a set of unschedulable pods retried when
// the cluster changes), a watch-fed cache of nodes and the pods on them
// from which each scheduling cycle takes an incremental snapshot, and the
// loop that runs the placement framework (scheduler/framework) over that
// snapshot and binds pods through the API on a pool of goroutines; a pod
// that fits nowhere may preempt lower-priority pods (scheduler/preempt) and
// is told why through its PodScheduled condition and an event.
package scheduler

import "time"

// Clock is the time the queue and the cache read, so tests can drive it.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock.
type Timer interface {
	C() <-chan time.Time
	Stop() bool
}

// RealClock is the wall clock.
type RealClock struct{}

// Now returns time.Now().
func (RealClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (RealClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (r realTimer) C() <-chan time.Time { return r.t.C }
func (r realTimer) Stop() bool          { return r.t.Stop() }
