package job_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/job"
)

func i32(v int32) *int32 { return &v }

// start runs the simulated cluster and a manager with the Job controller.
func start(t *testing.T) (*controllerstest.Cluster, context.Context) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2})
	startManager(t, c)
	return c, context.Background()
}

// startManager runs a fresh manager (its own caches and queues) with the
// Job controller until stop is called or the test ends.
func startManager(t *testing.T, c *controllerstest.Cluster) (stop func()) {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return controllerstest.RunManager(t, c.Admin, log, func(m *controllers.Manager) error { return job.Setup(m, nil) })
}

func newJob(name string, edit func(*api.JobSpec)) *api.Job {
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.JobSpec{Template: api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}
	if edit != nil {
		edit(&j.Spec)
	}
	return j
}

func podsOf(ctx context.Context, t *testing.T, c *controllerstest.Cluster, j *api.Job) []*api.Pod {
	t.Helper()
	ps, _, err := client.For[api.Pod](c.Admin).List(ctx, "default", client.ListOptions{LabelSelector: api.LabelControllerUID + "=" + j.UID})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// finishRunning SIMULATES THE NODE AGENT reporting that containers exited:
// the simulated nodes only mark pods Running, so the test sets up to n
// Running pods of the job to phase (Succeeded or Failed) through the
// status subresource, as a real agent would. It returns how many it set.
func finishRunning(ctx context.Context, t *testing.T, c *controllerstest.Cluster, j *api.Job, n int, phase api.PodPhase) int {
	t.Helper()
	done := 0
	for _, p := range podsOf(ctx, t, c, j) {
		if done == n || p.Status.Phase != api.PodRunning || p.DeletionTimestamp != nil {
			continue
		}
		p.Status.Phase = phase
		code := int32(0)
		if phase == api.PodFailed {
			code = 1
		}
		for i := range p.Status.ContainerStatuses {
			p.Status.ContainerStatuses[i].Ready = false
			p.Status.ContainerStatuses[i].State = api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: code, Reason: "SimulatedExit", FinishedAt: api.Now()}}
		}
		if _, err := client.For[api.Pod](c.Admin).UpdateStatus(ctx, p); err != nil {
			t.Fatalf("simulated agent: %v", err)
		}
		done++
	}
	return done
}

func getJob(ctx context.Context, t *testing.T, c *controllerstest.Cluster, name string) *api.Job {
	t.Helper()
	j, err := client.For[api.Job](c.Admin).Get(ctx, "default", name)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

func countRunning(ps []*api.Pod) int {
	n := 0
	for _, p := range ps {
		if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil {
			n++
		}
	}
	return n
}

func TestJobRunsToCompletion(t *testing.T) {
	c, ctx := start(t)
	j, err := client.For[api.Job](c.Admin).Create(ctx, newJob("work", func(s *api.JobSpec) {
		s.Completions, s.Parallelism = i32(3), i32(2)
	}))
	if err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return countRunning(podsOf(ctx, t, c, j)) == 2 }, "2 pods running")
	for _, p := range podsOf(ctx, t, c, j) {
		ref := controllers.ControllerRef(p)
		if ref == nil || ref.UID != j.UID || ref.Kind != api.KindJob || p.Labels[api.LabelJobName] != "work" {
			t.Fatalf("pod %s not owned by the job: %+v", p.Name, p.OwnerReferences)
		}
	}
	finishRunning(ctx, t, c, j, 2, api.PodSucceeded)
	// One completion left: one more pod, not two.
	controllerstest.WaitFor(t, func() bool { return countRunning(podsOf(ctx, t, c, j)) == 1 }, "the third pod running")
	if got := len(podsOf(ctx, t, c, j)); got != 3 {
		t.Fatalf("%d pods, want 3", got)
	}
	finishRunning(ctx, t, c, j, 1, api.PodSucceeded)
	controllerstest.WaitFor(t, func() bool {
		done, typ := api.JobFinished(getJob(ctx, t, c, "work"))
		return done && typ == api.JobComplete
	}, "job Complete")
	got := getJob(ctx, t, c, "work")
	if got.Status.Succeeded != 3 || got.Status.Active != 0 || got.Status.CompletionTime == nil || got.Status.StartTime == nil {
		t.Fatalf("status %+v", got.Status)
	}
}

func TestJobBackoffLimit(t *testing.T) {
	c, ctx := start(t)
	j, err := client.For[api.Job](c.Admin).Create(ctx, newJob("flaky", func(s *api.JobSpec) { s.BackoffLimit = i32(1) }))
	if err != nil {
		t.Fatal(err)
	}
	// The second pod comes after the back-off of 10s.
	for range 2 {
		controllerstest.WaitFor(t, func() bool { return countRunning(podsOf(ctx, t, c, j)) == 1 }, "a pod running")
		finishRunning(ctx, t, c, j, 1, api.PodFailed)
	}
	controllerstest.WaitFor(t, func() bool {
		done, typ := api.JobFinished(getJob(ctx, t, c, "flaky"))
		return done && typ == api.JobFailed
	}, "job Failed")
	got := getJob(ctx, t, c, "flaky")
	if got.Status.Failed != 2 || got.Status.Conditions[0].Reason != api.JobReasonBackoffLimitExceeded {
		t.Fatalf("status %+v", got.Status)
	}
	if n := len(podsOf(ctx, t, c, j)); n != 2 {
		t.Fatalf("%d pods after failing, want the 2 failed ones kept", n)
	}
}

