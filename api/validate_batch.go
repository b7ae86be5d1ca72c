package api

import (
	"errors"
	"fmt"
	"time"
)

// PrepareJobForUpdate keeps what the server set when the job was created
// (its controller-uid selector and the labels it put on the pod template)
// when an update, such as re-applying the original manifest, omits them.
func PrepareJobForUpdate(j, old *Job) {
	if j.Spec.Selector == nil {
		j.Spec.Selector = old.Spec.Selector
	}
	for _, k := range []string{LabelControllerUID, LabelJobName} {
		v, ok := old.Spec.Template.Labels[k]
		if _, set := j.Spec.Template.Labels[k]; ok && !set {
			if j.Spec.Template.Labels == nil {
				j.Spec.Template.Labels = map[string]string{}
			}
			j.Spec.Template.Labels[k] = v
		}
	}
}

// PrepareJobForCreate gives a job without a manual selector the selector
// controller-uid=<its UID>, and puts that label (and job-name) on its pod
// template, as Kubernetes does. It runs after the server set the UID.
func PrepareJobForCreate(j *Job) {
	j.Status = JobStatus{}
	if j.Spec.ManualSelector != nil && *j.Spec.ManualSelector {
		return
	}
	if j.Spec.Template.Labels == nil {
		j.Spec.Template.Labels = map[string]string{}
	}
	j.Spec.Template.Labels[LabelControllerUID] = j.UID
	j.Spec.Template.Labels[LabelJobName] = j.Name
	if j.Spec.Selector == nil {
		j.Spec.Selector = &LabelSelector{}
	}
	if j.Spec.Selector.MatchLabels == nil {
		j.Spec.Selector.MatchLabels = map[string]string{}
	}
	j.Spec.Selector.MatchLabels[LabelControllerUID] = j.UID
}

// DefaultJob defaults parallelism and completions (1), the backoff limit
// (6) and the template's pod spec.
func DefaultJob(j *Job) { defaultJobSpec(&j.Spec) }

func defaultJobSpec(s *JobSpec) {
	one := int32(1)
	if s.Parallelism == nil {
		v := one
		s.Parallelism = &v
	}
	if s.Completions == nil {
		v := one
		s.Completions = &v
	}
	if s.BackoffLimit == nil {
		v := int32(DefaultBackoffLimit)
		s.BackoffLimit = &v
	}
	if s.Template.Spec.RestartPolicy == "" {
		// A job's pods must not restart forever; Kubernetes makes the
		// user choose, this API picks Never when none is given.
		s.Template.Spec.RestartPolicy = RestartPolicyNever
	}
	p := Pod{Spec: s.Template.Spec}
	DefaultPod(&p)
	s.Template.Spec = p.Spec
}

// DefaultCronJob defaults the concurrency policy (Allow), suspend (false),
// the history limits (3 successful, 1 failed) and the job template.
func DefaultCronJob(cj *CronJob) {
	s := &cj.Spec
	if s.ConcurrencyPolicy == "" {
		s.ConcurrencyPolicy = AllowConcurrent
	}
	if s.Suspend == nil {
		f := false
		s.Suspend = &f
	}
	if s.SuccessfulJobsHistoryLimit == nil {
		v := int32(DefaultSuccessfulJobsHistoryLimit)
		s.SuccessfulJobsHistoryLimit = &v
	}
	if s.FailedJobsHistoryLimit == nil {
		v := int32(DefaultFailedJobsHistoryLimit)
		s.FailedJobsHistoryLimit = &v
	}
	defaultJobSpec(&s.JobTemplate.Spec)
}

// ValidateJob checks a job's metadata and spec.
func ValidateJob(j *Job) ErrorList {
	errs := ValidateObjectMeta(&j.ObjectMeta, true, false)
	return append(errs, validateJobSpec(&j.Spec, "spec", true)...)
}

// validateJobSpec checks a job spec at p. withSelector is false for a
// CronJob's job template, whose selector is set when each job is created.
func validateJobSpec(s *JobSpec, p fieldPath, withSelector bool) ErrorList {
	var errs ErrorList
	if s.Parallelism != nil {
		errs = append(errs, validateNonNegative(p.child("parallelism"), *s.Parallelism)...)
	}
	if s.Completions != nil {
		errs = append(errs, validateNonNegative(p.child("completions"), *s.Completions)...)
	}
	if s.BackoffLimit != nil {
		errs = append(errs, validateNonNegative(p.child("backoffLimit"), *s.BackoffLimit)...)
	}
	if s.TTLSecondsAfterFinished != nil {
		errs = append(errs, validateNonNegative(p.child("ttlSecondsAfterFinished"), *s.TTLSecondsAfterFinished)...)
	}
	if d := s.ActiveDeadlineSeconds; d != nil && *d <= 0 {
		errs = append(errs, invalid(p.child("activeDeadlineSeconds"), *d, "must be greater than 0"))
	}
	tp := p.child("template")
	sp := p.child("selector")
	switch {
	case s.Selector == nil:
		if withSelector {
			errs = append(errs, required(sp, "set to controller-uid=<uid> unless manualSelector is true"))
		}
	default:
		serrs := ValidateLabelSelector(s.Selector, sp.String())
		errs = append(errs, serrs...)
		if len(serrs) == 0 && withSelector && !s.Selector.Matches(s.Template.Labels) {
			errs = append(errs, invalid(tp.child("metadata").child("labels"), s.Template.Labels,
				"`selector` does not match template `labels`"))
		}
	}
	errs = append(errs, ValidateLabels(s.Template.Labels, tp.child("metadata").child("labels").String())...)
	errs = append(errs, validateAnnotations(s.Template.Annotations, tp.child("metadata").child("annotations"))...)
	errs = append(errs, validatePodSpec(&s.Template.Spec, tp.child("spec"))...)
	if rp := s.Template.Spec.RestartPolicy; rp != "" && !oneOf(rp, RestartPolicyNever, RestartPolicyOnFailure) {
		errs = append(errs, notSupported(tp.child("spec").child("restartPolicy"), rp, RestartPolicyOnFailure, RestartPolicyNever))
	}
	return errs
}

