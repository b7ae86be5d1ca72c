package disruption

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// Workers is how many budgets the controller computes at once.
const Workers = 2

// statusRetry is how soon a status write that met a newer budget (an
// eviction charged it meanwhile) is tried again.
const statusRetry = 100 * time.Millisecond

// Options tune the controller.
type Options struct {
	// Now is the clock (nil: time.Now); tests pass a fake one.
	Now func() time.Time
}

// Reconciler keeps the status of one budget at a time, from the shared
// caches of budgets, pods, ReplicaSets and Deployments.
type Reconciler struct {
	Client      *client.Client
	Budgets     *client.Cache
	Pods        *client.Cache
	ReplicaSets *client.Cache
	Deployments *client.Cache
	Recorder    *controllers.Recorder
	Log         *slog.Logger
	Now         func() time.Time
}

// Setup registers the disruption controller on m: a budget's change, a
// change of a pod it selects (before or after the change) and a change of
// a ReplicaSet or Deployment of its namespace (a new scale) wake it.
func Setup(m *controllers.Manager, opts Options) error {
	now := opts.Now
	if now == nil {
		now = time.Now
	}
	r := &Reconciler{
		Client:      m.Client,
		Budgets:     controllers.CacheFor[api.PodDisruptionBudget](m),
		Pods:        controllers.CacheFor[api.Pod](m),
		ReplicaSets: controllers.CacheFor[api.ReplicaSet](m),
		Deployments: controllers.CacheFor[api.Deployment](m),
		Recorder:    m.Recorder("disruption-controller"),
		Log:         m.Log.With("controller", "disruption"),
		Now:         now,
	}
	c := controllers.NewController("disruption", r, Workers, m.Log)
	r.Budgets.AddHandler(client.Handler{OnAdd: c.Enqueue, OnUpdate: func(_, o api.Object) { c.Enqueue(o) }})
	budgetsOf := func(ns string, labels ...map[string]string) {
		for _, o := range r.Budgets.List() {
			b := o.(*api.PodDisruptionBudget)
			if b.Namespace != ns {
				continue
			}
			for _, l := range labels {
				if l == nil || b.Spec.Selector.Matches(l) {
					c.Enqueue(b)
					break
				}
			}
		}
	}
	r.Pods.AddHandler(client.Handler{
		OnAdd: func(o api.Object) { budgetsOf(o.GetObjectMeta().Namespace, o.GetObjectMeta().Labels) },
		OnUpdate: func(old, o api.Object) {
			budgetsOf(o.GetObjectMeta().Namespace, old.GetObjectMeta().Labels, o.GetObjectMeta().Labels)
		},
		OnDelete: func(o api.Object) { budgetsOf(o.GetObjectMeta().Namespace, o.GetObjectMeta().Labels) },
	})
	owners := client.Handler{
		OnAdd:    func(o api.Object) { budgetsOf(o.GetObjectMeta().Namespace, nil) },
		OnUpdate: func(_, o api.Object) { budgetsOf(o.GetObjectMeta().Namespace, nil) },
		OnDelete: func(o api.Object) { budgetsOf(o.GetObjectMeta().Namespace, nil) },
	}
	r.ReplicaSets.AddHandler(owners)
	r.Deployments.AddHandler(owners)
	m.Add(c)
	return nil
}

// Reconcile computes and stores the status of the budget with key
// ("namespace/name").
func (r *Reconciler) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	obj, ok := r.Budgets.Get(key)
	if !ok {
		return controllers.Result{}, nil
	}
	b, err := controllers.Clone(obj.(*api.PodDisruptionBudget))
	if err != nil || b.DeletionTimestamp != nil {
		return controllers.Result{}, err
	}
	var pods []*api.Pod
	for _, o := range r.Pods.List() {
		p := o.(*api.Pod)
		if p.Namespace == b.Namespace && b.Spec.Selector.Matches(p.Labels) {
			pods = append(pods, p)
		}
	}
	now := r.Now()
	st, syncErr := Compute(b, pods, r.scaleOf, now)
	if syncErr != nil && !reflect.DeepEqual(b.Status.Conditions, st.Conditions) {
		r.Recorder.Eventf(b, api.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", syncErr)
	}
	var res controllers.Result
	if next, ok := nextExpiry(st.DisruptedPods, now); ok {
		res.RequeueAfter = next
	}
	if reflect.DeepEqual(b.Status, st) {
		return res, nil
	}
	b.Status = st
	_, err = client.For[api.PodDisruptionBudget](r.Client).UpdateStatus(ctx, b)
	switch {
	case client.IsConflict(err):
		// An eviction (or the user) changed the budget; the newer one
		// wakes us, and the retry covers a cache that already had it.
		return controllers.Result{RequeueAfter: statusRetry}, nil
	case client.IsNotFound(err):
		return controllers.Result{}, nil
	case err != nil:
		return controllers.Result{}, fmt.Errorf("update status of budget %s: %w", key, err)
	}
	return res, nil
}

// nextExpiry is how long until the first entry of disrupted expires.
func nextExpiry(disrupted map[string]api.Time, now time.Time) (time.Duration, bool) {
	var first time.Duration
	found := false
	for _, at := range disrupted {
		d := at.Add(api.DisruptedPodTimeout).Sub(now) + time.Second
		if !found || d < first {
			first, found = d, true
		}
	}
	return first, found
}

// scaleOf finds the declared scale of a pod's controller: a ReplicaSet's
// replicas, or those of the Deployment that controls the ReplicaSet.
func (r *Reconciler) scaleOf(p *api.Pod) (Scale, bool) {
	ref := controllers.ControllerRef(p)
	if ref == nil || ref.Kind != api.KindReplicaSet || ref.APIVersion != api.APIVersionApps {
		return Scale{}, false
	}
	o, ok := r.ReplicaSets.Get(p.Namespace + "/" + ref.Name)
	if !ok || o.GetObjectMeta().UID != ref.UID {
		return Scale{}, false
	}
	rs := o.(*api.ReplicaSet)
	if dref := controllers.ControllerRef(rs); dref != nil && dref.Kind == api.KindDeployment && dref.APIVersion == api.APIVersionApps {
		if o, ok := r.Deployments.Get(rs.Namespace + "/" + dref.Name); ok && o.GetObjectMeta().UID == dref.UID {
			d := o.(*api.Deployment)
			return Scale{Owner: "Deployment/" + d.Name, Replicas: replicas(d.Spec.Replicas)}, true
		}
		return Scale{}, false
	}
	return Scale{Owner: "ReplicaSet/" + rs.Name, Replicas: replicas(rs.Spec.Replicas)}, true
}

func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}
