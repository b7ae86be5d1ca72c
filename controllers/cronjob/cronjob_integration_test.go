package cronjob_test

import (
	"context"
	"log/slog"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/cronjob"
	"github.com/cloudmgr/cloud/controllers/job"
)

// TestCronJobOnFakeClock runs the CronJob and Job controllers, on a fake
// clock, against the real API server and simulated nodes. Since the
// controllers' requeue timers run on real time, the test wakes the cron
// job after moving the clock by touching an annotation (as any change
// would).
func TestCronJobOnFakeClock(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2})
	ctx := context.Background()
	clk := &controllerstest.FakeClock{}
	// The cron job is created at the real time; the fake clock starts
	// there and is moved forward by whole schedule periods.
	base := time.Now().UTC().Truncate(5 * time.Minute)
	clk.Set(base.Add(time.Minute))
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	controllerstest.RunManager(t, c.Admin, log,
		func(m *controllers.Manager) error { return job.Setup(m, clk) },
		func(m *controllers.Manager) error { return cronjob.Setup(m, clk) })

	cjs := client.For[api.CronJob](c.Admin)
	jobs := client.For[api.Job](c.Admin)
	cj, err := cjs.Create(ctx, &api.CronJob{ObjectMeta: api.ObjectMeta{Name: "tick", Namespace: "default"},
		Spec: api.CronJobSpec{Schedule: "*/5 * * * *", ConcurrencyPolicy: api.ForbidConcurrent, SuccessfulJobsHistoryLimit: func() *int32 { v := int32(1); return &v }(),
			JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{Template: api.PodTemplateSpec{
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// Periods counted from the creation time (in case a 5-minute boundary
	// passed since base was taken).
	base = cj.CreationTimestamp.Truncate(5 * time.Minute)
	clk.Set(base.Add(time.Minute))
	n := 0
	poke := func() {
		t.Helper()
		for {
			cur, err := cjs.Get(ctx, "default", "tick")
			if err != nil {
				t.Fatal(err)
			}
			if cur.Annotations == nil {
				cur.Annotations = map[string]string{}
			}
			n++
			cur.Annotations["test/poke"] = strconv.Itoa(n)
			if _, err := cjs.Update(ctx, cur); err == nil {
				return
			} else if !client.IsConflict(err) {
				t.Fatal(err)
			}
		}
	}
	list := func() map[string]*api.Job {
		t.Helper()
		js, _, err := jobs.List(ctx, "default", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]*api.Job{}
		for _, j := range js {
			out[j.Name] = j
		}
		return out
	}
	name := func(at time.Time) string { return "tick-" + strconv.FormatInt(at.Unix()/60, 10) }
	// succeed SIMULATES THE NODE AGENT: the simulated nodes only mark pods
	// Running, so the test reports the job's pod Succeeded.
	succeed := func(jobName string) {
		t.Helper()
		var j *api.Job
		controllerstest.WaitFor(t, func() bool { j = list()[jobName]; return j != nil }, "job "+jobName)
		var pod *api.Pod
		controllerstest.WaitFor(t, func() bool {
			ps, _, _ := client.For[api.Pod](c.Admin).List(ctx, "default", client.ListOptions{LabelSelector: api.LabelControllerUID + "=" + j.UID})
			if len(ps) == 1 && ps[0].Status.Phase == api.PodRunning {
				pod = ps[0]
			}
			return pod != nil
		}, "the pod of "+jobName+" running")
		pod.Status.Phase = api.PodSucceeded
		if _, err := client.For[api.Pod](c.Admin).UpdateStatus(ctx, pod); err != nil {
			t.Fatal(err)
		}
		controllerstest.WaitFor(t, func() bool { done, typ := api.JobFinished(list()[jobName]); return done && typ == api.JobComplete }, jobName+" complete")
	}

	// Nothing is due before the first tick.
	poke()
	time.Sleep(200 * time.Millisecond)
	if js := list(); len(js) != 0 {
		t.Fatalf("jobs before the schedule fired: %v", js)
	}
	// First tick.
	t1 := base.Add(5 * time.Minute)
	clk.Set(t1.Add(10 * time.Second))
	poke()
	controllerstest.WaitFor(t, func() bool { return list()[name(t1)] != nil }, "the first run "+name(t1))
	controllerstest.WaitFor(t, func() bool {
		got, _ := cjs.Get(ctx, "default", "tick")
		return len(got.Status.Active) == 1 && got.Status.LastScheduleTime != nil && got.Status.LastScheduleTime.Equal(t1)
	}, "status active and lastScheduleTime")
	if ref := controllers.ControllerRef(list()[name(t1)]); ref == nil || ref.UID != cj.UID {
		t.Fatalf("job not owned by the cron job")
	}

	// A lost status write (or a restart) does not make a second job for
	// the same time: the name is the scheduled minute.
	for {
		got, err := cjs.Get(ctx, "default", "tick")
		if err != nil {
			t.Fatal(err)
		}
		got.Status.LastScheduleTime = nil
		if _, err = cjs.UpdateStatus(ctx, got); err == nil {
			break
		}
		if !client.IsConflict(err) {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool {
		got, _ := cjs.Get(ctx, "default", "tick")
		return got.Status.LastScheduleTime != nil
	}, "lastScheduleTime restored")
	if js := list(); len(js) != 1 {
		t.Fatalf("%d jobs after losing the status, want 1", len(js))
	}

	// Forbid: the second tick waits while the first run is active...
	t2 := t1.Add(5 * time.Minute)
	clk.Set(t2.Add(10 * time.Second))
	poke()
	time.Sleep(300 * time.Millisecond)
	if js := list(); len(js) != 1 {
		t.Fatalf("%d jobs while one is active under Forbid, want 1", len(js))
	}
	// ... and starts once it finished.
	succeed(name(t1))
	controllerstest.WaitFor(t, func() bool { return list()[name(t2)] != nil }, "the delayed second run")

	// The third run finishes the second; history keeps 1 successful job.
	t3 := t2.Add(5 * time.Minute)
	clk.Set(t3.Add(10 * time.Second))
	succeed(name(t2))
	controllerstest.WaitFor(t, func() bool { return list()[name(t3)] != nil }, "the third run")
	controllerstest.WaitFor(t, func() bool { _, ok := list()[name(t1)]; return !ok }, "the oldest successful job pruned")
	if _, ok := list()[name(t2)]; !ok {
		t.Fatalf("the newest successful job was pruned")
	}

	// Suspended: no new run.
	succeed(name(t3))
	yes := true
	for {
		// The controller writes the status meanwhile: retry on conflict.
		got, err := cjs.Get(ctx, "default", "tick")
		if err != nil {
			t.Fatal(err)
		}
		got.Spec.Suspend = &yes
		if _, err = cjs.Update(ctx, got); err == nil {
			break
		}
		if !client.IsConflict(err) {
			t.Fatal(err)
		}
	}
	t4 := t3.Add(5 * time.Minute)
	clk.Set(t4.Add(10 * time.Second))
	poke()
	time.Sleep(300 * time.Millisecond)
	if _, ok := list()[name(t4)]; ok {
		t.Fatalf("a suspended cron job ran")
	}
	evs, _, err := client.For[api.Event](c.Admin).List(ctx, "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	created := 0
	for _, e := range evs {
		if e.InvolvedObject.Kind == api.KindCronJob && e.Reason == "SuccessfulCreate" {
			created++
		}
	}
	if created != 3 {
		t.Fatalf("%d SuccessfulCreate events, want 3", created)
	}
}