// ValidateJobUpdate checks what may not change in a job: its selector,
// completions and pod template, as in Kubernetes.
func ValidateJobUpdate(newJ, oldJ *Job) ErrorList {
	errs := ValidateObjectMetaUpdate(&newJ.ObjectMeta, &oldJ.ObjectMeta)
	if !sameJSON(newJ.Spec.Selector, oldJ.Spec.Selector) {
		errs = append(errs, forbidden("spec.selector", "field is immutable"))
	}
	if !sameJSON(newJ.Spec.Completions, oldJ.Spec.Completions) {
		errs = append(errs, forbidden("spec.completions", "field is immutable"))
	}
	if !sameJSON(newJ.Spec.Template, oldJ.Spec.Template) {
		errs = append(errs, forbidden("spec.template", "field is immutable"))
	}
	return errs
}

// ValidateCronJob checks a cron job: a parsable schedule, a time zone
// known to the server, non-negative limits and a valid job template.
func ValidateCronJob(cj *CronJob) ErrorList {
	errs := ValidateObjectMeta(&cj.ObjectMeta, true, false)
	// Job names are cronjob-name + "-" + up to 11 digits, and must be DNS
	// labels for their pods' job-name label.
	if len(cj.Name) > 52 {
		errs = append(errs, invalid("metadata.name", cj.Name, "must be no more than 52 characters"))
	}
	s := &cj.Spec
	p := fieldPath("spec")
	if s.Schedule == "" {
		errs = append(errs, required(p.child("schedule"), ""))
	} else if _, err := ParseCronSchedule(s.Schedule); err != nil {
		errs = append(errs, invalid(p.child("schedule"), s.Schedule, err.Error()))
	}
	if tz := s.TimeZone; tz != nil {
		if _, err := CronLocation(tz); err != nil {
			errs = append(errs, invalid(p.child("timeZone"), *tz, err.Error()))
		}
	}
	if d := s.StartingDeadlineSeconds; d != nil {
		errs = append(errs, validateNonNegative(p.child("startingDeadlineSeconds"), *d)...)
	}
	if cp := s.ConcurrencyPolicy; cp != "" && !oneOf(cp, AllowConcurrent, ForbidConcurrent, ReplaceConcurrent) {
		errs = append(errs, notSupported(p.child("concurrencyPolicy"), cp, AllowConcurrent, ForbidConcurrent, ReplaceConcurrent))
	}
	if v := s.SuccessfulJobsHistoryLimit; v != nil {
		errs = append(errs, validateNonNegative(p.child("successfulJobsHistoryLimit"), *v)...)
	}
	if v := s.FailedJobsHistoryLimit; v != nil {
		errs = append(errs, validateNonNegative(p.child("failedJobsHistoryLimit"), *v)...)
	}
	jp := p.child("jobTemplate")
	errs = append(errs, ValidateLabels(s.JobTemplate.Labels, jp.child("metadata").child("labels").String())...)
	errs = append(errs, validateAnnotations(s.JobTemplate.Annotations, jp.child("metadata").child("annotations"))...)
	errs = append(errs, validateJobSpec(&s.JobTemplate.Spec, jp.child("spec"), false)...)
	return errs
}

// ValidateCronJobUpdate checks what may not change in a cron job: only
// the metadata rules apply; the spec may change.
func ValidateCronJobUpdate(newCJ, oldCJ *CronJob) ErrorList {
	return ValidateObjectMetaUpdate(&newCJ.ObjectMeta, &oldCJ.ObjectMeta)
}

// CronLocation resolves a cron job's time zone: UTC when nil, else the
// IANA zone by name. "Local" is refused: it would depend on the server.
func CronLocation(tz *string) (*time.Location, error) {
	if tz == nil || *tz == "" {
		return time.UTC, nil
	}
	if *tz == "Local" {
		return nil, errors.New("Local is not allowed; name an IANA time zone such as Europe/Berlin")
	}
	loc, err := time.LoadLocation(*tz)
	if err != nil {
		return nil, fmt.Errorf("unknown time zone: %w", err)
	}
	return loc, nil
}
