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
	query := r.URL.Query()
	rev, err := api.ParseResourceVersion(query.Get("resourceVersion"))
	if err != nil {
		return errBadRequest("resourceVersion: must be a non-negative integer")
	}
	timeout := s.watchTTL
	if t := query.Get("timeoutSeconds"); t != "" {
		n, err := strconv.Atoi(t)
		if err != nil || n < 0 {
			return errBadRequest("timeoutSeconds: must be a non-negative integer")
		}
		if n > 0 {
			timeout = time.Duration(n) * time.Second
		}
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
	ch, err := s.store.Watch(ctx, prefix, rev, q.kind.New, keep)
	if err != nil {
		return err
	}
	s.metrics.watchers.WithLabelValues(q.kind.Resource).Inc()
	defer s.metrics.watchers.WithLabelValues(q.kind.Resource).Dec()

	flusher, _ := w.(http.Flusher)
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	enc := json.NewEncoder(w)
	for _, o := range initial {
		if err := enc.Encode(watchEvent{Type: store.Added, Object: o}); err != nil {
			return nil // the client went away
		}
	}
	if flusher != nil {
		flusher.Flush()
	}
	for {
		select {
		case <-s.stopping:
			return nil
		case <-ctx.Done():
			return nil
		case ev, ok := <-ch:
			if !ok {
				return nil
			}
			if ev.Type == store.Error {
				st := toStatus(ev.Err, q.kind.Resource, "")
				if !errors.Is(ev.Err, store.ErrTooOld) {
					s.log.Warn("watch ended", "resource", q.kind.Resource, "err", ev.Err)
				}
				_ = enc.Encode(watchEvent{Type: store.Error, Object: &st})
				return nil
			}
			if acc.tenant != "" && q.kind.Namespaced {
				owned, err := s.stillOwned(ctx, acc.tenant, ev)
				if ctx.Err() != nil {
					return nil // timed out or the client went away
				}
				if err != nil {
					st := toStatus(err, q.kind.Resource, "")
					_ = enc.Encode(watchEvent{Type: store.Error, Object: &st})
					return nil
				}
				if !owned {
					// End the stream: the client watches again, and is
					// authorized afresh.
					return nil
				}
			}
			if err := enc.Encode(watchEvent{Type: ev.Type, Object: ev.Object}); err != nil {
				return nil
			}
			// Flush when caught up, so a burst goes out in few writes.
			if flusher != nil && len(ch) == 0 {
				flusher.Flush()
			}
		}
	}
}

// stillOwned re-checks, for a tenant's watch, that the namespace of an
// event still belongs to the tenant. Authorization looked at the namespaces
// when the watch began; one may since have been deleted and created again
// by someone else, whose objects the watch must not stream. The objects
// removed with a deleted namespace are still reported as deleted.
func (s *Server) stillOwned(ctx context.Context, tenant string, ev store.Event) (bool, error) {
	var n api.Namespace
	err := s.store.Get(ctx, "/registry/namespaces/"+ev.Object.GetObjectMeta().Namespace, &n)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return ev.Type == store.Deleted, nil
	case err != nil:
		return false, err
	}
	return n.Labels[LabelTenant] == tenant, nil
}
