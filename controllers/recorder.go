package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// eventBuffer is how many events wait to be written before new ones are
// dropped (and counted).
const eventBuffer = 1024

// Recorder records Events about objects, as a user sees them in
// `cloudctl describe` and `cloudctl get events`. Event never blocks and
// never fails: a single writer goroutine (Run) writes them through the
// API, as Kubernetes' event recorder does: an event identical to one
// already written (same object, type, reason and message) grows that
// Event's count and last timestamp instead of creating another, and a
// spam filter lets each object have SpamBurst events at once and one more
// per SpamRefill after that (the rest are dropped and counted).
type Recorder struct {
	// SpamBurst is how many events about one object are written at once
	// (default DefaultSpamBurst).
	SpamBurst int
	// SpamRefill is how long the filter takes to allow one more event
	// about an object (default DefaultSpamRefill).
	SpamRefill time.Duration

	c         *client.Client
	component string
	log       *slog.Logger
	now       func() time.Time
	in        chan eventRequest
	dropped   atomic.Int64
	filtered  atomic.Int64
}

type eventRequest struct {
	ref          api.ObjectReference
	ns           string
	typ, reason  string
	message      string
	flushed      chan struct{} // for Flush
	flushRequest bool
}

// NewRecorder returns a recorder writing through c as component (the
// Event's source, e.g. "replicaset-controller"). Run must run for events
// to be written.
func NewRecorder(c *client.Client, component string, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{SpamBurst: DefaultSpamBurst, SpamRefill: DefaultSpamRefill, c: c, component: component,
		log: log.With("recorder", component), now: time.Now, in: make(chan eventRequest, eventBuffer)}
}

// Recorder returns a recorder acting through the manager's client that
// runs with the manager's controllers.
func (m *Manager) Recorder(component string) *Recorder {
	r := NewRecorder(m.Client, component, m.Log)
	m.AddRunnable(func(ctx context.Context) { _ = r.Run(ctx) })
	return r
}

// Event records an event of type typ (api.EventTypeNormal or
// api.EventTypeWarning) about obj. It returns at once.
func (r *Recorder) Event(obj api.Object, typ, reason, message string) {
	m := obj.GetObjectMeta()
	ref := api.ObjectReference{Namespace: m.Namespace, Name: m.Name, UID: m.UID}
	if k, err := r.c.KindOf(obj); err == nil {
		ref.Kind, ref.APIVersion = k.Kind, k.APIVersion()
	} else {
		ref.Kind = obj.GetTypeMeta().Kind
	}
	ns := m.Namespace
	if ns == "" {
		ns = clusterEventNamespace
	}
	select {
	case r.in <- eventRequest{ref: ref, ns: ns, typ: typ, reason: reason, message: message}:
	default:
		if n := r.dropped.Add(1); n == 1 || n%1000 == 0 {
			r.log.Warn("event buffer full: events dropped", "dropped", n)
		}
	}
}

// Eventf is Event with a formatted message.
func (r *Recorder) Eventf(obj api.Object, typ, reason, format string, args ...any) {
	r.Event(obj, typ, reason, fmt.Sprintf(format, args...))
}

// Dropped is how many events were dropped because the buffer was full.
func (r *Recorder) Dropped() int64 { return r.dropped.Load() }

// Filtered is how many events the spam filter dropped.
func (r *Recorder) Filtered() int64 { return r.filtered.Load() }

// Flush waits until every event recorded before it was written or ctx
// ends. Tests use it.
func (r *Recorder) Flush(ctx context.Context) error {
	done := make(chan struct{})
	select {
	case r.in <- eventRequest{flushRequest: true, flushed: done}:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Run writes events until ctx ends.
func (r *Recorder) Run(ctx context.Context) error {
	corr := newCorrelator(r.component, r.SpamBurst, r.SpamRefill, r.now)
	for {
		select {
		case <-ctx.Done():
			return nil
		case req := <-r.in:
			if req.flushRequest {
				close(req.flushed)
				continue
			}
			r.write(ctx, corr, req)
		}
	}
}

// write stores what corr makes of req: an update of the Event it repeats
// (without a resourceVersion, so a concurrent change to the Event cannot
// lose the count), or a new Event, also when the repeated one is gone.
func (r *Recorder) write(ctx context.Context, corr *correlator, req eventRequest) {
	ev, update := corr.correlate(req)
	if ev == nil {
		if n := r.filtered.Add(1); n == 1 || n%1000 == 0 {
			r.log.Info("spam filter: events dropped", "object", req.ref.Kind+" "+req.ref.Namespace+"/"+req.ref.Name, "filtered", n)
		}
		return
	}
	if update {
		next := *ev
		next.ResourceVersion = ""
		err := r.c.Update(ctx, &next)
		if err == nil {
			corr.stored(&next)
			return
		}
		if !client.IsNotFound(err) {
			r.failed(ctx, ev, err)
			corr.forget(ev)
			return
		}
		ev = corr.renamed(ev)
	}
	if err := r.c.Create(ctx, ev); err != nil {
		r.failed(ctx, ev, err)
		corr.forget(ev)
		return
	}
	corr.stored(ev)
}

func (r *Recorder) failed(ctx context.Context, ev *api.Event, err error) {
	if ctx.Err() == nil {
		ref := ev.InvolvedObject
		r.log.Warn("record event", "object", ref.Kind+" "+ref.Namespace+"/"+ref.Name, "reason", ev.Reason, "err", err)
	}
}

// clusterEventNamespace holds the events about cluster-scoped objects
// (nodes, namespaces), as Kubernetes does.
const clusterEventNamespace = "default"
