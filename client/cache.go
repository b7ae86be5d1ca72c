package client

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// Handler is told of changes seen by a Cache. Any field may be nil. Calls
// come one at a time from the cache's Run goroutine.
type Handler struct {
	OnAdd    func(obj api.Object)
	OnUpdate func(old, obj api.Object)
	OnDelete func(obj api.Object)
}

// Cache keeps a local copy of the objects of one kind, fed by a list and
// then a watch, relisting when the watch falls too far behind (410). It is
// the informer the controllers and the node agent share.
type Cache struct {
	c         *Client
	kind      *api.KindInfo
	namespace string
	opts      ListOptions
	log       *slog.Logger

	mu       sync.RWMutex
	items    map[string]api.Object
	rv       string
	handlers []Handler
	synced   chan struct{}
}

// NewCache returns a cache of kind k in namespace ("" for all) narrowed by
// the selectors in opts. Call Run to fill it.
func NewCache(c *Client, k *api.KindInfo, namespace string, opts ListOptions, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{c: c, kind: k, namespace: namespace, opts: opts, log: log, items: map[string]api.Object{}, synced: make(chan struct{})}
}

// AddHandler registers h; call it before Run.
func (c *Cache) AddHandler(h Handler) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.handlers = append(c.handlers, h)
}

// Key is the cache key of an object: "namespace/name" or "name".
func Key(obj api.Object) string {
	m := obj.GetObjectMeta()
	if m.Namespace == "" {
		return m.Name
	}
	return m.Namespace + "/" + m.Name
}

// Get returns the cached object with that key. Callers must not modify it.
func (c *Cache) Get(key string) (api.Object, bool) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	o, ok := c.items[key]
	return o, ok
}

// List returns every cached object. Callers must not modify them.
func (c *Cache) List() []api.Object {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]api.Object, 0, len(c.items))
	for _, o := range c.items {
		out = append(out, o)
	}
	return out
}

// ResourceVersion is the revision the cache is current with.
func (c *Cache) ResourceVersion() string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.rv
}

// WaitForSync waits until the first list is in, or ctx ends.
func (c *Cache) WaitForSync(ctx context.Context) bool {
	select {
	case <-c.synced:
		return true
	case <-ctx.Done():
		return false
	}
}

// Run lists, then watches, until ctx ends. Errors are retried with
// back-off; it returns nil when ctx ends.
func (c *Cache) Run(ctx context.Context) error {
	backoff := 100 * time.Millisecond
	needList := true
	for ctx.Err() == nil {
		if needList {
			if err := c.relist(ctx); err != nil {
				c.log.Warn("cache: list failed", "resource", c.kind.Resource, "err", err)
				if !sleep(ctx, backoff) {
					return nil
				}
				backoff = min(backoff*2, 10*time.Second)
				continue
			}
			needList = false
		}
		// A watch that ends cleanly (server timeout) resumes from the last
		// revision seen; one that is too old (410) needs a relist.
		err := c.watch(ctx)
		switch {
		case ctx.Err() != nil:
			return nil
		case IsGone(err):
			needList = true
		case err != nil:
			c.log.Warn("cache: watch ended", "resource", c.kind.Resource, "err", err)
			if !sleep(ctx, backoff) {
				return nil
			}
			backoff = min(backoff*2, 10*time.Second)
		default:
			backoff = 100 * time.Millisecond
		}
	}
	return nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// relist replaces the contents with a fresh list and tells handlers the
// difference.
func (c *Cache) relist(ctx context.Context) error {
	objs, rv, err := c.c.List(ctx, c.kind, c.namespace, c.opts)
	if err != nil {
		return err
	}
	fresh := make(map[string]api.Object, len(objs))
	for _, o := range objs {
		fresh[Key(o)] = o
	}
	c.mu.Lock()
	old := c.items
	c.items, c.rv = fresh, rv
	handlers := c.handlers
	c.mu.Unlock()
	for k, o := range fresh {
		if prev, ok := old[k]; !ok {
			notify(handlers, Added, nil, o)
		} else if prev.GetObjectMeta().ResourceVersion != o.GetObjectMeta().ResourceVersion {
			notify(handlers, Modified, prev, o)
		}
	}
	for k, o := range old {
		if _, ok := fresh[k]; !ok {
			notify(handlers, Deleted, nil, o)
		}
	}
	select {
	case <-c.synced:
	default:
		close(c.synced)
	}
	return nil
}

func (c *Cache) watch(ctx context.Context) error {
	opts := c.opts
	opts.ResourceVersion = c.ResourceVersion()
	w, err := c.c.Watch(ctx, c.kind, c.namespace, opts)
	if err != nil {
		return err
	}
	defer w.Stop()
	for ev := range w.Events() {
		if ev.Type == Error {
			return ev.Err
		}
		key := Key(ev.Object)
		c.mu.Lock()
		prev := c.items[key]
		if ev.Type == Deleted {
			delete(c.items, key)
		} else {
			c.items[key] = ev.Object
		}
		c.rv = ev.Object.GetObjectMeta().ResourceVersion
		handlers := c.handlers
		c.mu.Unlock()
		notify(handlers, ev.Type, prev, ev.Object)
	}
	return nil
}

func notify(hs []Handler, t EventType, prev, obj api.Object) {
	for _, h := range hs {
		switch {
		case t == Deleted && h.OnDelete != nil:
			h.OnDelete(obj)
		case t != Deleted && prev == nil && h.OnAdd != nil:
			h.OnAdd(obj)
		case t != Deleted && prev != nil && h.OnUpdate != nil:
			h.OnUpdate(prev, obj)
		}
	}
}
