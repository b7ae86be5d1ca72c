package client

import (
	"context"
	"fmt"
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
	// indexers by name, and for each the keys of the objects under each
	// value: indexes[name][value] is a set of keys.
	indexers map[string]IndexFunc
	indexes  map[string]map[string]map[string]struct{}
}

// IndexFunc gives the values an object is indexed under (none, one or
// several). It must depend on the object alone.
type IndexFunc func(obj api.Object) []string

// IndexNamespace is the name of the index by namespace (NamespaceIndex).
const IndexNamespace = "namespace"

// NamespaceIndex indexes an object by its namespace.
func NamespaceIndex(obj api.Object) []string {
	return []string{obj.GetObjectMeta().Namespace}
}

// NewCache returns a cache of kind k in namespace ("" for all) narrowed by
// the selectors in opts. Call Run to fill it.
func NewCache(c *Client, k *api.KindInfo, namespace string, opts ListOptions, log *slog.Logger) *Cache {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Cache{c: c, kind: k, namespace: namespace, opts: opts, log: log, items: map[string]api.Object{}, synced: make(chan struct{}),
		indexers: map[string]IndexFunc{}, indexes: map[string]map[string]map[string]struct{}{}}
}

// AddIndex keeps an index named name over the cached objects, so that
// ByIndex finds the objects with a value without scanning them all. Several
// users of a shared cache may ask for the same index: a name already
// present is kept as it is. It may be called before or after Run.
func (c *Cache) AddIndex(name string, f IndexFunc) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := c.indexers[name]; ok {
		return
	}
	c.indexers[name] = f
	idx := map[string]map[string]struct{}{}
	c.indexes[name] = idx
	for k, o := range c.items {
		addToIndex(idx, f, k, o)
	}
}

// ByIndex returns the cached objects the index name files under value.
// Callers must not modify them. It fails if there is no such index.
func (c *Cache) ByIndex(name, value string) ([]api.Object, error) {
	c.mu.RLock()
	defer c.mu.RUnlock()
	idx, ok := c.indexes[name]
	if !ok {
		return nil, fmt.Errorf("cache of %s: no index %q", c.kind.Resource, name)
	}
	keys := idx[value]
	out := make([]api.Object, 0, len(keys))
	for k := range keys {
		out = append(out, c.items[k])
	}
	return out, nil
}

func addToIndex(idx map[string]map[string]struct{}, f IndexFunc, key string, o api.Object) {
	for _, v := range f(o) {
		set := idx[v]
		if set == nil {
			set = map[string]struct{}{}
			idx[v] = set
		}
		set[key] = struct{}{}
	}
}

func removeFromIndex(idx map[string]map[string]struct{}, f IndexFunc, key string, o api.Object) {
	for _, v := range f(o) {
		if set := idx[v]; set != nil {
			delete(set, key)
			if len(set) == 0 {
				delete(idx, v)
			}
		}
	}
}

// reindex moves key from prev's index entries to obj's (either may be
// nil). The caller holds c.mu.
func (c *Cache) reindex(key string, prev, obj api.Object) {
	for name, f := range c.indexers {
		idx := c.indexes[name]
		if prev != nil {
			removeFromIndex(idx, f, key, prev)
		}
		if obj != nil {
			addToIndex(idx, f, key, obj)
		}
	}
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
	for name, f := range c.indexers {
		idx := map[string]map[string]struct{}{}
		for k, o := range fresh {
			addToIndex(idx, f, k, o)
		}
		c.indexes[name] = idx
	}
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
			c.reindex(key, prev, nil)
		} else {
			c.items[key] = ev.Object
			c.reindex(key, prev, ev.Object)
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
