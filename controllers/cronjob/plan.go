// Package cronjob is the CronJob controller: it creates a Job for each
// time a CronJob's schedule fires, named after the scheduled minute so
// that a restarted controller never creates the same run twice; it
// applies the concurrency policy, starts a missed run only within
// startingDeadlineSeconds, prunes finished Jobs beyond the history limits
// and does nothing new while suspended.
package cronjob

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/controllers/job"
)

// Clock tells the controller the time; tests inject a fake one.
type Clock = job.Clock

// MaxMissedSchedules is how many missed start times make the controller
// warn (event TooManyMissedTimes) that the controller was down or the
// clock skewed, as Kubernetes does; it still starts the most recent one.
const MaxMissedSchedules = 100

// AnnotationScheduledTimestamp on a Job records the time it was scheduled
// for, in RFC 3339.
const AnnotationScheduledTimestamp = "batch.kubernetes.io/cronjob-scheduled-timestamp"

// event is an Event to record on the CronJob.
type event struct {
	Type, Reason, Message string
}

// Plan is what one reconcile of a CronJob decides, from the CronJob, the
// Jobs it controls and the time alone (see plan).
type Plan struct {
	// Create is the scheduled time of a Job to create (zero: none).
	Create time.Time
	// DeleteJobs are Jobs to delete with their pods: active ones replaced
	// (concurrencyPolicy Replace) and finished ones beyond the history
	// limits.
	DeleteJobs []*api.Job
	// Status is the new status (nil: unchanged). When Create is set it
	// does not yet list the Job to create; the reconciler adds it.
	Status *api.CronJobStatus
	Events []event
	// RequeueAfter is when the schedule next fires (0: never).
	RequeueAfter time.Duration
}

// JobName is the name of the Job a CronJob creates for scheduled time t:
// the CronJob's name and the time in minutes since the Unix epoch.
func JobName(cj *api.CronJob, t time.Time) string {
	return cj.Name + "-" + strconv.FormatInt(t.Unix()/60, 10)
}

// plan decides what to do for cron job cj, the jobs it controls, at now.
func plan(cj *api.CronJob, jobs []*api.Job, now time.Time) Plan {
	var p Plan
	st := copyStatus(&cj.Status)

	// Active: the controlled jobs that have not finished.
	var active, succeeded, failed []*api.Job
	for _, j := range jobs {
		switch done, typ := api.JobFinished(j); {
		case !done:
			active = append(active, j)
		case typ == api.JobComplete:
			succeeded = append(succeeded, j)
			if j.Status.CompletionTime != nil && (st.LastSuccessfulTime == nil || j.Status.CompletionTime.After(st.LastSuccessfulTime.Time)) {
				t := *j.Status.CompletionTime
				st.LastSuccessfulTime = &t
			}
		default:
			failed = append(failed, j)
		}
	}
	st.Active = nil
	for _, j := range sortByScheduled(active) {
		st.Active = append(st.Active, ref(j))
	}
	p.DeleteJobs = append(p.DeleteJobs, beyondLimit(succeeded, cj.Spec.SuccessfulJobsHistoryLimit, api.DefaultSuccessfulJobsHistoryLimit)...)
	p.DeleteJobs = append(p.DeleteJobs, beyondLimit(failed, cj.Spec.FailedJobsHistoryLimit, api.DefaultFailedJobsHistoryLimit)...)

	finish := func() Plan {
		p.Status = changed(cj, st)
		return p
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return finish()
	}
	sched, err := api.ParseCronSchedule(cj.Spec.Schedule)
	if err != nil {
		p.Events = append(p.Events, event{api.EventTypeWarning, "UnparseableSchedule", err.Error()})
		return finish()
	}
	loc, err := api.CronLocation(cj.Spec.TimeZone)
	if err != nil {
		p.Events = append(p.Events, event{api.EventTypeWarning, "UnknownTimeZone", err.Error()})
		return finish()
	}
	now = now.In(loc)
	if next := sched.Next(now); !next.IsZero() {
		p.RequeueAfter = next.Sub(now)
	}

	earliest := cj.CreationTimestamp.Time
	if st.LastScheduleTime != nil {
		earliest = st.LastScheduleTime.Time
	}
	tooLate := false
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if lim := now.Add(-time.Duration(*d) * time.Second); lim.After(earliest) {
			// Runs older than the deadline may not start any more.
			if n := sched.Next(earliest.In(loc)); !n.IsZero() && !n.After(lim) {
				tooLate = true
			}
			earliest = lim
		}
	}
	scheduled, missed := mostRecent(sched, earliest.In(loc), now)
	if scheduled.IsZero() {
		if tooLate {
			p.Events = append(p.Events, event{api.EventTypeWarning, "MissSchedule", fmt.Sprintf(
				"missed start time(s) more than startingDeadlineSeconds (%d) ago; waiting for the next one", *cj.Spec.StartingDeadlineSeconds)})
		}
		return finish()
	}
	if missed > MaxMissedSchedules {
		p.Events = append(p.Events, event{api.EventTypeWarning, "TooManyMissedTimes", fmt.Sprintf(
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed)})
	}
	for _, j := range jobs {
		if j.Name == JobName(cj, scheduled) {
			// Already created (the status write after creating it failed).
			t := api.NewTime(scheduled)
			st.LastScheduleTime = &t
			return finish()
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case api.ForbidConcurrent:
		if len(active) > 0 {
			// The run waits (within its starting deadline) for the active
			// ones to finish; their finishing wakes this cron job.
			return finish()
		}
	case api.ReplaceConcurrent:
		p.DeleteJobs = append(p.DeleteJobs, active...)
		st.Active = nil
	}
	p.Create = scheduled
	t := api.NewTime(scheduled)
	st.LastScheduleTime = &t
	return finish()
}

