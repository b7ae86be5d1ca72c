package main

import (
	"net/http"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

func sampleJobs() []api.Object {
	three := int32(3)
	start, end := ago(10*time.Minute), ago(8*time.Minute)
	done := &api.Job{ObjectMeta: testMeta("dev", "pi", time.Hour),
		Spec: api.JobSpec{Completions: &three, Selector: &api.LabelSelector{MatchLabels: map[string]string{api.LabelControllerUID: "u1"}},
			Template: api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: "pi", Image: "perl:5.34"}}}}},
		Status: api.JobStatus{Succeeded: 3, StartTime: &start, CompletionTime: &end}}
	runStart := ago(90 * time.Second)
	running := &api.Job{ObjectMeta: testMeta("dev", "backup", 2*time.Minute),
		Spec: api.JobSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{api.LabelControllerUID: "u2"}},
			Template: api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: "a", Image: "busybox"}, {Name: "b", Image: "alpine"}}}}},
		Status: api.JobStatus{Active: 1, StartTime: &runStart}}
	pending := &api.Job{ObjectMeta: testMeta("dev", "new", 5*time.Second)}
	return []api.Object{done, running, pending}
}

func TestJobTable(t *testing.T) {
	got := printAll(t, "job", printOptions{}, sampleJobs()...)
	want := `NAME     COMPLETIONS   DURATION   AGE
pi       3/3           2m         60m
backup   0/1           90s        2m
new      0/1                      5s
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	got = printAll(t, "jobs", printOptions{output: outputWide}, sampleJobs()[:2]...)
	want = `NAME     COMPLETIONS   DURATION   AGE   CONTAINERS   IMAGES           SELECTOR
pi       3/3           2m         60m   pi           perl:5.34        controller-uid=u1
backup   0/1           90s        2m    a,b          busybox,alpine   controller-uid=u2
`
	if got != want {
		t.Errorf("wide: got:\n%s\nwant:\n%s", got, want)
	}
}

func sampleCronJobs() []api.Object {
	yes := true
	tz := "Europe/Berlin"
	last := ago(3 * time.Minute)
	nightly := &api.CronJob{ObjectMeta: testMeta("dev", "nightly", 48*time.Hour),
		Spec: api.CronJobSpec{Schedule: "0 3 * * *", TimeZone: &tz,
			JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{Template: api.PodTemplateSpec{
				Spec: api.PodSpec{Containers: []api.Container{{Name: "backup", Image: "busybox"}}}}}}},
		Status: api.CronJobStatus{LastScheduleTime: &last, Active: []api.ObjectReference{{Name: "nightly-1"}}}}
	paused := &api.CronJob{ObjectMeta: testMeta("dev", "paused", time.Hour), Spec: api.CronJobSpec{Schedule: "@hourly", Suspend: &yes}}
	return []api.Object{nightly, paused}
}

func TestCronJobTable(t *testing.T) {
	got := printAll(t, "cj", printOptions{}, sampleCronJobs()...)
	want := `NAME      SCHEDULE    SUSPEND   ACTIVE   LAST SCHEDULE   AGE
nightly   0 3 * * *   false     1        3m              2d
paused    @hourly     true      0        <none>          60m
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	got = printAll(t, "cronjobs", printOptions{output: outputWide}, sampleCronJobs()...)
	want = `NAME      SCHEDULE    SUSPEND   ACTIVE   LAST SCHEDULE   AGE   TIMEZONE        CONTAINERS   IMAGES
nightly   0 3 * * *   false     1        3m              2d    Europe/Berlin   backup       busybox
paused    @hourly     true      0        <none>          60m   <none>                       
`
	if got != want {
		t.Errorf("wide: got:\n%s\nwant:\n%s", got, want)
	}
}

func TestGetJobsAndCronJobs(t *testing.T) {
	j := sampleJobs()[0].(*api.Job)
	j.TypeMeta = api.TypeMeta{APIVersion: api.APIVersionBatch, Kind: api.KindJob}
	j.CreationTimestamp = realAgo(20 * 24 * time.Hour)
	j.Status.StartTime, j.Status.CompletionTime = nil, nil
	cj := sampleCronJobs()[1].(*api.CronJob)
	cj.TypeMeta = api.TypeMeta{APIVersion: api.APIVersionBatch, Kind: api.KindCronJob}
	cj.CreationTimestamp = realAgo(20 * 24 * time.Hour)
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /apis/batch/v1/namespaces/dev/jobs":     listOf("Job", "7", j),
		"GET /apis/batch/v1/namespaces/dev/cronjobs": listOf("CronJob", "7", cj),
	})
	cfg := writeConfig(t, f.URL, "dev")
	out, errOut, code := runCLI(t, "--config", cfg, "get", "job")
	if want := "NAME   COMPLETIONS   DURATION   AGE\npi     3/3                      20d\n"; code != 0 || out != want {
		t.Errorf("exit %d (%s), got:\n%s\nwant:\n%s", code, errOut, out, want)
	}
	out, errOut, code = runCLI(t, "--config", cfg, "get", "cj")
	if want := "NAME     SCHEDULE   SUSPEND   ACTIVE   LAST SCHEDULE   AGE\npaused   @hourly    true      0        <none>          20d\n"; code != 0 || out != want {
		t.Errorf("exit %d (%s), got:\n%s\nwant:\n%s", code, errOut, out, want)
	}
}
