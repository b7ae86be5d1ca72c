package job

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// Workers is how many Jobs the controller reconciles at once.
const Workers = 4

// Reconciler reconciles one Job at a time: it reads the Job from the
// shared cache and the Job's pods from the API server (a consistent read,
// so that pods it just created are never created twice), then carries out
// plan's decision.
type Reconciler struct {
	Client *client.Client
	Jobs   *client.Cache
	Clock  Clock
	Log    *slog.Logger
}

// Setup registers the Job controller on m: it watches Jobs and pods (a
// pod's change wakes the Job that controls it). A nil clock is the wall
// clock.
func Setup(m *controllers.Manager, clock Clock) error {
	if clock == nil {
		clock = RealClock
	}
	jobs := controllers.CacheFor[api.Job](m)
	pods := controllers.CacheFor[api.Pod](m)
	r := &Reconciler{Client: m.Client, Jobs: jobs, Clock: clock, Log: m.Log.With("controller", "job")}
	c := controllers.NewController("job", r, Workers, m.Log)
	jobs.AddHandler(client.Handler{
		OnAdd:    c.Enqueue,
		OnUpdate: func(_, o api.Object) { c.Enqueue(o) },
	})
	wakeOwner := func(o api.Object) {
		if ref := ControllerOf(o.GetObjectMeta()); ref != nil && ref.Kind == api.KindJob && ref.APIVersion == api.APIVersionBatch {
			c.Queue.Add(o.GetObjectMeta().Namespace + "/" + ref.Name)
		}
	}
	pods.AddHandler(client.Handler{
		OnAdd:    wakeOwner,
		OnUpdate: func(_, o api.Object) { wakeOwner(o) },
		OnDelete: wakeOwner,
	})
	m.Add(c)
	return nil
}

// ControllerOf is the owner reference marked as controller, or nil.
func ControllerOf(m *api.ObjectMeta) *api.OwnerReference {
	for i := range m.OwnerReferences {
		if r := &m.OwnerReferences[i]; r.Controller != nil && *r.Controller {
			return r
		}
	}
	return nil
}

// Reconcile brings the Job with key ("namespace/name") one step closer to
// its spec.
func (r *Reconciler) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	obj, ok := r.Jobs.Get(key)
	if !ok {
		return controllers.Result{}, nil
	}
	j, err := cloneJob(obj.(*api.Job))
	if err != nil {
		return controllers.Result{}, err
	}
	if j.DeletionTimestamp != nil {
		return controllers.Result{}, nil
	}
	pods, err := r.podsOf(ctx, j)
	if err != nil {
		return controllers.Result{}, err
	}
	p := plan(j, pods, r.Clock.Now())
	podsAPI := client.For[api.Pod](r.Client)
	if p.DeleteJob {
		// Garbage collection through owner references may not run, so the
		// pods go first, explicitly.
		for _, pod := range pods {
			if err := client.IgnoreNotFound(podsAPI.Delete(ctx, pod.Namespace, pod.Name, client.DeleteOptions{})); err != nil {
				return controllers.Result{}, fmt.Errorf("delete pod %s of finished job %s: %w", pod.Name, key, err)
			}
		}
		r.Log.Info("deleting finished job after its TTL", "job", key)
		err := client.For[api.Job](r.Client).Delete(ctx, j.Namespace, j.Name, client.DeleteOptions{})
		return controllers.Result{}, client.IgnoreNotFound(err)
	}
	var errs []error
	for _, pod := range p.Delete {
		if err := client.IgnoreNotFound(podsAPI.Delete(ctx, pod.Namespace, pod.Name, client.DeleteOptions{})); err != nil {
			errs = append(errs, fmt.Errorf("delete pod %s: %w", pod.Name, err))
		}
	}
	for range p.Create {
		if _, err := podsAPI.Create(ctx, newPod(j)); err != nil {
			errs = append(errs, fmt.Errorf("create pod: %w", err))
			break
		}
	}
	if len(errs) > 0 {
		return controllers.Result{}, fmt.Errorf("job %s: %w", key, errors.Join(errs...))
	}
	if p.Status != nil {
		j.Status = *p.Status
		if _, err := client.For[api.Job](r.Client).UpdateStatus(ctx, j); err != nil {
			return controllers.Result{}, fmt.Errorf("update status of job %s: %w", key, err)
		}
	}
	return controllers.Result{RequeueAfter: p.RequeueAfter}, nil
}

// podsOf lists the pods the job controls, straight from the API server.
func (r *Reconciler) podsOf(ctx context.Context, j *api.Job) ([]*api.Pod, error) {
	if j.Spec.Selector == nil {
		return nil, nil
	}
	opts := client.ListOptions{}
	if uid, ok := j.Spec.Selector.MatchLabels[api.LabelControllerUID]; ok {
		opts.LabelSelector = api.LabelControllerUID + "=" + uid
	}
	all, _, err := client.For[api.Pod](r.Client).List(ctx, j.Namespace, opts)
	if err != nil {
		return nil, fmt.Errorf("list pods of job %s/%s: %w", j.Namespace, j.Name, err)
	}
	var out []*api.Pod
	for _, p := range all {
		if ref := ControllerOf(&p.ObjectMeta); ref != nil && ref.UID == j.UID && j.Spec.Selector.Matches(p.Labels) {
			out = append(out, p)
		}
	}
	return out, nil
}

// newPod is a pod of the job: its template, named after the job, owned
// (as controller) by it.
func newPod(j *api.Job) *api.Pod {
	t := true
	labels := map[string]string{}
	for k, v := range j.Spec.Template.Labels {
		labels[k] = v
	}
	var ann map[string]string
	if len(j.Spec.Template.Annotations) > 0 {
		ann = map[string]string{}
		for k, v := range j.Spec.Template.Annotations {
			ann[k] = v
		}
	}
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{
			GenerateName: j.Name + "-", Namespace: j.Namespace, Labels: labels, Annotations: ann,
			OwnerReferences: []api.OwnerReference{{APIVersion: api.APIVersionBatch, Kind: api.KindJob, Name: j.Name,
				UID: j.UID, Controller: &t, BlockOwnerDeletion: &t}},
		},
		Spec: j.Spec.Template.Spec,
	}
}

// cloneJob deep-copies a cached job, which must not be changed.
func cloneJob(j *api.Job) (*api.Job, error) {
	b, err := json.Marshal(j)
	if err != nil {
		return nil, fmt.Errorf("copy job: %w", err)
	}
	out := &api.Job{}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("copy job: %w", err)
	}
	return out, nil
}
