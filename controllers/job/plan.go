// Package job is the Job controller: it runs a Job's pods, up to
// parallelism at a time, until completions of them have succeeded; it
// fails the Job when its pods fail more than backoffLimit times or it runs
// past activeDeadlineSeconds, replaces failed pods after an exponential
// back-off (10s doubled per failed pod, at most 6 minutes), and deletes
// finished Jobs (with their pods) once their TTL has passed.
package job

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// Clock tells the controller the time; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// Plan is what one reconcile of a Job decides, computed from the Job, its
// pods and the time alone (see plan) so that it can be table-tested.
type Plan struct {
	// Create is the number of pods to create.
	Create int
	// Delete are the pods to delete (active pods past the end, or excess).
	Delete []*api.Pod
	// Status is the Job's new status; nil when it does not change.
	Status *api.JobStatus
	// DeleteJob says the Job's TTL after finishing has passed: delete its
	// pods and then the Job.
	DeleteJob bool
	// RequeueAfter is when to look again for a time-based change (the
	// active deadline or the TTL); 0 for none.
	RequeueAfter time.Duration
}

// podCounts are a Job's pods by state.
type podCounts struct {
	active    []*api.Pod
	succeeded int32
	failed    int32
	// failedPods counts pods in phase Failed (restarts aside), and
	// lastFailure is when the latest of them finished.
	failedPods  int32
	lastFailure time.Time
}

// Back-off before replacing failed pods, as in Kubernetes: 10s doubled for
// each failed pod, at most 6 minutes.
const (
	BackoffBase = 10 * time.Second
	BackoffMax  = 6 * time.Minute
)

// backoffWait is how long to wait still before creating a pod to replace
// failed ones (0: create now).
func backoffWait(c podCounts, now time.Time) time.Duration {
	if c.failedPods == 0 {
		return 0
	}
	d := BackoffBase
	for i := int32(1); i < c.failedPods && d < BackoffMax; i++ {
		d *= 2
	}
	d = min(d, BackoffMax)
	return max(0, c.lastFailure.Add(d).Sub(now))
}

// finishedAt is when a pod finished: its containers' latest termination,
// else its Ready condition's last change, else its creation.
func finishedAt(p *api.Pod) time.Time {
	var t time.Time
	for _, cs := range p.Status.ContainerStatuses {
		if term := cs.State.Terminated; term != nil && term.FinishedAt.After(t) {
			t = term.FinishedAt.Time
		}
	}
	if t.IsZero() {
		for _, c := range p.Status.Conditions {
			if c.Type == api.PodReady && c.LastTransitionTime.After(t) {
				t = c.LastTransitionTime.Time
			}
		}
	}
	if t.IsZero() {
		t = p.CreationTimestamp.Time
	}
	return t
}

func minPositive(a, b time.Duration) time.Duration {
	if a <= 0 || b < a {
		return b
	}
	return a
}

func isActive(p *api.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed
}

// countPods sorts pods into active, succeeded and failed. With restart
// policy OnFailure a container restart is a failure too (a pod that
// restarted twice counts 2), as Kubernetes counts them against the
// backoff limit.
func countPods(j *api.Job, pods []*api.Pod) podCounts {
	var c podCounts
	onFailure := j.Spec.Template.Spec.RestartPolicy == api.RestartPolicyOnFailure
	for _, p := range pods {
		switch {
		case p.Status.Phase == api.PodSucceeded:
			c.succeeded++
		case p.Status.Phase == api.PodFailed:
			c.failed++
			c.failedPods++
			if t := finishedAt(p); t.After(c.lastFailure) {
				c.lastFailure = t
			}
		case isActive(p):
			c.active = append(c.active, p)
		}
		if onFailure {
			for _, cs := range p.Status.ContainerStatuses {
				c.failed += cs.RestartCount
			}
		}
	}
	// Newest first, so that excess pods are taken from the newest (the
	// least progress lost).
	sort.SliceStable(c.active, func(a, b int) bool {
		return c.active[a].CreationTimestamp.After(c.active[b].CreationTimestamp.Time)
	})
	return c
}

func finishTime(j *api.Job) (time.Time, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == api.JobComplete || c.Type == api.JobFailed) && c.Status == api.ConditionTrue {
			return c.LastTransitionTime.Time, true
		}
	}
	return time.Time{}, false
}

