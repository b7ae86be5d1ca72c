package controllerstest

import (
	"context"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// WaitTimeout is how long WaitFor waits before failing the test.
const WaitTimeout = 45 * time.Second

// WaitFor polls cond every 20ms until it holds, failing the test with
// "timed out waiting for what" after WaitTimeout.
func WaitFor(t testing.TB, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(WaitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// FakeClock is a clock a test moves by hand; its Now suits the
// controllers' Clock interfaces and func() time.Time fields.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a clock standing at t.
func NewFakeClock(t time.Time) *FakeClock { return &FakeClock{now: t} }

// Now is the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Set moves the clock to t.
func (c *FakeClock) Set(t time.Time) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = t
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// RunManager runs a controller manager acting through cl, with the
// controllers that setups register on it, until stop is called or the
// test ends. A setup's error fails the test.
func RunManager(t testing.TB, cl *client.Client, log *slog.Logger, setups ...func(*controllers.Manager) error) (stop func()) {
	t.Helper()
	m := controllers.NewManager(cl, log)
	for _, setup := range setups {
		if err := setup(m); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}
