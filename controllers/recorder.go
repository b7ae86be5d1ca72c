package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// DefaultEventInterval is how often a Recorder writes at most for one
// object and reason.
const DefaultEventInterval = 5 * time.Second

// eventBuffer is how many events wait to be written before new ones are
// dropped (and counted).
const eventBuffer = 1024

// Recorder records Events about objects, as a user sees them in
// `cloudctl describe` and `cloudctl get events`. Event never blocks and
// never fails: a single writer goroutine (Run) writes them through the
// API. For one object and reason it writes at most once per Interval:
// events in between are counted into the next write, and an event
// repeating the previous message (and type) updates that Event's count
// and last timestamp instead of creating another.
type Recorder struct {
	// Interval between two writes for one object and reason (default
	// DefaultEventInterval).
	Interval time.Duration

	c         *client.Client
	component string
	log       *slog.Logger
	now       func() time.Time
	in        chan eventRequest
	dropped   atomic.Int64
	series    map[seriesKey]*series
}

type eventRequest struct {
	ref          api.ObjectReference
	ns           string
	typ, reason  string
	message      string
	at           time.Time
	flushed      chan struct{} // for Flush
	flushRequest bool
}

type seriesKey struct {
	kind, ns, name, uid, reason string
}

// series is what was written and what waits for one object and reason.
type series struct {
	ref       api.ObjectReference
	ns        string
	last      *api.Event // the last Event written
	lastWrite time.Time
	pending   int32
	typ, msg  string
	first     time.Time // of the pending events
}

// NewRecorder returns a recorder writing through c as component (the
// Event's source, e.g. "replicaset-controller"). Run must run for events
// to be written.
func NewRecorder(c *client.Client, component string, log *slog.Logger) *Recorder {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Recorder{Interval: DefaultEventInterval, c: c, component: component, log: log.With("recorder", component),
		now: time.Now, in: make(chan eventRequest, eventBuffer), series: map[seriesKey]*series{}}
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
	case r.in <- eventRequest{ref: ref, ns: ns, typ: typ, reason: reason, message: message, at: r.now()}:
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

// Flush waits until every event recorded before it was written (pending
// ones included) or ctx ends. Tests use it.
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
	interval := r.Interval
	if interval <= 0 {
		interval = DefaultEventInterval
	}
	tick := time.NewTicker(max(interval/4, 10*time.Millisecond))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case req := <-r.in:
			if req.flushRequest {
				r.flush(ctx, interval, true)
				close(req.flushed)
				continue
			}
			r.add(ctx, interval, req)
		case <-tick.C:
			r.flush(ctx, interval, false)
		}
	}
}

func (r *Recorder) add(ctx context.Context, interval time.Duration, req eventRequest) {
	key := seriesKey{req.ref.Kind, req.ref.Namespace, req.ref.Name, req.ref.UID, req.reason}
	s := r.series[key]
	if s == nil {
		s = &series{ref: req.ref, ns: req.ns}
		r.series[key] = s
	}
	if s.pending == 0 {
		s.first = req.at
	}
	s.pending++
	s.typ, s.msg = req.typ, req.message
	if r.now().Sub(s.lastWrite) >= interval {
		r.write(ctx, key, s)
	}
}

// flush writes the series whose interval passed (all with force), and
// forgets those idle for long.
func (r *Recorder) flush(ctx context.Context, interval time.Duration, force bool) {
	now := r.now()
	for key, s := range r.series {
		switch {
		case s.pending > 0 && (force || now.Sub(s.lastWrite) >= interval):
			r.write(ctx, key, s)
		case s.pending == 0 && now.Sub(s.lastWrite) > 20*interval:
			delete(r.series, key)
		}
	}
}

// write stores the pending events of s: as a new count of the last Event
// when the message repeats, else as a new Event.
func (r *Recorder) write(ctx context.Context, key seriesKey, s *series) {
	now := r.now()
	if last := s.last; last != nil && last.Message == s.msg && last.Type == s.typ {
		ev := *last
		ev.Count += s.pending
		ev.LastTimestamp = api.NewTime(now)
		err := r.c.Update(ctx, &ev)
		if err == nil {
			s.last, s.pending, s.lastWrite = &ev, 0, now
			return
		}
		if !client.IsNotFound(err) && !client.IsConflict(err) {
			r.failed(ctx, key, err)
			s.pending, s.lastWrite = 0, now
			return
		}
		// Deleted or changed meanwhile: start a new Event.
	}
	name := s.ref.Name
	if len(name) > 200 {
		name = name[:200]
	}
	ev := &api.Event{
		ObjectMeta:     api.ObjectMeta{Name: fmt.Sprintf("%s.%x", strings.ToLower(name), now.UnixNano()), Namespace: s.ns},
		InvolvedObject: s.ref,
		Reason:         key.reason, Message: s.msg, Type: s.typ, Count: s.pending,
		FirstTimestamp: api.NewTime(s.first), LastTimestamp: api.NewTime(now),
		Source: api.EventSource{Component: r.component}, ReportingComponent: r.component,
	}
	if err := r.c.Create(ctx, ev); err != nil {
		r.failed(ctx, key, err)
		s.last = nil
	} else {
		s.last = ev
	}
	s.pending, s.lastWrite = 0, now
}

func (r *Recorder) failed(ctx context.Context, key seriesKey, err error) {
	if ctx.Err() == nil {
		r.log.Warn("record event", "object", key.kind+" "+key.ns+"/"+key.name, "reason", key.reason, "err", err)
	}
}

// clusterEventNamespace holds the events about cluster-scoped objects
// (nodes, namespaces), as Kubernetes does.
const clusterEventNamespace = "default"
