package job

import (
	"fmt"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

var t0 = time.Date(2026, 5, 1, 12, 0, 0, 0, time.UTC)

func i32(v int32) *int32 { return &v }
func i64(v int64) *int64 { return &v }

type jobOpt func(*api.Job)

func mkJob(opts ...jobOpt) *api.Job {
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: "j", Namespace: "ns", UID: "uid"},
		Spec: api.JobSpec{Template: api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}
	api.PrepareJobForCreate(j)
	api.DefaultJob(j)
	for _, o := range opts {
		o(j)
	}
	return j
}

func started(at time.Time) jobOpt {
	return func(j *api.Job) { t := api.NewTime(at); j.Status.StartTime = &t }
}

func finished(typ api.JobConditionType, at time.Time) jobOpt {
	return func(j *api.Job) {
		j.Status.Conditions = []api.JobCondition{{Type: typ, Status: api.ConditionTrue, LastTransitionTime: api.NewTime(at)}}
		if typ == api.JobComplete {
			t := api.NewTime(at)
			j.Status.CompletionTime = &t
		}
	}
}

// pods makes n pods in phase, created one second apart from t0.
func pods(phase api.PodPhase, n int) []*api.Pod {
	var out []*api.Pod
	for i := range n {
		out = append(out, &api.Pod{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s-%d", phase, i),
			CreationTimestamp: api.NewTime(t0.Add(time.Duration(i) * time.Second))}, Status: api.PodStatus{Phase: phase}})
	}
	return out
}

func cat(lists ...[]*api.Pod) []*api.Pod {
	var out []*api.Pod
	for _, l := range lists {
		out = append(out, l...)
	}
	return out
}