// plan decides what to do for job j with pods (the pods it controls) at
// time now.
func plan(j *api.Job, pods []*api.Pod, now time.Time) Plan {
	var p Plan
	counts := countPods(j, pods)
	st := copyStatus(&j.Status)
	// Counts never go backwards: a finished pod deleted by someone else
	// stays counted.
	st.Succeeded = max(st.Succeeded, counts.succeeded)
	st.Failed = max(st.Failed, counts.failed)

	if end, done := finishTime(j); done {
		// A finished job keeps no running pods.
		p.Delete = counts.active
		st.Active = 0
		if ttl := j.Spec.TTLSecondsAfterFinished; ttl != nil {
			expiry := end.Add(time.Duration(*ttl) * time.Second)
			if !now.Before(expiry) {
				p.DeleteJob = true
			} else {
				p.RequeueAfter = expiry.Sub(now)
			}
		}
		p.Status = changed(j, st)
		return p
	}

	if st.StartTime == nil {
		t := api.NewTime(now)
		st.StartTime = &t
	}
	failWith := func(reason, msg string) Plan {
		p.Delete = counts.active
		st.Active = 0
		setCondition(&st, api.JobFailed, reason, msg, now)
		p.Status = changed(j, st)
		p.RequeueAfter = ttlRequeue(j)
		return p
	}
	backoff := int32(api.DefaultBackoffLimit)
	if j.Spec.BackoffLimit != nil {
		backoff = *j.Spec.BackoffLimit
	}
	if st.Failed > backoff {
		return failWith(api.JobReasonBackoffLimitExceeded, fmt.Sprintf("Job has reached the specified backoff limit (%d failures, limit %d)", st.Failed, backoff))
	}
	if d := j.Spec.ActiveDeadlineSeconds; d != nil {
		deadline := st.StartTime.Add(time.Duration(*d) * time.Second)
		if !now.Before(deadline) {
			return failWith(api.JobReasonDeadlineExceeded, fmt.Sprintf("Job was active longer than specified deadline (%ds)", *d))
		}
		p.RequeueAfter = deadline.Sub(now)
	}

	completions := api.JobCompletionsValue(j)
	if st.Succeeded >= completions {
		p.Delete = counts.active
		st.Active = 0
		setCondition(&st, api.JobComplete, "", "", now)
		t := api.NewTime(now)
		st.CompletionTime = &t
		p.Status = changed(j, st)
		p.RequeueAfter = ttlRequeue(j)
		return p
	}

	parallelism := int32(1)
	if j.Spec.Parallelism != nil {
		parallelism = *j.Spec.Parallelism
	}
	want := min(parallelism, completions-st.Succeeded)
	if j.Spec.Suspend != nil && *j.Spec.Suspend {
		want = 0
	}
	active := int32(len(counts.active))
	switch {
	case active < want:
		if wait := backoffWait(counts, now); wait > 0 {
			// Failed pods are replaced after an exponential back-off, so
			// that a crashing job does not churn pods.
			p.RequeueAfter = minPositive(p.RequeueAfter, wait)
			want = active
			break
		}
		p.Create = int(want - active)
	case active > want:
		p.Delete = counts.active[:active-want]
	}
	st.Active = want
	p.Status = changed(j, st)
	return p
}

// ttlRequeue is when to look at a job that just finished again: after its
// TTL (0 when it has none).
func ttlRequeue(j *api.Job) time.Duration {
	if ttl := j.Spec.TTLSecondsAfterFinished; ttl != nil {
		return time.Duration(*ttl)*time.Second + time.Millisecond
	}
	return 0
}

func setCondition(st *api.JobStatus, t api.JobConditionType, reason, msg string, now time.Time) {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			c := &st.Conditions[i]
			if c.Status != api.ConditionTrue {
				c.LastTransitionTime = api.NewTime(now)
			}
			c.Status, c.Reason, c.Message, c.LastProbeTime = api.ConditionTrue, reason, msg, api.NewTime(now)
			return
		}
	}
	st.Conditions = append(st.Conditions, api.JobCondition{Type: t, Status: api.ConditionTrue, Reason: reason, Message: msg,
		LastProbeTime: api.NewTime(now), LastTransitionTime: api.NewTime(now)})
}

// changed returns st when it differs from the job's status, else nil.
func changed(j *api.Job, st api.JobStatus) *api.JobStatus {
	a, errA := json.Marshal(&j.Status)
	b, errB := json.Marshal(&st)
	if errA == nil && errB == nil && bytes.Equal(a, b) {
		return nil
	}
	return &st
}

// copyStatus copies a status deeply enough to change it.
func copyStatus(s *api.JobStatus) api.JobStatus {
	c := *s
	c.Conditions = append([]api.JobCondition(nil), s.Conditions...)
	return c
}
