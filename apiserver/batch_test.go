package apiserver_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestBatchKinds: a Job gets its controller-uid selector and defaults; a
// CronJob with a bad schedule, a bad time zone or negative counts is
// refused with the field path and not stored.
func TestBatchKinds(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	jobs := client.For[api.Job](env.Admin)
	cjs := client.For[api.CronJob](env.Admin)
	tmpl := api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}

	j, err := jobs.Create(ctx, &api.Job{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "pi"},
		Spec: api.JobSpec{Template: tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	if j.Spec.Selector == nil || j.Spec.Selector.MatchLabels[api.LabelControllerUID] != j.UID ||
		j.Spec.Template.Labels[api.LabelControllerUID] != j.UID || *j.Spec.BackoffLimit != 6 ||
		j.Spec.Template.Spec.RestartPolicy != api.RestartPolicyNever {
		t.Fatalf("job not defaulted: %+v", j.Spec)
	}
	two := int32(2)
	j.Spec.Completions = &two
	_, err = jobs.Update(ctx, j)
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), "spec.completions", "immutable")

	bad := &api.Job{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "always"}, Spec: api.JobSpec{Template: tmpl}}
	bad.Spec.Template.Spec.RestartPolicy = api.RestartPolicyAlways
	_, err = jobs.Create(ctx, bad)
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid),
		"spec.template.spec.restartPolicy", "Unsupported value")

	tz := "Nowhere/Atlantis"
	neg := int32(-1)
	for _, tc := range []struct {
		field, msg string
		edit       func(cj *api.CronJob)
	}{
		{"spec.schedule", "value 61 out of range 0-59", func(cj *api.CronJob) { cj.Spec.Schedule = "61 * * * *" }},
		{"spec.schedule", "expected exactly 5 fields", func(cj *api.CronJob) { cj.Spec.Schedule = "every day" }},
		{"spec.timeZone", "unknown time zone", func(cj *api.CronJob) { cj.Spec.TimeZone = &tz }},
		{"spec.successfulJobsHistoryLimit", "greater than or equal to 0", func(cj *api.CronJob) { cj.Spec.SuccessfulJobsHistoryLimit = &neg }},
		{"spec.jobTemplate.spec.parallelism", "greater than or equal to 0", func(cj *api.CronJob) { cj.Spec.JobTemplate.Spec.Parallelism = &neg }},
	} {
		cj := &api.CronJob{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "bad"},
			Spec: api.CronJobSpec{Schedule: "@daily", JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{Template: tmpl}}}}
		tc.edit(cj)
		_, err := cjs.Create(ctx, cj)
		wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), tc.field, tc.msg)
		if _, err := cjs.Get(ctx, "default", "bad"); !client.IsNotFound(err) {
			t.Fatalf("refused cron job stored: %v", err)
		}
	}
	berlin := "Europe/Berlin"
	cj, err := cjs.Create(ctx, &api.CronJob{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "nightly"},
		Spec: api.CronJobSpec{Schedule: "30 2 * * mon-fri", TimeZone: &berlin,
			JobTemplate: api.JobTemplateSpec{Spec: api.JobSpec{Template: tmpl}}}})
	if err != nil {
		t.Fatal(err)
	}
	if cj.Spec.ConcurrencyPolicy != api.AllowConcurrent || *cj.Spec.SuccessfulJobsHistoryLimit != 3 || *cj.Spec.FailedJobsHistoryLimit != 1 {
		t.Fatalf("cron job not defaulted: %+v", cj.Spec)
	}
	if k, ok := env.Admin.Scheme().Lookup("cj"); !ok || k.Kind != api.KindCronJob {
		t.Fatalf("short name cj: %v", k)
	}
}
