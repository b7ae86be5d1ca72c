package api

import (
	"strings"
	"testing"
)

func testJob() *Job {
	j := &Job{ObjectMeta: ObjectMeta{Name: "pi", Namespace: "default", UID: "u-1"},
		Spec: JobSpec{Template: PodTemplateSpec{Spec: PodSpec{
			Containers: []Container{{Name: "c", Image: "busybox"}}}}}}
	PrepareJobForCreate(j)
	DefaultJob(j)
	return j
}

func TestJobDefaultsAndSelector(t *testing.T) {
	j := testJob()
	if *j.Spec.Parallelism != 1 || *j.Spec.Completions != 1 || *j.Spec.BackoffLimit != DefaultBackoffLimit {
		t.Errorf("defaults: %+v", j.Spec)
	}
	if j.Spec.Template.Spec.RestartPolicy != RestartPolicyNever {
		t.Errorf("restart policy %q", j.Spec.Template.Spec.RestartPolicy)
	}
	if j.Spec.Selector.MatchLabels[LabelControllerUID] != "u-1" || j.Spec.Template.Labels[LabelControllerUID] != "u-1" ||
		j.Spec.Template.Labels[LabelJobName] != "pi" {
		t.Errorf("selector %+v labels %v", j.Spec.Selector, j.Spec.Template.Labels)
	}
	if errs := ValidateJob(j); len(errs) != 0 {
		t.Fatalf("valid job rejected: %v", errs)
	}
	manual := true
	m := &Job{ObjectMeta: ObjectMeta{Name: "m", UID: "u-2"}, Spec: JobSpec{ManualSelector: &manual}}
	PrepareJobForCreate(m)
	if m.Spec.Selector != nil || m.Spec.Template.Labels != nil {
		t.Errorf("manual selector was changed: %+v", m.Spec)
	}
}

func TestValidateJob(t *testing.T) {
	neg := int32(-1)
	neg64 := int64(0)
	for _, tc := range []struct {
		name  string
		edit  func(j *Job)
		field string
	}{
		{"negative completions", func(j *Job) { j.Spec.Completions = &neg }, "spec.completions"},
		{"negative parallelism", func(j *Job) { j.Spec.Parallelism = &neg }, "spec.parallelism"},
		{"negative backoff", func(j *Job) { j.Spec.BackoffLimit = &neg }, "spec.backoffLimit"},
		{"negative ttl", func(j *Job) { j.Spec.TTLSecondsAfterFinished = &neg }, "spec.ttlSecondsAfterFinished"},
		{"zero deadline", func(j *Job) { j.Spec.ActiveDeadlineSeconds = &neg64 }, "spec.activeDeadlineSeconds"},
		{"restart Always", func(j *Job) { j.Spec.Template.Spec.RestartPolicy = RestartPolicyAlways }, "spec.template.spec.restartPolicy"},
		{"no containers", func(j *Job) { j.Spec.Template.Spec.Containers = nil }, "spec.template.spec.containers"},
		{"selector mismatch", func(j *Job) { j.Spec.Selector.MatchLabels["x"] = "y" }, "spec.template.metadata.labels"},
		{"no selector", func(j *Job) { j.Spec.Selector = nil }, "spec.selector"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			j := testJob()
			tc.edit(j)
			errs := ValidateJob(j)
			if len(errs) == 0 || errs[0].Field != tc.field {
				t.Fatalf("errors %v, want one at %s", errs, tc.field)
			}
		})
	}
}

func TestValidateJobUpdate(t *testing.T) {
	old := testJob()
	n := testJob()
	two := int32(2)
	n.Spec.Completions = &two
	n.Spec.Parallelism = &two // may change
	errs := ValidateJobUpdate(n, old)
	if len(errs) != 1 || errs[0].Field != "spec.completions" {
		t.Fatalf("errors %v", errs)
	}
}

func testCronJob() *CronJob {
	cj := &CronJob{ObjectMeta: ObjectMeta{Name: "nightly", Namespace: "default"},
		Spec: CronJobSpec{Schedule: "0 3 * * *", JobTemplate: JobTemplateSpec{Spec: JobSpec{
			Template: PodTemplateSpec{Spec: PodSpec{Containers: []Container{{Name: "c", Image: "busybox"}}}}}}}}
	DefaultCronJob(cj)
	return cj
}

func TestCronJobDefaults(t *testing.T) {
	cj := testCronJob()
	s := cj.Spec
	if s.ConcurrencyPolicy != AllowConcurrent || *s.Suspend || *s.SuccessfulJobsHistoryLimit != 3 ||
		*s.FailedJobsHistoryLimit != 1 || *s.JobTemplate.Spec.BackoffLimit != 6 {
		t.Errorf("defaults: %+v", s)
	}
	if errs := ValidateCronJob(cj); len(errs) != 0 {
		t.Fatalf("valid cron job rejected: %v", errs)
	}
}