func TestJobDeadlineAndTTL(t *testing.T) {
	c, ctx := start(t)
	slow, err := client.For[api.Job](c.Admin).Create(ctx, newJob("slow", func(s *api.JobSpec) {
		d := int64(1)
		s.ActiveDeadlineSeconds = &d
		s.Parallelism, s.Completions = i32(2), i32(2)
	}))
	if err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { done, _ := api.JobFinished(getJob(ctx, t, c, "slow")); return done }, "job past its deadline")
	got := getJob(ctx, t, c, "slow")
	if got.Status.Conditions[0].Type != api.JobFailed || got.Status.Conditions[0].Reason != api.JobReasonDeadlineExceeded {
		t.Fatalf("status %+v", got.Status)
	}
	controllerstest.WaitFor(t, func() bool { return len(podsOf(ctx, t, c, slow)) == 0 }, "the running pods stopped")

	ttl, err := client.For[api.Job](c.Admin).Create(ctx, newJob("ttl", func(s *api.JobSpec) {
		s.TTLSecondsAfterFinished = i32(0)
	}))
	if err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return countRunning(podsOf(ctx, t, c, ttl)) == 1 }, "a pod running")
	finishRunning(ctx, t, c, ttl, 1, api.PodSucceeded)
	controllerstest.WaitFor(t, func() bool {
		_, err := client.For[api.Job](c.Admin).Get(ctx, "default", "ttl")
		return client.IsNotFound(err)
	}, "the finished job deleted after its TTL")
	controllerstest.WaitFor(t, func() bool { return len(podsOf(ctx, t, c, ttl)) == 0 }, "its pods deleted")
}

// TestJobResumesAfterCrash: the Job controller crashes (its Manager is
// cancelled) while a Job of 4 completions runs 2 at a time, and a pod
// succeeds while no controller runs. A fresh Manager resumes from the
// stored pods: it counts the completion once, creates only the pods still
// needed, and the Job completes with exactly 4 pods ever created.
func TestJobResumesAfterCrash(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2})
	ctx := context.Background()
	stop := startManager(t, c)
	j, err := client.For[api.Job](c.Admin).Create(ctx, newJob("resume", func(s *api.JobSpec) {
		s.Completions, s.Parallelism = i32(4), i32(2)
	}))
	if err != nil {
		t.Fatal(err)
	}
	maxActive := 0
	pw := controllerstest.WatchPods(t, c.Admin, "default", api.LabelControllerUID+"="+j.UID, func(pods map[string]*api.Pod) string {
		_, active := controllerstest.CountPods(pods)
		maxActive = max(maxActive, active)
		if active > 2 || len(pods) > 4 {
			return fmt.Sprintf("%d active pods (parallelism 2), %d pods (completions 4):%s", active, len(pods), controllerstest.PodSummary(pods))
		}
		return ""
	})
	controllerstest.WaitFor(t, func() bool { return countRunning(podsOf(ctx, t, c, j)) == 2 }, "2 pods running")
	finishRunning(ctx, t, c, j, 1, api.PodSucceeded)
	controllerstest.WaitFor(t, func() bool { return getJob(ctx, t, c, "resume").Status.Succeeded == 1 }, "1 succeeded in the status")
	stop()
	// While no controller runs, the other pod succeeds too.
	finishRunning(ctx, t, c, j, 1, api.PodSucceeded)
	stop = startManager(t, c)
	controllerstest.WaitFor(t, func() bool { return countRunning(podsOf(ctx, t, c, j)) == 2 }, "2 new pods running after the restart")
	if got := getJob(ctx, t, c, "resume").Status.Succeeded; got != 2 {
		t.Fatalf("succeeded %d after the restart, want 2", got)
	}
	finishRunning(ctx, t, c, j, 1, api.PodSucceeded)
	stop()
	startManager(t, c)
	finishRunning(ctx, t, c, j, 1, api.PodSucceeded)
	controllerstest.WaitFor(t, func() bool {
		done, typ := api.JobFinished(getJob(ctx, t, c, "resume"))
		return done && typ == api.JobComplete
	}, "job Complete")
	got := getJob(ctx, t, c, "resume")
	if got.Status.Succeeded != 4 || got.Status.Active != 0 {
		t.Fatalf("status %+v, want 4 succeeded and none active", got.Status)
	}
	if n := len(podsOf(ctx, t, c, j)); n != 4 {
		t.Fatalf("%d pods, want 4 (one per completion)", n)
	}
	if violation, _ := pw.Result(); violation != "" {
		t.Fatal(violation)
	}
}
