package scheduler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// ReasonFailedScheduling is the reason of the event of a pod that fits on
// no node (its PodScheduled=False condition has api.PodReasonUnschedulable).
const ReasonFailedScheduling = "FailedScheduling"

// reporter remembers, per pending pod, the last condition message written
// and when the last event was recorded, so that a pod retried often costs
// no write when nothing new is to be said.
type reporter struct {
	interval time.Duration
	mu       sync.Mutex
	written  map[string]string
	events   map[string]time.Time
}

func newReporter(interval time.Duration) *reporter {
	return &reporter{interval: interval, written: map[string]string{}, events: map[string]time.Time{}}
}

// decide says whether to write the condition (its message changed) and
// whether to record an event (none in the last interval).
func (r *reporter) decide(p *api.Pod, msg string, now time.Time) (writeCond, recordEvent bool) {
	key := PodKey(p)
	r.mu.Lock()
	defer r.mu.Unlock()
	if c := api.PodConditionByType(&p.Status, api.PodScheduled); c == nil || c.Status != api.ConditionFalse || c.Reason != api.PodReasonUnschedulable || c.Message != msg {
		writeCond = r.written[key] != msg
	}
	if writeCond {
		r.written[key] = msg
	}
	if last, ok := r.events[key]; !ok || now.Sub(last) >= r.interval {
		r.events[key] = now
		recordEvent = true
	}
	return writeCond, recordEvent
}

// unwrite forgets a condition write that failed, so the next attempt
// writes it again.
func (r *reporter) unwrite(key, msg string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.written[key] == msg {
		delete(r.written, key)
	}
}

// forget drops what is remembered of a pod that is bound or gone.
func (r *reporter) forget(key string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.written, key)
	delete(r.events, key)
}

// writeCondition writes PodScheduled=False (and the node the pod is
// nominated to, if any) through the status subresource.
func (s *Scheduler) writeCondition(ctx context.Context, pod *api.Pod, msg, nominated string) {
	err := s.writeStatus(ctx, pod, func(st *api.PodStatus) {
		api.SetPodCondition(st, api.PodCondition{Type: api.PodScheduled, Status: api.ConditionFalse,
			Reason: api.PodReasonUnschedulable, Message: msg, LastProbeTime: api.Now()})
		if nominated != "" {
			st.NominatedNodeName = nominated
		}
	})
	if err != nil {
		if ctx.Err() == nil {
			s.log.Warn("write PodScheduled condition", "pod", PodKey(pod), "err", err)
		}
		s.report.unwrite(PodKey(pod), msg)
	}
}

// event records an event on a pod; failing to is logged, never fatal.
func (s *Scheduler) event(ctx context.Context, pod *api.Pod, typ, reason, msg string) {
	now := api.Now()
	name := pod.Name
	if len(name) > 200 {
		name = name[:200]
	}
	ev := &api.Event{
		ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s.%x", name, time.Now().UnixNano()), Namespace: pod.Namespace},
		InvolvedObject: api.ObjectReference{Kind: api.KindPod, APIVersion: api.APIVersionV1, Namespace: pod.Namespace,
			Name: pod.Name, UID: pod.UID, ResourceVersion: pod.ResourceVersion},
		Reason: reason, Message: msg, Type: typ, Count: 1,
		FirstTimestamp: now, LastTimestamp: now,
		Source: api.EventSource{Component: s.cfg.Name}, ReportingComponent: s.cfg.Name,
	}
	if err := s.writer.Create(ctx, ev); err != nil && ctx.Err() == nil {
		s.log.Warn("record event", "pod", PodKey(pod), "reason", reason, "err", err)
	}
}
