package scheduler

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

// fakeClock is a Clock that moves only when told, and counts the timers
// made from it.
type fakeClock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*fakeTimer
	created int
}

func newFakeClock() *fakeClock {
	return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer(d time.Duration) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.created++
	t := &fakeTimer{c: c, ch: make(chan time.Time, 1), at: c.now.Add(d)}
	if d <= 0 {
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	return t
}

// Step moves the clock on and fires the timers that are due.
func (c *fakeClock) Step(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	kept := c.timers[:0]
	for _, t := range c.timers {
		if !t.at.After(c.now) {
			t.ch <- c.now
			continue
		}
		kept = append(kept, t)
	}
	c.timers = kept
}

// Created is the number of timers made so far.
func (c *fakeClock) Created() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.created
}

// Pending is the number of timers waiting to fire.
func (c *fakeClock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

type fakeTimer struct {
	c  *fakeClock
	ch chan time.Time
	at time.Time
}

func (t *fakeTimer) C() <-chan time.Time { return t.ch }

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	for i, x := range t.c.timers {
		if x == t {
			t.c.timers = append(t.c.timers[:i], t.c.timers[i+1:]...)
			return true
		}
	}
	return false
}

// fakeAPI is a Binder and a Writer that records calls and answers with
// the errors queued for them.
type fakeAPI struct {
	mu       sync.Mutex
	binds    []string // "ns/name->node"
	statuses []*api.Pod
	events   []*api.Event
	deleted  []string
	// bindErrs are returned by the next Bind calls, in order.
	bindErrs []error
	bound    chan string
}

func newFakeAPI() *fakeAPI { return &fakeAPI{bound: make(chan string, 100)} }

func (f *fakeAPI) Bind(_ context.Context, ns, name, _, node string) error {
	f.mu.Lock()
	var err error
	if len(f.bindErrs) > 0 {
		err, f.bindErrs = f.bindErrs[0], f.bindErrs[1:]
	}
	call := fmt.Sprintf("%s/%s->%s", ns, name, node)
	f.binds = append(f.binds, call)
	f.mu.Unlock()
	f.bound <- call
	return err
}

func (f *fakeAPI) UpdateStatus(_ context.Context, obj api.Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.statuses = append(f.statuses, obj.(*api.Pod))
	return nil
}

func (f *fakeAPI) Create(_ context.Context, obj api.Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, obj.(*api.Event))
	return nil
}

func (f *fakeAPI) Delete(_ context.Context, _ *api.KindInfo, ns, name string, _ client.DeleteOptions, _ api.Object) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.deleted = append(f.deleted, ns+"/"+name)
	return nil
}

func (f *fakeAPI) counts() (binds, statuses, events int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.binds), len(f.statuses), len(f.events)
}

func apiError(code int, reason api.StatusReason) error {
	return &api.Status{Status: "Failure", Code: int32(code), Reason: reason, Message: http.StatusText(code)}
}

// testProfile is the profile cloudd runs.
func testProfile() framework.Profile[*api.Pod, *nodeinfo.NodeInfo] {
	return plugins.NewPodProfile(plugins.Options{})
}
