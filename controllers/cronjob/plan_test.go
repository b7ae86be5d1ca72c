package cronjob

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// t0 is a Monday.
var t0 = time.Date(2026, 6, 1, 0, 0, 0, 0, time.UTC)

func i32(v int32) *int32 { return &v }
func i64(v int64) *int64 { return &v }

func mkCronJob(schedule string, edit ...func(*api.CronJob)) *api.CronJob {
	cj := &api.CronJob{ObjectMeta: api.ObjectMeta{Name: "cj", Namespace: "ns", UID: "cj-uid", CreationTimestamp: api.NewTime(t0)},
		Spec: api.CronJobSpec{Schedule: schedule, JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{
			Template: api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}}}
	api.DefaultCronJob(cj)
	for _, e := range edit {
		e(cj)
	}
	return cj
}

func lastScheduled(t time.Time) func(*api.CronJob) {
	return func(cj *api.CronJob) { at := api.NewTime(t); cj.Status.LastScheduleTime = &at }
}

// mkJob is a job of cj scheduled at t, finished as cond ("" running).
func mkJob(cj *api.CronJob, t time.Time, cond api.JobConditionType) *api.Job {
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: JobName(cj, t), Namespace: "ns", UID: "u-" + JobName(cj, t),
		Annotations: map[string]string{AnnotationScheduledTimestamp: t.Format(time.RFC3339)}}}
	if cond != "" {
		j.Status.Conditions = []api.JobCondition{{Type: cond, Status: api.ConditionTrue}}
		if cond == api.JobComplete {
			ct := api.NewTime(t.Add(time.Minute))
			j.Status.CompletionTime = &ct
		}
	}
	return j
}

func TestPlan(t *testing.T) {
	hourly := mkCronJob("0 * * * *")
	forbid := func(cj *api.CronJob) { cj.Spec.ConcurrencyPolicy = api.ForbidConcurrent }
	replace := func(cj *api.CronJob) { cj.Spec.ConcurrencyPolicy = api.ReplaceConcurrent }
	for _, tc := range []struct {
		name         string
		cj           *api.CronJob
		jobs         func(cj *api.CronJob) []*api.Job
		now          time.Time
		create       time.Time // zero: none
		deleted      []string
		active       int
		event        string
		requeueAfter time.Duration
	}{
		{name: "nothing due yet", cj: hourly, now: t0.Add(30 * time.Minute), requeueAfter: 30 * time.Minute},
		{name: "due: create the run", cj: hourly, now: t0.Add(time.Hour + 5*time.Second),
			create: t0.Add(time.Hour), requeueAfter: time.Hour - 5*time.Second},
		{name: "already scheduled: nothing", cj: mkCronJob("0 * * * *", lastScheduled(t0.Add(time.Hour))),
			now: t0.Add(time.Hour + 10*time.Minute), requeueAfter: 50 * time.Minute},
		{name: "several missed: only the most recent runs", cj: hourly, now: t0.Add(5*time.Hour + time.Minute),
			create: t0.Add(5 * time.Hour), requeueAfter: 59 * time.Minute},
		{name: "too many missed: warn and run the last", cj: mkCronJob("* * * * *"), now: t0.Add(3 * time.Hour),
			create: t0.Add(3 * time.Hour), event: "TooManyMissedTimes", requeueAfter: time.Minute},
		{name: "a starting deadline bounds the missed count",
			cj: mkCronJob("* * * * *", func(cj *api.CronJob) { cj.Spec.StartingDeadlineSeconds = i64(300) }), now: t0.Add(3 * time.Hour),
			create: t0.Add(3 * time.Hour), requeueAfter: time.Minute},
		{name: "past the starting deadline: skipped",
			cj:  mkCronJob("0 * * * *", func(cj *api.CronJob) { cj.Spec.StartingDeadlineSeconds = i64(60) }),
			now: t0.Add(time.Hour + 2*time.Minute), event: "MissSchedule", requeueAfter: 58 * time.Minute},
		{name: "within the starting deadline",
			cj:  mkCronJob("0 * * * *", func(cj *api.CronJob) { cj.Spec.StartingDeadlineSeconds = i64(300) }),
			now: t0.Add(time.Hour + 2*time.Minute), create: t0.Add(time.Hour), requeueAfter: 58 * time.Minute},
		{name: "allow: runs alongside the active one", cj: mkCronJob("0 * * * *", lastScheduled(t0.Add(time.Hour))),
			jobs: func(cj *api.CronJob) []*api.Job { return []*api.Job{mkJob(cj, t0.Add(time.Hour), "")} },
			now:  t0.Add(2 * time.Hour), create: t0.Add(2 * time.Hour), active: 1, requeueAfter: time.Hour},
		{name: "forbid: waits for the active one", cj: mkCronJob("0 * * * *", forbid, lastScheduled(t0.Add(time.Hour))),
			jobs: func(cj *api.CronJob) []*api.Job { return []*api.Job{mkJob(cj, t0.Add(time.Hour), "")} },
			now:  t0.Add(2 * time.Hour), active: 1, requeueAfter: time.Hour},
		{name: "forbid: runs once the active one finished", cj: mkCronJob("0 * * * *", forbid, lastScheduled(t0.Add(time.Hour))),
			jobs: func(cj *api.CronJob) []*api.Job { return []*api.Job{mkJob(cj, t0.Add(time.Hour), api.JobComplete)} },
			now:  t0.Add(2*time.Hour + 10*time.Minute), create: t0.Add(2 * time.Hour), requeueAfter: 50 * time.Minute},
		{name: "replace: deletes the active one", cj: mkCronJob("0 * * * *", replace, lastScheduled(t0.Add(time.Hour))),
			jobs: func(cj *api.CronJob) []*api.Job { return []*api.Job{mkJob(cj, t0.Add(time.Hour), "")} },
			now:  t0.Add(2 * time.Hour), create: t0.Add(2 * time.Hour), deleted: []string{"cj-29671260"}, requeueAfter: time.Hour},
		{name: "suspended: nothing new", cj: mkCronJob("0 * * * *", func(cj *api.CronJob) { s := true; cj.Spec.Suspend = &s }),
			now: t0.Add(3 * time.Hour)},
		{name: "history limits prune the oldest",
			cj: mkCronJob("0 * * * *", lastScheduled(t0.Add(6*time.Hour)), func(cj *api.CronJob) {
				cj.Spec.SuccessfulJobsHistoryLimit, cj.Spec.FailedJobsHistoryLimit = i32(2), i32(0)
			}),
			jobs: func(cj *api.CronJob) []*api.Job {
				return []*api.Job{mkJob(cj, t0.Add(3*time.Hour), api.JobComplete), mkJob(cj, t0.Add(1*time.Hour), api.JobComplete),
					mkJob(cj, t0.Add(2*time.Hour), api.JobComplete), mkJob(cj, t0.Add(4*time.Hour), api.JobFailed),
					mkJob(cj, t0.Add(6*time.Hour), "")}
			},
			now: t0.Add(6*time.Hour + time.Minute), deleted: []string{"cj-29671260", "cj-29671440"}, active: 1,
			requeueAfter: 59 * time.Minute},
		{name: "job created but status not written: no second job", cj: hourly,
			jobs: func(cj *api.CronJob) []*api.Job { return []*api.Job{mkJob(cj, t0.Add(time.Hour), "")} },
			now:  t0.Add(time.Hour + time.Minute), active: 1, requeueAfter: 59 * time.Minute},
		{name: "time zone", cj: mkCronJob("30 9 * * *", func(cj *api.CronJob) { tz := "Asia/Tokyo"; cj.Spec.TimeZone = &tz }),
			now: t0.Add(30*time.Minute + time.Second), create: t0.Add(30 * time.Minute), requeueAfter: 24*time.Hour - time.Second},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var jobs []*api.Job
			if tc.jobs != nil {
				jobs = tc.jobs(tc.cj)
			}
			p := plan(tc.cj, jobs, tc.now)
			if !p.Create.Equal(tc.create) {
				t.Fatalf("create %v, want %v", p.Create, tc.create)
			}
			var deleted []string
			for _, j := range p.DeleteJobs {
				deleted = append(deleted, j.Name)
			}
			if fmt.Sprint(deleted) != fmt.Sprint(tc.deleted) {
				t.Errorf("deleted %v, want %v", deleted, tc.deleted)
			}
			var events []string
			for _, e := range p.Events {
				events = append(events, e.Reason)
			}
			if strings.Join(events, ",") != tc.event {
				t.Errorf("events %v, want %q", p.Events, tc.event)
			}
			if p.RequeueAfter != tc.requeueAfter {
				t.Errorf("requeue after %v, want %v", p.RequeueAfter, tc.requeueAfter)
			}
			st := tc.cj.Status
			if p.Status != nil {
				st = *p.Status
			}
			if len(st.Active) != tc.active {
				t.Errorf("active %v, want %d", st.Active, tc.active)
			}
			if !tc.create.IsZero() && (st.LastScheduleTime == nil || !st.LastScheduleTime.Equal(tc.create)) {
				t.Errorf("last schedule time %v, want %v", st.LastScheduleTime, tc.create)
			}
		})
	}
}