func TestPlan(t *testing.T) {
	restarted := pods(api.PodRunning, 1)
	restarted[0].Status.ContainerStatuses = []api.ContainerStatus{{Name: "c", RestartCount: 3}}
	deleting := pods(api.PodRunning, 1)
	deleting[0].DeletionTimestamp = &api.Time{Time: t0}
	for _, tc := range []struct {
		name         string
		job          *api.Job
		pods         []*api.Pod
		now          time.Time
		create       int
		deleteN      int
		deleteJob    bool
		cond         api.JobConditionType // "" for none
		reason       string
		active       int32
		succeeded    int32
		failed       int32
		requeueAfter time.Duration
	}{
		{name: "new job starts one pod", job: mkJob(), now: t0, create: 1, active: 1},
		{name: "parallel job starts parallelism pods",
			job: mkJob(func(j *api.Job) { j.Spec.Parallelism, j.Spec.Completions = i32(3), i32(5) }), now: t0, create: 3, active: 3},
		{name: "no more pods than completions left",
			job:  mkJob(func(j *api.Job) { j.Spec.Parallelism, j.Spec.Completions = i32(3), i32(5) }, started(t0)),
			pods: cat(pods(api.PodSucceeded, 3), pods(api.PodRunning, 1)), now: t0, create: 1, active: 2, succeeded: 3},
		{name: "completes when enough succeeded and stops the rest",
			job:  mkJob(func(j *api.Job) { j.Spec.Parallelism, j.Spec.Completions = i32(3), i32(2) }, started(t0)),
			pods: cat(pods(api.PodSucceeded, 2), pods(api.PodRunning, 1)), now: t0, deleteN: 1, cond: api.JobComplete, succeeded: 2},
		{name: "failed pods are replaced after the back-off",
			job:  mkJob(started(t0)),
			pods: pods(api.PodFailed, 2), now: t0.Add(21 * time.Second), create: 1, active: 1, failed: 2},
		{name: "failed pods wait for the back-off (10s doubled per failure)",
			job:  mkJob(started(t0)),
			pods: pods(api.PodFailed, 2), now: t0.Add(5 * time.Second), failed: 2, requeueAfter: 16 * time.Second},
		{name: "back-off is at most 6 minutes",
			job:  mkJob(func(j *api.Job) { j.Spec.BackoffLimit = i32(20) }, started(t0)),
			pods: pods(api.PodFailed, 10), now: t0.Add(10 * time.Second), failed: 10, requeueAfter: 6*time.Minute - time.Second},
		{name: "the deadline comes before the back-off ends",
			job:  mkJob(func(j *api.Job) { j.Spec.ActiveDeadlineSeconds = i64(8) }, started(t0)),
			pods: pods(api.PodFailed, 1), now: t0.Add(5 * time.Second), failed: 1, requeueAfter: 3 * time.Second},
		{name: "backoff limit exceeded fails the job",
			job:  mkJob(func(j *api.Job) { j.Spec.BackoffLimit = i32(1) }, started(t0)),
			pods: cat(pods(api.PodFailed, 2), pods(api.PodRunning, 1)), now: t0, deleteN: 1,
			cond: api.JobFailed, reason: api.JobReasonBackoffLimitExceeded, failed: 2},
		{name: "backoff limit 0 tolerates no failure",
			job:  mkJob(func(j *api.Job) { j.Spec.BackoffLimit = i32(0) }, started(t0)),
			pods: pods(api.PodFailed, 1), now: t0, cond: api.JobFailed, reason: api.JobReasonBackoffLimitExceeded, failed: 1},
		{name: "OnFailure restarts count against the backoff limit",
			job: mkJob(func(j *api.Job) {
				j.Spec.BackoffLimit = i32(2)
				j.Spec.Template.Spec.RestartPolicy = api.RestartPolicyOnFailure
			}, started(t0)),
			pods: restarted, now: t0, deleteN: 1, cond: api.JobFailed, reason: api.JobReasonBackoffLimitExceeded, failed: 3},
		{name: "before the deadline: requeue at it",
			job:  mkJob(func(j *api.Job) { j.Spec.ActiveDeadlineSeconds = i64(60) }, started(t0)),
			pods: pods(api.PodRunning, 1), now: t0.Add(20 * time.Second), active: 1, requeueAfter: 40 * time.Second},
		{name: "deadline exceeded stops pods and fails",
			job:  mkJob(func(j *api.Job) { j.Spec.ActiveDeadlineSeconds = i64(60) }, started(t0)),
			pods: pods(api.PodRunning, 1), now: t0.Add(60 * time.Second), deleteN: 1,
			cond: api.JobFailed, reason: api.JobReasonDeadlineExceeded},
		{name: "terminating pods are not active",
			job:  mkJob(started(t0)),
			pods: deleting, now: t0, create: 1, active: 1},
		{name: "lowered parallelism deletes the excess",
			job:  mkJob(func(j *api.Job) { j.Spec.Parallelism, j.Spec.Completions = i32(1), i32(4) }, started(t0)),
			pods: pods(api.PodRunning, 3), now: t0, deleteN: 2, active: 1},
		{name: "suspended job runs nothing",
			job:  mkJob(func(j *api.Job) { s := true; j.Spec.Suspend = &s }, started(t0)),
			pods: pods(api.PodRunning, 1), now: t0, deleteN: 1},
		{name: "finished job before its TTL waits",
			job: mkJob(func(j *api.Job) { j.Spec.TTLSecondsAfterFinished = i32(100) }, started(t0),
				finished(api.JobComplete, t0.Add(10*time.Second))),
			pods: pods(api.PodSucceeded, 1), now: t0.Add(50 * time.Second), cond: api.JobComplete, succeeded: 1,
			requeueAfter: 60 * time.Second},
		{name: "finished job past its TTL is deleted",
			job: mkJob(func(j *api.Job) { j.Spec.TTLSecondsAfterFinished = i32(100) }, started(t0),
				finished(api.JobFailed, t0.Add(10*time.Second))),
			pods: pods(api.PodFailed, 1), now: t0.Add(110 * time.Second), deleteJob: true, cond: api.JobFailed, failed: 1},
		{name: "finished job without TTL stays",
			job:  mkJob(started(t0), finished(api.JobComplete, t0)),
			pods: pods(api.PodSucceeded, 1), now: t0.Add(1000 * time.Hour), cond: api.JobComplete, succeeded: 1},
		{name: "counts do not go back when finished pods vanish",
			job: mkJob(func(j *api.Job) { j.Spec.Completions = i32(3); j.Status.Succeeded = 2 }, started(t0)),
			now: t0, create: 1, active: 1, succeeded: 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := plan(tc.job, tc.pods, tc.now)
			if p.Create != tc.create || len(p.Delete) != tc.deleteN || p.DeleteJob != tc.deleteJob {
				t.Fatalf("create %d delete %d deleteJob %v, want %d %d %v", p.Create, len(p.Delete), p.DeleteJob, tc.create, tc.deleteN, tc.deleteJob)
			}
			if p.RequeueAfter != tc.requeueAfter {
				t.Errorf("requeue after %v, want %v", p.RequeueAfter, tc.requeueAfter)
			}
			st := tc.job.Status
			if p.Status != nil {
				st = *p.Status
			}
			if st.Active != tc.active || st.Succeeded != tc.succeeded || st.Failed != tc.failed {
				t.Errorf("active/succeeded/failed %d/%d/%d, want %d/%d/%d", st.Active, st.Succeeded, st.Failed, tc.active, tc.succeeded, tc.failed)
			}
			if st.StartTime == nil {
				t.Errorf("no start time")
			}
			done, typ := api.JobFinished(&api.Job{Status: st})
			if tc.cond == "" && done || tc.cond != "" && typ != tc.cond {
				t.Fatalf("conditions %+v, want %q", st.Conditions, tc.cond)
			}
			if tc.reason != "" && st.Conditions[0].Reason != tc.reason {
				t.Errorf("reason %q, want %q", st.Conditions[0].Reason, tc.reason)
			}
			if typ == api.JobComplete && st.CompletionTime == nil {
				t.Errorf("complete without completion time")
			}
		})
	}
}

func TestPlanDeletesNewestExcess(t *testing.T) {
	j := mkJob(func(j *api.Job) { j.Spec.Parallelism, j.Spec.Completions = i32(1), i32(4) }, started(t0))
	p := plan(j, pods(api.PodRunning, 3), t0)
	if len(p.Delete) != 2 || p.Delete[0].Name != "Running-2" || p.Delete[1].Name != "Running-1" {
		t.Fatalf("deleted %v", p.Delete)
	}
}

func TestPlanIsStable(t *testing.T) {
	// Once the status is written, the same inputs change nothing.
	j := mkJob(func(j *api.Job) { j.Spec.Parallelism, j.Spec.Completions = i32(2), i32(2) })
	running := pods(api.PodRunning, 2)
	p := plan(j, running, t0)
	j.Status = *p.Status
	if p2 := plan(j, running, t0.Add(time.Minute)); p2.Status != nil || p2.Create != 0 || len(p2.Delete) != 0 {
		t.Fatalf("second plan not empty: %+v", p2)
	}
}
