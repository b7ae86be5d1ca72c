package controllers

import (
	"container/list"
	"fmt"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// DefaultSpamBurst is how many events a Recorder writes about one object
// at once before its spam filter holds it to DefaultSpamRefill, as
// Kubernetes' EventSourceObjectSpamFilter does.
const DefaultSpamBurst = 25

// DefaultSpamRefill is how long the spam filter takes to give one object
// back one event.
const DefaultSpamRefill = 5 * time.Minute

// correlatorCacheSize bounds the spam buckets and the Events remembered
// for aggregation (Kubernetes keeps 4096 of each too).
const correlatorCacheSize = 4096

// spamKey is what the spam filter counts against: one source about one
// object.
type spamKey struct {
	component, kind, apiVersion, ns, name, uid string
}

// eventKey is what makes two events the same: aggregated into one Event.
type eventKey struct {
	spamKey
	typ, reason, message string
}

// bucket is a token bucket: tokens as of at.
type bucket struct {
	tokens float64
	at     time.Time
}

// correlator decides what an event becomes, as Kubernetes' EventCorrelator
// does without its similar-message aggregation: dropped by a per-(source,
// object) token bucket, a repeat of an identical Event (its count and last
// timestamp grow), or a new Event. It is the Recorder's logic without I/O;
// only the Recorder's writer goroutine uses it.
type correlator struct {
	component string
	burst     int
	refill    time.Duration
	now       func() time.Time

	buckets  map[spamKey]*bucket
	events   map[eventKey]*list.Element // of *api.Event, as last stored
	lru      *list.List                 // front: most recently used eventKey
	lastName int64
}

func newCorrelator(component string, burst int, refill time.Duration, now func() time.Time) *correlator {
	if burst <= 0 {
		burst = DefaultSpamBurst
	}
	if refill <= 0 {
		refill = DefaultSpamRefill
	}
	return &correlator{component: component, burst: burst, refill: refill, now: now,
		buckets: map[spamKey]*bucket{}, events: map[eventKey]*list.Element{}, lru: list.New()}
}

type lruEntry struct {
	key eventKey
	ev  *api.Event
}

// correlate returns the Event to write for req: a copy of the remembered
// one with its count and last timestamp grown (update true), or a new one;
// nil when the spam filter drops it.
func (c *correlator) correlate(req eventRequest) (ev *api.Event, update bool) {
	now := c.now()
	sk := spamKey{c.component, req.ref.Kind, req.ref.APIVersion, req.ref.Namespace, req.ref.Name, req.ref.UID}
	if !c.allow(sk, now) {
		return nil, false
	}
	key := eventKey{sk, req.typ, req.reason, req.message}
	if el, ok := c.events[key]; ok {
		c.lru.MoveToFront(el)
		prev := el.Value.(*lruEntry).ev
		next := *prev
		next.Count++
		next.LastTimestamp = api.NewTime(now)
		return &next, true
	}
	at := api.NewTime(now)
	return &api.Event{
		ObjectMeta:     api.ObjectMeta{Name: c.eventName(req.ref.Name, now), Namespace: req.ns},
		InvolvedObject: req.ref,
		Reason:         req.reason, Message: req.message, Type: req.typ, Count: 1,
		FirstTimestamp: at, LastTimestamp: at,
		Source: api.EventSource{Component: c.component}, ReportingComponent: c.component,
	}, false
}

// renamed returns ev as a new Event (its stored one is gone), keeping its
// count and timestamps.
func (c *correlator) renamed(ev *api.Event) *api.Event {
	out := *ev
	out.ObjectMeta = api.ObjectMeta{Name: c.eventName(ev.InvolvedObject.Name, c.now()), Namespace: ev.Namespace}
	return &out
}

// stored remembers ev as the Event identical events aggregate into.
func (c *correlator) stored(ev *api.Event) {
	ref := ev.InvolvedObject
	key := eventKey{spamKey{c.component, ref.Kind, ref.APIVersion, ref.Namespace, ref.Name, ref.UID}, ev.Type, ev.Reason, ev.Message}
	if el, ok := c.events[key]; ok {
		el.Value.(*lruEntry).ev = ev
		c.lru.MoveToFront(el)
		return
	}
	c.events[key] = c.lru.PushFront(&lruEntry{key: key, ev: ev})
	for c.lru.Len() > correlatorCacheSize {
		old := c.lru.Back()
		c.lru.Remove(old)
		delete(c.events, old.Value.(*lruEntry).key)
	}
}

// forget drops what was remembered about the Event of ev's key (its write
// failed: the next identical event starts a new one).
func (c *correlator) forget(ev *api.Event) {
	ref := ev.InvolvedObject
	key := eventKey{spamKey{c.component, ref.Kind, ref.APIVersion, ref.Namespace, ref.Name, ref.UID}, ev.Type, ev.Reason, ev.Message}
	if el, ok := c.events[key]; ok {
		c.lru.Remove(el)
		delete(c.events, key)
	}
}

// allow takes a token from the object's bucket, which holds at most burst
// and gains one per refill.
func (c *correlator) allow(k spamKey, now time.Time) bool {
	b := c.buckets[k]
	if b == nil {
		if len(c.buckets) >= correlatorCacheSize {
			c.dropFullBuckets(now)
		}
		b = &bucket{tokens: float64(c.burst), at: now}
		c.buckets[k] = b
	}
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(float64(c.burst), b.tokens+float64(el)/float64(c.refill))
		b.at = now
	}
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// dropFullBuckets forgets the buckets that have refilled to the burst: a
// new one would be the same. If none is, the cache is reset, as an LRU
// that lost its entries would be (the objects get a fresh burst).
func (c *correlator) dropFullBuckets(now time.Time) {
	for k, b := range c.buckets {
		if b.tokens+float64(now.Sub(b.at))/float64(c.refill) >= float64(c.burst) {
			delete(c.buckets, k)
		}
	}
	if len(c.buckets) >= correlatorCacheSize {
		clear(c.buckets)
	}
}

// eventName is the object's name and a hex timestamp, as Kubernetes names
// Events, made unique within this recorder.
func (c *correlator) eventName(object string, now time.Time) string {
	n := max(now.UnixNano(), c.lastName+1)
	c.lastName = n
	if len(object) > 200 {
		object = object[:200]
	}
	return fmt.Sprintf("%s.%x", strings.ToLower(object), n)
}
