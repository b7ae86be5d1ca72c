package controllers

import (
	"fmt"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

type fakeClock struct{ t time.Time }

func (f *fakeClock) now() time.Time            { return f.t }
func (f *fakeClock) step(d time.Duration) bool { f.t = f.t.Add(d); return true }

func podRef(name string) api.ObjectReference {
	return api.ObjectReference{Kind: api.KindPod, APIVersion: "v1", Namespace: "default", Name: name, UID: "uid-" + name}
}

// record runs one event through c as the Recorder's writer does when every
// write succeeds, and says what became of it.
func record(c *correlator, ref api.ObjectReference, typ, reason, msg string) (string, *api.Event) {
	ev, update := c.correlate(eventRequest{ref: ref, ns: ref.Namespace, typ: typ, reason: reason, message: msg})
	switch {
	case ev == nil:
		return "dropped", nil
	case update:
		c.stored(ev)
		return "updated", ev
	default:
		c.stored(ev)
		return "created", ev
	}
}

func TestCorrelator(t *testing.T) {
	type step struct {
		advance time.Duration
		obj     string
		typ     string
		reason  string
		msg     string
		times   int
		want    string // what the last of times becomes
		count   int32  // the Event's count after it (0: not checked)
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"identical events aggregate into one Event", []step{
			{obj: "a", typ: "Warning", reason: "BackOff", msg: "restarting", times: 1, want: "created", count: 1},
			{advance: time.Second, obj: "a", typ: "Warning", reason: "BackOff", msg: "restarting", times: 9, want: "updated", count: 10},
		}},
		{"another message, type or reason is another Event", []step{
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "to 1", times: 1, want: "created", count: 1},
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "to 2", times: 1, want: "created", count: 1},
			{obj: "a", typ: "Warning", reason: "Scaled", msg: "to 2", times: 1, want: "created", count: 1},
			{obj: "a", typ: "Warning", reason: "Other", msg: "to 2", times: 1, want: "created", count: 1},
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "to 1", times: 1, want: "updated", count: 2},
		}},
		{"the burst of 25 per object, then dropped", []step{
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "distinct", times: 25, want: "created"},
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "one more", times: 1, want: "dropped"},
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "distinct 0", times: 1, want: "dropped"},
			{obj: "b", typ: "Normal", reason: "Scaled", msg: "other object", times: 1, want: "created"},
		}},
		{"repeats spend tokens too", []step{
			{obj: "a", typ: "Warning", reason: "BackOff", msg: "x", times: 25, want: "updated", count: 25},
			{obj: "a", typ: "Warning", reason: "BackOff", msg: "x", times: 1, want: "dropped"},
		}},
		{"one token back per 5 minutes", []step{
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "distinct", times: 25, want: "created"},
			{advance: 4*time.Minute + 59*time.Second, obj: "a", typ: "Normal", reason: "Scaled", msg: "early", times: 1, want: "dropped"},
			{advance: time.Second, obj: "a", typ: "Normal", reason: "Scaled", msg: "after 5m", times: 1, want: "created"},
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "again", times: 1, want: "dropped"},
			{advance: 10 * time.Minute, obj: "a", typ: "Normal", reason: "Scaled", msg: "distinct", times: 2, want: "created"},
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "third", times: 1, want: "dropped"},
		}},
		{"a full refill caps at the burst", []step{
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "distinct", times: 25, want: "created"},
			{advance: 24 * time.Hour, obj: "a", typ: "Normal", reason: "Scaled", msg: "distinct", times: 25, want: "created"},
			{obj: "a", typ: "Normal", reason: "Scaled", msg: "over", times: 1, want: "dropped"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
			c := newCorrelator("test", DefaultSpamBurst, DefaultSpamRefill, clock.now)
			var first time.Time
			distinct := 0
			for i, s := range tt.steps {
				clock.step(s.advance)
				var got string
				var ev *api.Event
				for range s.times {
					msg := s.msg
					if msg == "distinct" {
						msg = fmt.Sprintf("distinct %d", distinct)
						distinct++
					}
					if got, ev = record(c, podRef(s.obj), s.typ, s.reason, msg); got == "created" {
						first = clock.t
					}
				}
				if got != s.want {
					t.Fatalf("step %d: %s, want %s", i, got, s.want)
				}
				if ev == nil {
					continue
				}
				if s.count != 0 && ev.Count != s.count {
					t.Fatalf("step %d: count %d, want %d", i, ev.Count, s.count)
				}
				if !ev.LastTimestamp.Time.Equal(clock.t) || !ev.FirstTimestamp.Time.Equal(first) {
					t.Fatalf("step %d: first %v last %v, want %v and %v", i, ev.FirstTimestamp, ev.LastTimestamp, first, clock.t)
				}
				if ev.Source.Component != "test" || ev.InvolvedObject != podRef(s.obj) || ev.Namespace != "default" {
					t.Fatalf("step %d: event %+v", i, ev)
				}
			}
		})
	}
}

// TestCorrelatorRenamed: when the aggregated Event is gone, the next one
// is new but keeps the count.
func TestCorrelatorRenamed(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newCorrelator("test", 0, 0, clock.now)
	_, first := record(c, podRef("a"), "Warning", "BackOff", "x")
	ev, update := c.correlate(eventRequest{ref: podRef("a"), ns: "default", typ: "Warning", reason: "BackOff", message: "x"})
	if !update || ev.Name != first.Name {
		t.Fatalf("a repeat is not an update of %s: %+v", first.Name, ev)
	}
	again := c.renamed(ev)
	if again.Name == first.Name || again.Count != 2 || again.Message != "x" || again.ResourceVersion != "" {
		t.Fatalf("renamed %+v", again)
	}
	c.forget(again)
	if _, update := c.correlate(eventRequest{ref: podRef("a"), ns: "default", typ: "Warning", reason: "BackOff", message: "x"}); update {
		t.Fatal("a forgotten Event is still updated")
	}
}

// TestCorrelatorBounded: the remembered Events and buckets stay within the
// cache size, the least recently used going first.
func TestCorrelatorBounded(t *testing.T) {
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	c := newCorrelator("test", 0, 0, clock.now)
	for i := range correlatorCacheSize + 10 {
		record(c, podRef(fmt.Sprint(i)), "Normal", "R", "m")
		clock.step(time.Second)
	}
	if c.lru.Len() != correlatorCacheSize || len(c.events) != correlatorCacheSize || len(c.buckets) > correlatorCacheSize {
		t.Fatalf("%d remembered, %d in the index, %d buckets; want at most %d", c.lru.Len(), len(c.events), len(c.buckets), correlatorCacheSize)
	}
	if got, _ := record(c, podRef("0"), "Normal", "R", "m"); got != "created" {
		t.Fatalf("the oldest object's Event: %s, want created (evicted)", got)
	}
	last := fmt.Sprint(correlatorCacheSize + 9)
	if got, _ := record(c, podRef(last), "Normal", "R", "m"); got != "updated" {
		t.Fatalf("the newest object's Event: %s, want updated", got)
	}
}
