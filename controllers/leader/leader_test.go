package leader

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/store"
)

// candidate runs Run on its own etcd client and records its terms.
type candidate struct {
	name    string
	client  *clientv3.Client
	cancel  context.CancelFunc
	done    chan struct{}
	elected chan struct{} // closed at the first election
	lost    chan struct{} // closed when the first term's ctx ends
	once    sync.Once
}

func startEtcd(t *testing.T) *store.Embedded {
	t.Helper()
	e, err := store.StartEmbedded(store.EmbeddedConfig{Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(e.Close)
	return e
}

// leading counts candidates inside their lead function at once.
type leading struct {
	now, max atomic.Int32
}

func campaign(t *testing.T, e *store.Embedded, name string, l *leading) *candidate {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{e.ClientURL}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	c := &candidate{name: name, client: cli, done: make(chan struct{}),
		elected: make(chan struct{}), lost: make(chan struct{})}
	ctx, cancel := context.WithCancel(context.Background())
	c.cancel = cancel
	go func() {
		defer close(c.done)
		err := Run(ctx, Config{Client: c.client, Prefix: "/test/election", Identity: name, TTL: 2 * time.Second, RetryDelay: 100 * time.Millisecond},
			func(lctx context.Context) {
				n := l.now.Add(1)
				for {
					m := l.max.Load()
					if n <= m || l.max.CompareAndSwap(m, n) {
						break
					}
				}
				first := false
				c.once.Do(func() { first = true; close(c.elected) })
				<-lctx.Done()
				l.now.Add(-1)
				if first {
					close(c.lost)
				}
			})
		if err != nil {
			t.Errorf("%s: Run: %v", name, err)
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-c.done
		_ = c.client.Close()
	})
	return c
}

// firstElected waits for one of cs to be elected and returns it.
func firstElected(t *testing.T, within time.Duration, cs ...*candidate) *candidate {
	t.Helper()
	deadline := time.After(within)
	for {
		for _, c := range cs {
			select {
			case <-c.elected:
				return c
			default:
			}
		}
		select {
		case <-deadline:
			t.Fatalf("no candidate elected within %s", within)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func TestExactlyOneLeads(t *testing.T) {
	e := startEtcd(t)
	var l leading
	a, b := campaign(t, e, "a", &l), campaign(t, e, "b", &l)
	won := firstElected(t, 10*time.Second, a, b)
	time.Sleep(3 * time.Second) // more than a TTL: the lease is kept alive
	if n := l.max.Load(); n != 1 {
		t.Fatalf("%d candidates led at once, want 1", n)
	}
	other := a
	if won == a {
		other = b
	}
	select {
	case <-other.elected:
		t.Fatalf("%s was elected while %s leads", other.name, won.name)
	default:
	}
	cur, err := Current(context.Background(), e.Client(), "/test/election")
	if err != nil {
		t.Fatal(err)
	}
	if cur != won.name {
		t.Fatalf("Current = %q, want %q", cur, won.name)
	}
}

// TestHandoverOnCrash closes the leader's etcd client (its process died:
// no more keep-alives, nothing revoked); the other candidate must lead
// once the lease expires, and the old leader's context must end.
func TestHandoverOnCrash(t *testing.T) {
	e := startEtcd(t)
	var l leading
	a, b := campaign(t, e, "a", &l), campaign(t, e, "b", &l)
	won := firstElected(t, 10*time.Second, a, b)
	other := a
	if won == a {
		other = b
	}
	start := time.Now()
	_ = won.client.Close()
	select {
	case <-won.lost:
	case <-time.After(10 * time.Second):
		t.Fatal("the crashed leader's context did not end")
	}
	select {
	case <-other.elected:
		t.Logf("handover after %s (TTL 2s)", time.Since(start))
	case <-time.After(15 * time.Second):
		t.Fatal("no handover within 15s of the leader's crash")
	}
	if n := l.max.Load(); n != 1 {
		t.Fatalf("%d candidates led at once, want 1", n)
	}
}

// TestHandoverOnStop stops the leader cleanly: it resigns (revokes its
// lease), so the other leads at once, without waiting for the TTL.
func TestHandoverOnStop(t *testing.T) {
	e := startEtcd(t)
	var l leading
	a, b := campaign(t, e, "a", &l), campaign(t, e, "b", &l)
	won := firstElected(t, 10*time.Second, a, b)
	other := a
	if won == a {
		other = b
	}
	won.cancel()
	<-won.done
	select {
	case <-other.elected:
	case <-time.After(10 * time.Second):
		t.Fatal("no handover within 10s of the leader's stop")
	}
	if n := l.max.Load(); n != 1 {
		t.Fatalf("%d candidates led at once, want 1", n)
	}
}

// TestLeadReturnsCampaignsAgain: a lead function that returns early gives
// the leadership up and the candidate may be elected again.
func TestLeadReturnsCampaignsAgain(t *testing.T) {
	e := startEtcd(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var terms atomic.Int32
	done := make(chan error, 1)
	go func() {
		done <- Run(ctx, Config{Client: e.Client(), Prefix: "/test/again", Identity: "x", TTL: 2 * time.Second},
			func(lctx context.Context) {
				if terms.Add(1) == 3 {
					cancel()
				}
			})
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("after 20s only %d terms", terms.Load())
	}
}

func TestConfigErrors(t *testing.T) {
	if err := Run(context.Background(), Config{}, func(context.Context) {}); err == nil {
		t.Fatal("no error without a client")
	}
}