func TestValidateCronJob(t *testing.T) {
	neg := int32(-1)
	neg64 := int64(-5)
	str := func(s string) *string { return &s }
	for _, tc := range []struct {
		name, field, detail string
		edit                func(cj *CronJob)
	}{
		{"bad schedule", "spec.schedule", "out of range 0-59", func(cj *CronJob) { cj.Spec.Schedule = "61 * * * *" }},
		{"four fields", "spec.schedule", "exactly 5 fields", func(cj *CronJob) { cj.Spec.Schedule = "* * * *" }},
		{"no schedule", "spec.schedule", "", func(cj *CronJob) { cj.Spec.Schedule = "" }},
		{"bad time zone", "spec.timeZone", "unknown time zone", func(cj *CronJob) { cj.Spec.TimeZone = str("Mars/Olympus") }},
		{"local time zone", "spec.timeZone", "Local is not allowed", func(cj *CronJob) { cj.Spec.TimeZone = str("Local") }},
		{"policy", "spec.concurrencyPolicy", "", func(cj *CronJob) { cj.Spec.ConcurrencyPolicy = "Sometimes" }},
		{"negative deadline", "spec.startingDeadlineSeconds", "", func(cj *CronJob) { cj.Spec.StartingDeadlineSeconds = &neg64 }},
		{"negative history", "spec.successfulJobsHistoryLimit", "", func(cj *CronJob) { cj.Spec.SuccessfulJobsHistoryLimit = &neg }},
		{"negative failed history", "spec.failedJobsHistoryLimit", "", func(cj *CronJob) { cj.Spec.FailedJobsHistoryLimit = &neg }},
		{"negative completions", "spec.jobTemplate.spec.completions", "", func(cj *CronJob) { cj.Spec.JobTemplate.Spec.Completions = &neg }},
		{"restart Always", "spec.jobTemplate.spec.template.spec.restartPolicy", "",
			func(cj *CronJob) { cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = RestartPolicyAlways }},
		{"long name", "metadata.name", "52", func(cj *CronJob) { cj.Name = strings.Repeat("a", 53) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cj := testCronJob()
			tc.edit(cj)
			errs := ValidateCronJob(cj)
			if len(errs) == 0 || errs[0].Field != tc.field || !strings.Contains(errs[0].Error(), tc.detail) {
				t.Fatalf("errors %v, want one at %s containing %q", errs, tc.field, tc.detail)
			}
		})
	}
	cj := testCronJob()
	cj.Spec.TimeZone = str("Asia/Tokyo")
	cj.Spec.Schedule = "@hourly"
	if errs := ValidateCronJob(cj); len(errs) != 0 {
		t.Fatalf("valid: %v", errs)
	}
}

func TestDecodeBatchManifests(t *testing.T) {
	s := NewScheme()
	cronYAML := []byte(`apiVersion: batch/v1
kind: CronJob
metadata:
  name: report
  namespace: dev
spec:
  schedule: "15 6 * * mon-fri"
  timeZone: Europe/Berlin
  concurrencyPolicy: Forbid
  startingDeadlineSeconds: 300
  successfulJobsHistoryLimit: 5
  jobTemplate:
    spec:
      backoffLimit: 2
      activeDeadlineSeconds: 600
      ttlSecondsAfterFinished: 3600
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: busybox
`)
	obj, k, err := s.Decode(cronYAML)
	if err != nil {
		t.Fatal(err)
	}
	cj := obj.(*CronJob)
	if k.Kind != KindCronJob || *cj.Spec.TimeZone != "Europe/Berlin" || *cj.Spec.StartingDeadlineSeconds != 300 ||
		*cj.Spec.JobTemplate.Spec.TTLSecondsAfterFinished != 3600 || cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy != RestartPolicyOnFailure {
		t.Fatalf("decoded %+v", cj.Spec)
	}
	if errs := ValidateCronJob(cj); len(errs) != 0 {
		t.Fatal(errs)
	}
	_, _, err = s.Decode([]byte("apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: x\nspec:\n  completion: 3\n"))
	if err == nil || !strings.Contains(err.Error(), "spec.completion") {
		t.Fatalf("unknown field accepted: %v", err)
	}
}

// Re-applying a job's manifest (no selector, no server labels) keeps what
// the server set at create, so the update validates.
func TestPrepareJobForUpdateKeepsServerSelector(t *testing.T) {
	old := &Job{ObjectMeta: ObjectMeta{Name: "j", Namespace: "default", UID: "u1"}}
	old.Spec.Template.Spec.Containers = []Container{{Name: "c", Image: "busybox"}}
	PrepareJobForCreate(old)
	DefaultJob(old)
	again := &Job{ObjectMeta: ObjectMeta{Name: "j", Namespace: "default", UID: "u1"}}
	again.Spec.Template.Spec.Containers = []Container{{Name: "c", Image: "busybox"}}
	DefaultJob(again)
	if errs := ValidateJob(again); len(errs) == 0 {
		t.Fatal("a job without selector validated before preparation: the test proves nothing")
	}
	PrepareJobForUpdate(again, old)
	if errs := ValidateJob(again); len(errs) > 0 {
		t.Fatalf("prepared update invalid: %v", errs)
	}
	if again.Spec.Selector.MatchLabels[LabelControllerUID] != "u1" || again.Spec.Template.Labels[LabelJobName] != "j" {
		t.Fatalf("server-set selector or labels lost: %+v %v", again.Spec.Selector, again.Spec.Template.Labels)
	}
}
