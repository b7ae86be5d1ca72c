package api

// The batch group holds Jobs and CronJobs.
const (
	GroupBatch      = "batch"
	VersionBatch    = "v1"
	APIVersionBatch = GroupBatch + "/" + VersionBatch
	// KindJob is the kind of Job objects.
	KindJob = "Job"
	// KindCronJob is the kind of CronJob objects.
	KindCronJob = "CronJob"
)

// Labels the API server puts on a Job's pod template (and selector) so
// that a Job's pods are found by the Job's UID, as in Kubernetes.
const (
	LabelControllerUID = "controller-uid"
	LabelJobName       = "job-name"
)

// Job defaults, as in Kubernetes.
const (
	DefaultBackoffLimit               = 6
	DefaultSuccessfulJobsHistoryLimit = 3
	DefaultFailedJobsHistoryLimit     = 1
)

// Job runs pods until Completions of them have succeeded, at most
// Parallelism at a time.
type Job struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       JobSpec   `json:"spec"`
	Status     JobStatus `json:"status,omitzero"`
}

// JobSpec is the desired state of a Job.
type JobSpec struct {
	// Parallelism is how many pods may run at once (default 1; 0 pauses
	// the job).
	Parallelism *int32 `json:"parallelism,omitempty"`
	// Completions is how many pods must succeed (default 1).
	Completions *int32 `json:"completions,omitempty"`
	// ActiveDeadlineSeconds bounds the job's run time from its start; past
	// it the job's pods are stopped and the job fails with DeadlineExceeded.
	ActiveDeadlineSeconds *int64 `json:"activeDeadlineSeconds,omitempty"`
	// BackoffLimit is how many pod failures (and, with restart policy
	// OnFailure, container restarts) the job tolerates (default 6).
	BackoffLimit *int32 `json:"backoffLimit,omitempty"`
	// TTLSecondsAfterFinished deletes the job (and its pods) that long
	// after it completed or failed (nil: never).
	TTLSecondsAfterFinished *int32 `json:"ttlSecondsAfterFinished,omitempty"`
	// Selector finds the job's pods. Unless ManualSelector is set, the API
	// server sets it to the job's controller-uid label.
	Selector *LabelSelector `json:"selector,omitempty"`
	// ManualSelector lets the user choose the selector.
	ManualSelector *bool `json:"manualSelector,omitempty"`
	// Suspend stops creating pods and deletes the active ones.
	Suspend *bool `json:"suspend,omitempty"`
	// Template is the pod to run; its restart policy is Never or OnFailure.
	Template PodTemplateSpec `json:"template"`
}

// JobConditionType names a job condition.
type JobConditionType string

// Job condition types.
const (
	JobComplete JobConditionType = "Complete"
	JobFailed   JobConditionType = "Failed"
)

// Reasons of a Failed job condition.
const (
	JobReasonBackoffLimitExceeded = "BackoffLimitExceeded"
	JobReasonDeadlineExceeded     = "DeadlineExceeded"
)

// JobCondition is one condition of a job.
type JobCondition struct {
	Type               JobConditionType `json:"type"`
	Status             ConditionStatus  `json:"status"`
	LastProbeTime      Time             `json:"lastProbeTime,omitzero"`
	LastTransitionTime Time             `json:"lastTransitionTime,omitzero"`
	Reason             string           `json:"reason,omitempty"`
	Message            string           `json:"message,omitempty"`
}

// JobStatus is the observed state of a job, written by the job controller.
type JobStatus struct {
	Conditions     []JobCondition `json:"conditions,omitempty"`
	StartTime      *Time          `json:"startTime,omitempty"`
	CompletionTime *Time          `json:"completionTime,omitempty"`
	Active         int32          `json:"active,omitempty"`
	Succeeded      int32          `json:"succeeded,omitempty"`
	Failed         int32          `json:"failed,omitempty"`
}

// JobList is a list of jobs.
type JobList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta `json:"metadata"`
	Items    []Job    `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *JobList) GetListMeta() *ListMeta { return &l.Metadata }

// JobFinished reports whether the job has a true Complete or Failed
// condition, and which.
func JobFinished(j *Job) (bool, JobConditionType) {
	for _, c := range j.Status.Conditions {
		if (c.Type == JobComplete || c.Type == JobFailed) && c.Status == ConditionTrue {
			return true, c.Type
		}
	}
	return false, ""
}

// JobCompletionsValue is the job's completions (1 when unset).
func JobCompletionsValue(j *Job) int32 {
	if j.Spec.Completions != nil {
		return *j.Spec.Completions
	}
	return 1
}

// ConcurrencyPolicy says what a CronJob does when a run is due while an
// earlier one is still active.
type ConcurrencyPolicy string

// Concurrency policies.
const (
	AllowConcurrent   ConcurrencyPolicy = "Allow"
	ForbidConcurrent  ConcurrencyPolicy = "Forbid"
	ReplaceConcurrent ConcurrencyPolicy = "Replace"
)

// CronJob creates Jobs on a cron schedule.
type CronJob struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Spec       CronJobSpec   `json:"spec"`
	Status     CronJobStatus `json:"status,omitzero"`
}

// CronJobSpec is the desired state of a CronJob.
type CronJobSpec struct {
	// Schedule is a standard 5-field cron expression or a descriptor
	// such as @hourly.
	Schedule string `json:"schedule"`
	// TimeZone is the IANA zone the schedule is read in (default: UTC).
	TimeZone *string `json:"timeZone,omitempty"`
	// StartingDeadlineSeconds is how late a missed run may still start.
	StartingDeadlineSeconds *int64 `json:"startingDeadlineSeconds,omitempty"`
	// ConcurrencyPolicy is Allow (default), Forbid or Replace.
	ConcurrencyPolicy ConcurrencyPolicy `json:"concurrencyPolicy,omitempty"`
	// Suspend stops new runs; running jobs are left alone.
	Suspend *bool `json:"suspend,omitempty"`
	// JobTemplate is the Job each run creates.
	JobTemplate JobTemplateSpec `json:"jobTemplate"`
	// SuccessfulJobsHistoryLimit is how many completed jobs to keep (3).
	SuccessfulJobsHistoryLimit *int32 `json:"successfulJobsHistoryLimit,omitempty"`
	// FailedJobsHistoryLimit is how many failed jobs to keep (1).
	FailedJobsHistoryLimit *int32 `json:"failedJobsHistoryLimit,omitempty"`
}

// JobTemplateSpec is the Job a CronJob creates: its metadata and spec.
type JobTemplateSpec struct {
	ObjectMeta `json:"metadata"`
	Spec       JobSpec `json:"spec"`
}

// CronJobStatus is the observed state of a CronJob.
type CronJobStatus struct {
	// Active references the CronJob's running jobs.
	Active []ObjectReference `json:"active,omitempty"`
	// LastScheduleTime is the scheduled time of the last job created.
	LastScheduleTime *Time `json:"lastScheduleTime,omitempty"`
	// LastSuccessfulTime is when the last job completed successfully.
	LastSuccessfulTime *Time `json:"lastSuccessfulTime,omitempty"`
}

// CronJobList is a list of cron jobs.
type CronJobList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta  `json:"metadata"`
	Items    []CronJob `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *CronJobList) GetListMeta() *ListMeta { return &l.Metadata }