func TestJobNameIsDeterministic(t *testing.T) {
	cj := mkCronJob("@hourly")
	at := time.Date(2026, 6, 1, 1, 0, 0, 0, time.UTC)
	if got := JobName(cj, at); got != "cj-29671260" {
		t.Fatalf("name %s", got)
	}
	if JobName(cj, at.In(time.FixedZone("x", 3600))) != JobName(cj, at) {
		t.Fatalf("name depends on the zone")
	}
}

// TestPlanAcrossDST: in New York on 2026-03-08 02:30 does not exist, so a
// 02:30 daily run is skipped that day; the run of the 9th is due at 02:30
// EDT (06:30 UTC), one hour earlier in UTC than before the change.
func TestPlanAcrossDST(t *testing.T) {
	ny, err := time.LoadLocation("America/New_York")
	if err != nil {
		t.Fatal(err)
	}
	tz := "America/New_York"
	before := time.Date(2026, 3, 7, 2, 30, 0, 0, ny) // 07:30 UTC
	cj := mkCronJob("30 2 * * *", func(cj *api.CronJob) { cj.Spec.TimeZone = &tz }, lastScheduled(before))
	// On the 8th at 12:00 UTC nothing is due: the 8th had no 02:30.
	p := plan(cj, nil, time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC))
	if !p.Create.IsZero() {
		t.Fatalf("ran at %v on a day without 02:30", p.Create)
	}
	if want := time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC).Sub(time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)); p.RequeueAfter != want {
		t.Fatalf("requeue after %v, want %v", p.RequeueAfter, want)
	}
	p = plan(cj, nil, time.Date(2026, 3, 9, 6, 30, 5, 0, time.UTC))
	if want := time.Date(2026, 3, 9, 6, 30, 0, 0, time.UTC); !p.Create.Equal(want) {
		t.Fatalf("create %v, want %v", p.Create, want)
	}
}