// mostRecent is the latest time the schedule fired after earliest and no
// later than now, and how many times it fired in between (zero time: none).
func mostRecent(sched *api.CronSchedule, earliest, now time.Time) (time.Time, int) {
	var last time.Time
	n := 0
	for t := sched.Next(earliest); !t.IsZero() && !t.After(now); t = sched.Next(t) {
		last = t
		n++
		if n > 1_000_000 {
			break // years of every-minute runs missed: the last one is near enough.
		}
	}
	return last, n
}

func scheduledTime(j *api.Job) time.Time {
	if s, ok := j.Annotations[AnnotationScheduledTimestamp]; ok {
		if t, err := time.Parse(time.RFC3339, s); err == nil {
			return t
		}
	}
	return j.CreationTimestamp.Time
}

func sortByScheduled(js []*api.Job) []*api.Job {
	out := append([]*api.Job(nil), js...)
	sort.SliceStable(out, func(a, b int) bool {
		ta, tb := scheduledTime(out[a]), scheduledTime(out[b])
		if ta.Equal(tb) {
			return out[a].Name < out[b].Name
		}
		return ta.Before(tb)
	})
	return out
}

// beyondLimit is the oldest of js beyond the newest limit.
func beyondLimit(js []*api.Job, limit *int32, def int32) []*api.Job {
	l := def
	if limit != nil {
		l = *limit
	}
	if int32(len(js)) <= l {
		return nil
	}
	return sortByScheduled(js)[:int32(len(js))-l]
}

func ref(j *api.Job) api.ObjectReference {
	return api.ObjectReference{Kind: api.KindJob, APIVersion: api.APIVersionBatch, Namespace: j.Namespace, Name: j.Name, UID: j.UID}
}

func copyStatus(s *api.CronJobStatus) api.CronJobStatus {
	c := *s
	c.Active = append([]api.ObjectReference(nil), s.Active...)
	return c
}

// changed returns st when it differs from the cron job's status, else nil.
func changed(cj *api.CronJob, st api.CronJobStatus) *api.CronJobStatus {
	a, errA := json.Marshal(&cj.Status)
	b, errB := json.Marshal(&st)
	if errA == nil && errB == nil && bytes.Equal(a, b) {
		return nil
	}
	return &st
}
