package job

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// Workers is how many Jobs the controller reconciles at once.
const Workers = 4

// ExpectationsTTL bounds how long the controller waits to see its own pod
// writes in the cache before acting on the cache anyway.
const ExpectationsTTL = time.Minute

// Reconciler reconciles one Job at a time: it reads the Job and its pods
// from the manager's shared caches, adopts matching orphan pods and
// releases pods that stopped matching, then carries out plan's decision.
// Expectations keep it from acting on a cache that does not yet show the
// pods it created or deleted, so that it never runs more than
// parallelism pods.
type Reconciler struct {
	client *client.Client
	jobs   *client.Cache
	pods   *client.Cache
	clock  Clock
	exp    *controllers.Expectations
	log    *slog.Logger
}

// NewReconciler returns a reconciler acting through c on the Jobs and pods
// of the caches jobs and pods. A nil clock is the wall clock.
func NewReconciler(c *client.Client, jobs, pods *client.Cache, clock Clock, log *slog.Logger) *Reconciler {
	if clock == nil {
		clock = RealClock
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Reconciler{client: c, jobs: jobs, pods: pods, clock: clock,
		exp: controllers.NewExpectations(ExpectationsTTL, clock.Now), log: log}
}

// Setup registers the Job controller on m: it watches Jobs and pods (a
// pod's change wakes the Job that controls it, or, for an orphan, the
// Jobs whose selector matches it). A nil clock is the wall clock.
func Setup(m *controllers.Manager, clock Clock) error {
	jobs := controllers.CacheFor[api.Job](m)
	pods := controllers.PodCache(m)
	r := NewReconciler(m.Client, jobs, pods, clock, m.Log.With("controller", "job"))
	c := controllers.NewController("job", r, Workers, m.Log)
	jobs.AddHandler(client.Handler{
		OnAdd:    c.Enqueue,
		OnUpdate: func(_, o api.Object) { c.Enqueue(o) },
		OnDelete: c.Enqueue,
	})
	pods.AddHandler(controllers.OwnerHandler(c, jobs, api.KindJob, func(o api.Object) *api.LabelSelector {
		return o.(*api.Job).Spec.Selector
	}))
	m.Add(c)
	return nil
}

// Reconcile brings the Job with key ("namespace/name") one step closer to
// its spec.
func (r *Reconciler) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	obj, ok := r.jobs.Get(key)
	if !ok {
		r.exp.Forget(key)
		return controllers.Result{}, nil
	}
	j, err := controllers.Clone(obj.(*api.Job))
	if err != nil {
		return controllers.Result{}, err
	}
	if j.DeletionTimestamp != nil || j.Spec.Selector == nil {
		return controllers.Result{}, nil
	}
	pods, err := r.claim(ctx, j)
	if err != nil {
		return controllers.Result{}, err
	}
	ns := j.Namespace
	seen := func(name string) bool { _, ok := r.pods.Get(ns + "/" + name); return ok }
	active := func(name string) bool {
		o, ok := r.pods.Get(ns + "/" + name)
		return ok && controllers.IsPodActive(o.(*api.Pod))
	}
	if !r.exp.Satisfied(key, seen, active) {
		// The cache does not show our own writes yet; the pod events that
		// bring them enqueue the Job again, and this is a safety net.
		return controllers.Result{RequeueAfter: time.Second}, nil
	}
	p := plan(j, pods, r.clock.Now())
	podsAPI := client.For[api.Pod](r.client)
	if p.DeleteJob {
		// Garbage collection through owner references may not run, so the
		// pods go first, explicitly.
		for _, pod := range pods {
			if err := client.IgnoreNotFound(podsAPI.Delete(ctx, pod.Namespace, pod.Name, client.DeleteOptions{})); err != nil {
				return controllers.Result{}, fmt.Errorf("delete pod %s of finished job %s: %w", pod.Name, key, err)
			}
		}
		r.log.Info("deleting finished job after its TTL", "job", key)
		err := client.For[api.Job](r.client).Delete(ctx, j.Namespace, j.Name, client.DeleteOptions{})
		return controllers.Result{}, client.IgnoreNotFound(err)
	}
	var errs []error
	for _, pod := range p.Delete {
		err := podsAPI.Delete(ctx, pod.Namespace, pod.Name, client.DeleteOptions{})
		if err == nil {
			r.exp.Deleted(key, pod.Name)
		} else if !client.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("delete pod %s: %w", pod.Name, err))
		}
	}
	for range p.Create {
		created, err := podsAPI.Create(ctx, newPod(j))
		if err != nil {
			errs = append(errs, fmt.Errorf("create pod: %w", err))
			break
		}
		r.exp.Created(key, created.Name)
	}
	if len(errs) > 0 {
		return controllers.Result{}, fmt.Errorf("job %s: %w", key, errors.Join(errs...))
	}
	if p.Status != nil {
		j.Status = *p.Status
		if _, err := client.For[api.Job](r.client).UpdateStatus(ctx, j); err != nil {
			return controllers.Result{}, fmt.Errorf("update status of job %s: %w", key, err)
		}
	}
	return controllers.Result{RequeueAfter: p.RequeueAfter}, nil
}

// claim returns the cached pods the job controls, after adopting orphans
// that match its selector and releasing pods that no longer match.
func (r *Reconciler) claim(ctx context.Context, j *api.Job) ([]*api.Pod, error) {
	ref := controllers.NewControllerRef(j, api.APIVersionBatch, api.KindJob)
	owned, err := controllers.ClaimAll(ctx, r.client, j, ref, j.Spec.Selector, controllers.PodsIn(r.pods, j.Namespace))
	if err != nil {
		return nil, fmt.Errorf("job %s/%s: %w", j.Namespace, j.Name, err)
	}
	return owned, nil
}

// newPod is a pod of the job: its template, named after the job, owned
// (as controller) by it.
func newPod(j *api.Job) *api.Pod {
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
			OwnerReferences: []api.OwnerReference{controllers.NewControllerRef(j, api.APIVersionBatch, api.KindJob)},
		},
		Spec: j.Spec.Template.Spec,
	}
}
