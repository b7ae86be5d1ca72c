package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// watchEvent is one line of a watch stream, as Kubernetes sends it.
type watchEvent struct {
	Type   store.EventType `json:"type"`
	Object any             `json:"object"`
}

// watch streams changes as newline-delimited JSON events. Without a
// resourceVersion the current objects come first as ADDED events; with one,
// every change after it comes exactly once. A compacted resourceVersion is
// a 410 before anything is streamed; a compaction that overtakes the stream
// ends it with an ERROR event holding a 410 Status.
func (s *Server) watch(w http.ResponseWriter, r *http.Request, q *request, acc access) error {
	keep, err := s.filter(r, q, acc)
	if err != nil {
		return err
	}
	rev, timeout, err := s.watchParams(r)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	prefix := storePrefix(q.kind, q.ns)
	var initial []api.Object
	if rev == 0 {
		initial, rev, err = s.store.List(ctx, prefix, q.kind.New, keep)
		if err != nil {
			return err
		}
	}
	st := &stream{w: w}
	cw, cached := s.cacherFor(q.kind).watch(ctx, rev)
	var ch <-chan store.Event
	if cached {
		defer s.cacherFor(q.kind).stop(cw)
	} else {
		// Older than the cache's history: etcd itself serves it, or
		// answers 410 if it is compacted.
		if ch, err = s.store.Watch(ctx, prefix, rev, q.kind.New, keep); err != nil {
			return err
		}
	}
	s.metrics.watchers.WithLabelValues(q.kind.Resource).Inc()
	defer s.metrics.watchers.WithLabelValues(q.kind.Resource).Dec()

	st.begin(initial)
	s.pump(ctx, st, q, acc, keep, cw, ch)
	return nil
}

// watchParams reads resourceVersion and timeoutSeconds.
func (s *Server) watchParams(r *http.Request) (rev int64, timeout time.Duration, err error) {
	query := r.URL.Query()
	rev, err = api.ParseResourceVersion(query.Get("resourceVersion"))
	if err != nil {
		return 0, 0, errBadRequest("resourceVersion: must be a non-negative integer")
	}
	timeout = s.watchTTL
	if t := query.Get("timeoutSeconds"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return 0, 0, errBadRequest("timeoutSeconds: must be a non-negative integer")
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
	}
	return rev, timeout, nil
}

// pump streams events from the watch cache (cw) or straight from etcd (ch)
// until the watch ends: server shutdown, timeout, client gone, a watcher
// dropped as too slow (the client resumes), or an error sent as an ERROR
// event.
func (s *Server) pump(ctx context.Context, st *stream, q *request, acc access, keep func(api.Object) bool, cw *cacheWatcher, ch <-chan store.Event) {
	for {
		// Flush once caught up, so a burst goes out in few writes, also
		// when the last events of the burst were filtered out.
		if len(cwChan(cw)) == 0 && len(ch) == 0 {
			st.flush()
		}
		var ev store.Event
		var line []byte
		select {
		case <-s.stopping:
			return
		case <-ctx.Done():
			return
		case ce, ok := <-cwChan(cw):
			if !ok {
				return // dropped as too slow, or the cache restarted: the client resumes
			}
			if q.kind.Namespaced && q.ns != "" && ce.ns != q.ns {
				continue
			}
			typ, same, match := filterCached(ce, keep)
			if !match {
				continue
			}
			ev = store.Event{Type: typ, Object: ce.obj}
			if same {
				line = ce.line
			}
		case e, ok := <-ch:
			if !ok {
				return
			}
			if e.Type == store.Error {
				if !errors.Is(e.Err, store.ErrTooOld) {
					s.log.Warn("watch ended", "resource", q.kind.Resource, "err", e.Err)
				}
				st.fail(e.Err, q.kind.Resource)
				return
			}
			ev = e
		}
		if acc.tenant != "" && q.kind.Namespaced {
			owned, err := s.stillOwned(ctx, acc.tenant, ev)
			if ctx.Err() != nil {
				return // timed out or the client went away
			}
			if err != nil {
				st.fail(err, q.kind.Resource)
				return
			}
			if !owned {
				// End the stream: the client watches again, and is
				// authorized afresh.
				return
			}
		}
		if !st.send(ev, line) {
			return
		}
	}
}

// cwChan is the event channel of a cache watcher, or nil (never ready).
func cwChan(cw *cacheWatcher) <-chan *cachedEvent {
	if cw == nil {
		return nil
	}
	return cw.ch
}

// stream writes the events of one watch response.
type stream struct {
	w       http.ResponseWriter
	enc     *json.Encoder
	flusher http.Flusher
	dirty   bool // written since the last flush
}

// begin sends the headers and the initial objects as ADDED events.
func (st *stream) begin(initial []api.Object) {
	st.flusher, _ = st.w.(http.Flusher)
	st.enc = json.NewEncoder(st.w)
	st.w.Header().Set("Content-Type", "application/json")
	st.w.Header().Set("Cache-Control", "no-cache")
	st.w.WriteHeader(http.StatusOK)
	for _, o := range initial {
		if err := st.enc.Encode(watchEvent{Type: store.Added, Object: o}); err != nil {
			return // the client went away; the next write notices too
		}
	}
	st.dirty = true
	st.flush()
}

// send writes one event, as the pre-encoded line when there is one. It
// returns false when the client is gone.
func (st *stream) send(ev store.Event, line []byte) bool {
	var err error
	if line != nil {
		_, err = st.w.Write(line)
	} else {
		err = st.enc.Encode(watchEvent{Type: ev.Type, Object: ev.Object})
	}
	st.dirty = true
	return err == nil
}

// fail ends the stream with an ERROR event holding the Status of err.
func (st *stream) fail(err error, resource string) {
	status := toStatus(err, resource, "")
	_ = st.enc.Encode(watchEvent{Type: store.Error, Object: &status})
	st.dirty = true
	st.flush()
}

func (st *stream) flush() {
	if st.flusher != nil && st.dirty {
		st.flusher.Flush()
	}
	st.dirty = false
}

// stillOwned re-checks, for a tenant's watch, that the namespace of an
// event belonged to the tenant when the event happened. Authorization looked
// at the namespaces when the watch began; one may since have been deleted
// and created again by someone else, whose objects the watch must not
// stream, and a resumed watch may replay events of an earlier namespace of
// the same name. So the namespace must be the tenant's now and must have
// been created before the event. The objects removed with a deleted
// namespace are still reported as deleted.
func (s *Server) stillOwned(ctx context.Context, tenant string, ev store.Event) (bool, error) {
	var n api.Namespace
	created, err := s.store.GetWithCreateRevision(ctx, "/registry/namespaces/"+ev.Object.GetObjectMeta().Namespace, &n)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ev.Type == store.Deleted, nil
	case err != nil:
		return false, err
	}
	rev, _ := api.ParseResourceVersion(ev.Object.GetObjectMeta().ResourceVersion)
	return n.Labels[LabelTenant] == tenant && created <= rev, nil
}
