package apiserver

import (
	"context"
	"encoding/json"
	"log/slog"
	"math"
	"strconv"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// cachedEvent is one change as every watcher of the kind will see it,
// decoded once and encoded once.
type cachedEvent struct {
	typ  store.EventType
	obj  api.Object
	prev api.Object // nil for creates, or when etcd no longer had it
	rev  int64
	ns   string // namespace, or the name for Namespace objects
	line []byte // {"type":...,"object":...}\n
}

// cacher keeps one etcd watch per kind and fans its events out to the API
// watchers of that kind, so a thousand watchers cost one etcd watch, one
// decode and one encode per event instead of a thousand of each (the
// Kubernetes API server's watch cache plays the same part).
type cacher struct {
	kind  *api.KindInfo
	store *store.Store
	log   *slog.Logger
	// capacity is how many recent events are kept, so that watchers
	// resuming from a recent revision are served from memory.
	capacity int

	mu sync.Mutex
	// buf holds the last events in revision order; together they are every
	// change after revision complete.
	buf      ring
	complete int64
	watchers map[*cacheWatcher]struct{}
	started  chan struct{}
}

// cacheWatcher is one API watcher fed by a cacher.
type cacheWatcher struct {
	after int64 // deliver only events after this revision
	ch    chan *cachedEvent
	// closed is set when the watcher fell too far behind or the cacher
	// restarted; the stream then ends and the client resumes.
	closed bool
}

func newCacher(k *api.KindInfo, st *store.Store, log *slog.Logger, capacity int) *cacher {
	return &cacher{kind: k, store: st, log: log, capacity: capacity, watchers: map[*cacheWatcher]struct{}{}, started: make(chan struct{})}
}

// run follows the kind's prefix in etcd until ctx ends, restarting from
// the current revision if the etcd watch breaks.
func (c *cacher) run(ctx context.Context) {
	prefix := storePrefix(c.kind, "")
	keepAll := func(api.Object) bool { return true } // a filter makes the store decode the previous state too
	first := true
	for ctx.Err() == nil {
		rev, err := c.store.CurrentRevision(ctx)
		var ch <-chan store.Event
		if err == nil {
			ch, err = c.store.Watch(ctx, prefix, rev, c.kind.New, keepAll)
		}
		if err != nil {
			c.log.Warn("watch cache: start", "resource", c.kind.Resource, "err", err)
			if !sleepCtx(ctx, time.Second) {
				return
			}
			continue
		}
		c.mu.Lock()
		c.buf.reset(c.capacity)
		c.complete = rev
		c.mu.Unlock()
		if first {
			close(c.started)
			first = false
		}
		for ev := range ch {
			if ev.Type == store.Error {
				c.log.Warn("watch cache: etcd watch ended", "resource", c.kind.Resource, "err", ev.Err)
				break
			}
			c.dispatch(c.cache(ev))
		}
		c.closeWatchers()
	}
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// cache turns a store event into its shared form.
func (c *cacher) cache(ev store.Event) *cachedEvent {
	m := ev.Object.GetObjectMeta()
	rev, _ := strconv.ParseInt(m.ResourceVersion, 10, 64)
	ce := &cachedEvent{typ: ev.Type, obj: ev.Object, prev: ev.Prev, rev: rev, ns: m.Namespace}
	if c.kind.Kind == "Namespace" {
		ce.ns = m.Name
	}
	if ev.Type == store.Deleted {
		ce.prev = nil // the object itself is the last state
	}
	ce.line, _ = json.Marshal(watchEvent{Type: ev.Type, Object: ev.Object})
	ce.line = append(ce.line, '\n')
	return ce
}

func (c *cacher) dispatch(ev *cachedEvent) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if old := c.buf.push(ev); old != nil {
		c.complete = old.rev
	}
	for w := range c.watchers {
		if ev.rev <= w.after {
			continue
		}
		select {
		case w.ch <- ev:
		default:
			c.dropLocked(w) // too slow: end its stream; the client resumes from its last event
		}
	}
}

func (c *cacher) dropLocked(w *cacheWatcher) {
	if !w.closed {
		w.closed = true
		close(w.ch)
		delete(c.watchers, w)
	}
}

// closeWatchers ends every watcher when the etcd watch broke. Until the
// cache restarts, it holds no complete history: watchers that resume
// meanwhile go to etcd.
func (c *cacher) closeWatchers() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.complete = math.MaxInt64
	for w := range c.watchers {
		c.dropLocked(w)
	}
}

