// Package replicaset runs the ReplicaSet controller: it keeps the number
// of active pods a ReplicaSet controls equal to its replicas, creating
// pods from its template and deleting the surplus, adopting matching
// orphans and releasing pods that stop matching.
package replicaset

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// Options tune the controller.
type Options struct {
	// Workers reconcile different ReplicaSets in parallel (default 4).
	Workers int
	// ExpectationsTTL bounds how long the controller waits to see its own
	// writes before acting again anyway (default 1 minute).
	ExpectationsTTL time.Duration
}

// Controller reconciles ReplicaSets.
type Controller struct {
	client *client.Client
	rsets  *client.Cache
	pods   *client.Cache
	exp    *controllers.Expectations
	rec    *controllers.Recorder
	log    *slog.Logger
	ctrl   *controllers.Controller
	now    func() time.Time
}

// Event reasons of the ReplicaSet controller, as Kubernetes words them.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
)

// Setup registers the ReplicaSet controller and its caches on m.
func Setup(m *controllers.Manager, opts ...Options) error {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	if o.ExpectationsTTL <= 0 {
		o.ExpectationsTTL = time.Minute
	}
	c := &Controller{
		client: m.Client,
		rsets:  controllers.CacheFor[api.ReplicaSet](m),
		pods:   controllers.PodCache(m),
		rec:    m.Recorder("replicaset-controller"),
		log:    m.Log.With("controller", "replicaset"),
		now:    time.Now,
	}
	c.exp = controllers.NewExpectations(o.ExpectationsTTL, c.now)
	c.ctrl = controllers.NewController("replicaset", c, o.Workers, m.Log)
	c.rsets.AddHandler(controllers.EnqueueHandler(c.ctrl))
	c.pods.AddHandler(controllers.OwnerHandler(c.ctrl, c.rsets, api.KindReplicaSet, func(o api.Object) *api.LabelSelector {
		return o.(*api.ReplicaSet).Spec.Selector
	}))
	m.Add(c.ctrl)
	return nil
}

// Reconcile brings one ReplicaSet's pods to its replicas and writes its
// status.
func (c *Controller) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	o, ok := c.rsets.Get(key)
	if !ok {
		c.exp.Forget(key)
		return controllers.Result{}, nil
	}
	rs := o.(*api.ReplicaSet)
	ns := rs.Namespace
	ref := controllers.NewControllerRef(rs, api.APIVersionApps, api.KindReplicaSet)
	owned, err := controllers.ClaimAll(ctx, c.client, rs, ref, rs.Spec.Selector, controllers.PodsIn(c.pods, ns))
	var errs []error
	if err != nil {
		errs = append(errs, err)
	}
	active := activePods(owned)
	seen := func(name string) bool { _, ok := c.pods.Get(ns + "/" + name); return ok }
	isActive := func(name string) bool {
		o, ok := c.pods.Get(ns + "/" + name)
		return ok && controllers.IsPodActive(o.(*api.Pod))
	}
	var res controllers.Result
	if rs.DeletionTimestamp == nil && c.exp.Satisfied(key, seen, isActive) {
		errs = append(errs, c.manage(ctx, key, rs, active))
	} else {
		// Our own writes are not in the cache yet; the pod events that
		// bring them will enqueue us again, and this is a safety net.
		res.RequeueAfter = time.Second
	}
	if err := c.updateStatus(ctx, rs, active); err != nil {
		errs = append(errs, err)
	}
	if d := nextAvailableCheck(rs, active, c.now()); d > 0 && (res.RequeueAfter == 0 || d < res.RequeueAfter) {
		res.RequeueAfter = d
	}
	return res, errors.Join(errs...)
}

// manage creates or deletes pods so that len(active) reaches replicas.
func (c *Controller) manage(ctx context.Context, key string, rs *api.ReplicaSet, active []*api.Pod) error {
	want := int(*rs.Spec.Replicas)
	diff := want - len(active)
	pods := client.For[api.Pod](c.client)
	switch {
	case diff > 0:
		for _, batch := range burstSizes(diff) {
			errc := make(chan error, batch)
			for range batch {
				go func() {
					p, err := pods.Create(ctx, c.newPod(rs))
					if err == nil {
						c.exp.Created(key, p.Name)
						c.rec.Eventf(rs, api.EventTypeNormal, ReasonSuccessfulCreate, "Created pod: %s", p.Name)
					} else if ctx.Err() == nil {
						c.rec.Eventf(rs, api.EventTypeWarning, ReasonFailedCreate, "Error creating: %v", err)
					}
					errc <- err
				}()
			}
			var errs []error
			for range batch {
				if err := <-errc; err != nil {
					errs = append(errs, err)
				}
			}
			if len(errs) > 0 {
				return fmt.Errorf("create pods for replicaset %s: %w", key, errors.Join(errs...))
			}
		}
	case diff < 0:
		var errs []error
		for _, p := range podsToDelete(active, -diff) {
			err := pods.Delete(ctx, p.Namespace, p.Name, client.DeleteOptions{})
			if err == nil {
				c.exp.Deleted(key, p.Name)
				c.rec.Eventf(rs, api.EventTypeNormal, ReasonSuccessfulDelete, "Deleted pod: %s", p.Name)
			} else if !client.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete pod %s: %w", p.Name, err))
				if ctx.Err() == nil {
					c.rec.Eventf(rs, api.EventTypeWarning, ReasonFailedDelete, "Error deleting: %v", err)
				}
			}
		}
		return errors.Join(errs...)
	}
	return nil
}

// newPod is a pod made from rs's template, controlled by rs.
func (c *Controller) newPod(rs *api.ReplicaSet) *api.Pod {
	t, _ := controllers.Clone(&rs.Spec.Template)
	prefix := rs.Name + "-"
	if len(prefix) > 58 {
		prefix = prefix[:57] + "-"
	}
	p := &api.Pod{ObjectMeta: api.ObjectMeta{
		GenerateName:    prefix,
		Namespace:       rs.Namespace,
		Labels:          t.Labels,
		Annotations:     t.Annotations,
		Finalizers:      t.Finalizers,
		OwnerReferences: []api.OwnerReference{controllers.NewControllerRef(rs, api.APIVersionApps, api.KindReplicaSet)},
	}, Spec: t.Spec}
	return p
}

// updateStatus writes rs's status when it changed.
func (c *Controller) updateStatus(ctx context.Context, rs *api.ReplicaSet, active []*api.Pod) error {
	st := computeStatus(rs, active, c.now())
	if reflect.DeepEqual(st, rs.Status) {
		return nil
	}
	next, err := controllers.Clone(rs)
	if err != nil {
		return err
	}
	next.Status = st
	if _, err := client.For[api.ReplicaSet](c.client).UpdateStatus(ctx, next); err != nil {
		if client.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("replicaset %s/%s status: %w", rs.Namespace, rs.Name, err)
	}
	return nil
}
