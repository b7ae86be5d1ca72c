package cronjob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/job"
)

// Reconciler reconciles one CronJob at a time from the shared caches of
// CronJobs and Jobs.
type Reconciler struct {
	Client   *client.Client
	CronJobs *client.Cache
	Jobs     *client.Cache
	Clock    Clock
	Log      *slog.Logger
}

// Setup registers the CronJob controller on m: it watches CronJobs and
// Jobs (a Job's change wakes the CronJob that controls it). A nil clock
// is the wall clock.
func Setup(m *controllers.Manager, clock Clock) error {
	if clock == nil {
		clock = job.RealClock
	}
	cjs := controllers.CacheFor[api.CronJob](m)
	jobs := controllers.CacheFor[api.Job](m)
	r := &Reconciler{Client: m.Client, CronJobs: cjs, Jobs: jobs, Clock: clock, Log: m.Log.With("controller", "cronjob")}
	c := controllers.NewController("cronjob", r, 2, m.Log)
	cjs.AddHandler(controllers.EnqueueHandler(c))
	jobs.AddHandler(controllers.OwnerHandler(c, cjs, api.KindCronJob, nil))
	m.Add(c)
	return nil
}

// Reconcile brings the CronJob with key ("namespace/name") up to date
// with its schedule.
func (r *Reconciler) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	obj, ok := r.CronJobs.Get(key)
	if !ok {
		return controllers.Result{}, nil
	}
	cj, err := clone(obj.(*api.CronJob), &api.CronJob{})
	if err != nil {
		return controllers.Result{}, err
	}
	if cj.DeletionTimestamp != nil {
		return controllers.Result{}, nil
	}
	var jobs []*api.Job
	for _, o := range r.Jobs.List() {
		j := o.(*api.Job)
		if ref := controllers.ControllerRef(j); j.Namespace == cj.Namespace && ref != nil && ref.UID == cj.UID {
			jobs = append(jobs, j)
		}
	}
	p := plan(cj, jobs, r.Clock.Now())
	for _, e := range p.Events {
		r.event(ctx, cj, e)
	}
	var errs []error
	for _, j := range p.DeleteJobs {
		if err := r.deleteJob(ctx, j); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return controllers.Result{}, fmt.Errorf("cron job %s: %w", key, errors.Join(errs...))
	}
	st := cj.Status
	if p.Status != nil {
		st = *p.Status
	}
	if !p.Create.IsZero() {
		j, err := r.createJob(ctx, cj, p.Create)
		if err != nil {
			return controllers.Result{}, fmt.Errorf("cron job %s: %w", key, err)
		}
		st.Active = append(st.Active, ref(j))
		p.Status = &st
	}
	if p.Status != nil {
		cj.Status = st
		if _, err := client.For[api.CronJob](r.Client).UpdateStatus(ctx, cj); err != nil {
			return controllers.Result{}, fmt.Errorf("update status of cron job %s: %w", key, err)
		}
	}
	return controllers.Result{RequeueAfter: p.RequeueAfter}, nil
}

// createJob creates the job of scheduled time t; one that exists already
// (created before a restart) is the one.
func (r *Reconciler) createJob(ctx context.Context, cj *api.CronJob, t time.Time) (*api.Job, error) {
	tr := true
	tmpl := cj.Spec.JobTemplate
	j := &api.Job{
		ObjectMeta: api.ObjectMeta{
			Name: JobName(cj, t), Namespace: cj.Namespace, Labels: copyMap(tmpl.Labels),
			Annotations: copyMap(tmpl.Annotations),
			OwnerReferences: []api.OwnerReference{{APIVersion: api.APIVersionBatch, Kind: api.KindCronJob, Name: cj.Name,
				UID: cj.UID, Controller: &tr, BlockOwnerDeletion: &tr}},
		},
		Spec: tmpl.Spec,
	}
	if j.Annotations == nil {
		j.Annotations = map[string]string{}
	}
	j.Annotations[AnnotationScheduledTimestamp] = t.UTC().Format(time.RFC3339)
	jobs := client.For[api.Job](r.Client)
	created, err := jobs.Create(ctx, j)
	if client.IsAlreadyExists(err) {
		got, gerr := jobs.Get(ctx, cj.Namespace, j.Name)
		if gerr != nil {
			return nil, fmt.Errorf("get existing job %s: %w", j.Name, gerr)
		}
		if ref := controllers.ControllerRef(got); ref == nil || ref.UID != cj.UID {
			return nil, fmt.Errorf("job %s exists and is not this cron job's", j.Name)
		}
		return got, nil
	}
	if err != nil {
		return nil, fmt.Errorf("create job %s: %w", j.Name, err)
	}
	r.event(ctx, cj, event{api.EventTypeNormal, "SuccessfulCreate", "Created job " + j.Name})
	return created, nil
}

// deleteJob deletes a job and, since garbage collection through owner
// references may not run, its pods first.
func (r *Reconciler) deleteJob(ctx context.Context, j *api.Job) error {
	pods := client.For[api.Pod](r.Client)
	ps, _, err := pods.List(ctx, j.Namespace, client.ListOptions{LabelSelector: api.LabelControllerUID + "=" + j.UID})
	if err != nil {
		return fmt.Errorf("list pods of job %s: %w", j.Name, err)
	}
	for _, p := range ps {
		if err := client.IgnoreNotFound(pods.Delete(ctx, p.Namespace, p.Name, client.DeleteOptions{})); err != nil {
			return fmt.Errorf("delete pod %s of job %s: %w", p.Name, j.Name, err)
		}
	}
	if err := client.IgnoreNotFound(client.For[api.Job](r.Client).Delete(ctx, j.Namespace, j.Name, client.DeleteOptions{})); err != nil {
		return fmt.Errorf("delete job %s: %w", j.Name, err)
	}
	return nil
}

// event records an Event on the cron job; failing to is logged only.
func (r *Reconciler) event(ctx context.Context, cj *api.CronJob, e event) {
	now := api.NewTime(r.Clock.Now())
	ev := &api.Event{
		ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s.%x", cj.Name, time.Now().UnixNano()), Namespace: cj.Namespace},
		InvolvedObject: api.ObjectReference{Kind: api.KindCronJob, APIVersion: api.APIVersionBatch, Namespace: cj.Namespace,
			Name: cj.Name, UID: cj.UID},
		Reason: e.Reason, Message: e.Message, Type: e.Type, Count: 1, FirstTimestamp: now, LastTimestamp: now,
		Source: api.EventSource{Component: "cronjob-controller"}, ReportingComponent: "cronjob-controller",
	}
	if _, err := client.For[api.Event](r.Client).Create(ctx, ev); err != nil && ctx.Err() == nil {
		r.Log.Warn("record event", "cronjob", cj.Namespace+"/"+cj.Name, "reason", e.Reason, "err", err)
	}
}

func copyMap(m map[string]string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func clone[T any](in *T, out *T) (*T, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("copy: %w", err)
	}
	return out, nil
}