// watch registers a watcher of every change after revision after. It
// returns false when the cache no longer holds that history; the caller
// then watches etcd directly (which answers 410 if it is compacted).
func (c *cacher) watch(ctx context.Context, after int64) (*cacheWatcher, bool) {
	// A cache that cannot start (etcd down at boot) must not hold watches
	// up: after a short wait they go to etcd, which answers for itself.
	t := time.NewTimer(5 * time.Second)
	defer t.Stop()
	select {
	case <-c.started:
	case <-ctx.Done():
		return nil, false
	case <-t.C:
		return nil, false
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if after < c.complete {
		return nil, false
	}
	w := &cacheWatcher{after: after, ch: make(chan *cachedEvent, 1024+c.buf.len())}
	c.buf.each(func(ev *cachedEvent) {
		if ev.rev > after {
			w.ch <- ev
		}
	})
	// Events that happened up to "after" but have not reached the cache
	// yet are skipped by dispatch, so nothing is seen twice.
	c.watchers[w] = struct{}{}
	return w, true
}

// stop unregisters a watcher.
func (c *cacher) stop(w *cacheWatcher) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.dropLocked(w)
}

// cacherFor returns the running cacher of kind k, starting it if needed.
func (s *Server) cacherFor(k *api.KindInfo) *cacher {
	s.cachersMu.Lock()
	defer s.cachersMu.Unlock()
	c, ok := s.cachers[k]
	if !ok {
		c = newCacher(k, s.store, s.log, s.cacheSize)
		s.cachers[k] = c
		go c.run(s.bgCtx)
	}
	return c
}

// filterCached applies a watcher's filter to a shared event, with the same
// rules as store.Watch: an object that starts matching is ADDED, one that
// stops matching is DELETED. same is true when the event goes out as the
// cacher encoded it.
func filterCached(ev *cachedEvent, keep func(api.Object) bool) (typ store.EventType, same, ok bool) {
	if keep == nil {
		return ev.typ, true, true
	}
	if ev.typ == store.Deleted {
		return ev.typ, true, keep(ev.obj)
	}
	curOK := keep(ev.obj)
	prevOK := ev.prev != nil && keep(ev.prev)
	switch {
	case curOK && (ev.typ == store.Added || !prevOK):
		return store.Added, ev.typ == store.Added, true
	case curOK:
		return store.Modified, true, true
	case prevOK:
		return store.Deleted, false, true
	}
	return "", false, false
}

// ring is a fixed-capacity queue of events: pushing onto a full ring
// evicts the oldest.
type ring struct {
	items []*cachedEvent
	head  int // index of the oldest
	n     int
}

func (r *ring) reset(capacity int) {
	r.items, r.head, r.n = make([]*cachedEvent, capacity), 0, 0
}

// push appends ev and returns the event it evicted, if any.
func (r *ring) push(ev *cachedEvent) (evicted *cachedEvent) {
	if r.n == len(r.items) {
		evicted = r.items[r.head]
		r.items[r.head] = ev
		r.head = (r.head + 1) % len(r.items)
		return evicted
	}
	r.items[(r.head+r.n)%len(r.items)] = ev
	r.n++
	return nil
}

func (r *ring) len() int { return r.n }

// each calls fn on the events from oldest to newest.
func (r *ring) each(fn func(*cachedEvent)) {
	for i := 0; i < r.n; i++ {
		fn(r.items[(r.head+i)%len(r.items)])
	}
}
