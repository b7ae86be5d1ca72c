// Package deployment runs the Deployment controller: it rolls a
// Deployment's pods out through one ReplicaSet per pod template (told
// apart by the pod-template-hash label), with the RollingUpdate or
// Recreate strategy, keeps a revision history for rollback, honours
// pause, and reports a rollout that stalls past its progress deadline.
//
// Everything it decides comes from the stored Deployment and ReplicaSets
// (revisions in annotations, progress times in status conditions), so a
// restarted controller resumes a rollout where it stood.
package deployment

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// Options tune the controller.
type Options struct {
	// Workers reconcile different Deployments in parallel (default 4).
	Workers int
}

// Controller reconciles Deployments.
type Controller struct {
	client *client.Client
	deps   *client.Cache
	rsets  *client.Cache
	rec    *controllers.Recorder
	log    *slog.Logger
	ctrl   *controllers.Controller
	now    func() time.Time

	// written holds the resourceVersion of the ReplicaSets this process
	// last wrote, so that it does not act on a cache older than its own
	// writes. It only delays; after a restart the cache is fresh.
	mu      sync.Mutex
	written map[string]int64
}

// ReasonScalingReplicaSet is the reason of the Events the controller
// records on a Deployment when it scales one of its ReplicaSets, as in
// Kubernetes.
const ReasonScalingReplicaSet = "ScalingReplicaSet"

// Setup registers the Deployment controller and its caches on m.
func Setup(m *controllers.Manager, opts ...Options) error {
	var o Options
	if len(opts) > 0 {
		o = opts[0]
	}
	if o.Workers <= 0 {
		o.Workers = 4
	}
	c := &Controller{
		client:  m.Client,
		deps:    controllers.CacheFor[api.Deployment](m),
		rsets:   controllers.CacheFor[api.ReplicaSet](m),
		rec:     m.Recorder("deployment-controller"),
		log:     m.Log.With("controller", "deployment"),
		now:     time.Now,
		written: map[string]int64{},
	}
	c.ctrl = controllers.NewController("deployment", c, o.Workers, m.Log)
	c.rsets.AddIndex(client.IndexNamespace, client.NamespaceIndex)
	c.deps.AddHandler(controllers.EnqueueHandler(c.ctrl))
	c.rsets.AddHandler(controllers.OwnerHandler(c.ctrl, c.deps, api.KindDeployment, func(o api.Object) *api.LabelSelector {
		return o.(*api.Deployment).Spec.Selector
	}))
	m.Add(c.ctrl)
	return nil
}

// cacheBehind reports whether the cache has not yet caught up with a
// ReplicaSet this process wrote.
func (c *Controller) cacheBehind(rss []*api.ReplicaSet) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rs := range rss {
		key := client.Key(rs)
		want, ok := c.written[key]
		if !ok {
			continue
		}
		if rv, _ := api.ParseResourceVersion(rs.ResourceVersion); rv < want {
			return true
		}
		delete(c.written, key)
	}
	return false
}

func (c *Controller) wrote(rs *api.ReplicaSet) {
	rv, _ := api.ParseResourceVersion(rs.ResourceVersion)
	c.mu.Lock()
	c.written[client.Key(rs)] = rv
	c.mu.Unlock()
}

// Reconcile moves one Deployment's rollout a step and writes its status.
func (c *Controller) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	o, ok := c.deps.Get(key)
	if !ok {
		return controllers.Result{}, nil
	}
	d, err := controllers.Clone(o.(*api.Deployment))
	if err != nil {
		return controllers.Result{}, err
	}
	rss, err := c.claim(ctx, d)
	if err != nil {
		return controllers.Result{}, err
	}
	if c.cacheBehind(rss) {
		return controllers.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	newRS, olds := split(d, rss)
	if d.DeletionTimestamp == nil {
		changed, err := c.rollout(ctx, d, newRS, olds)
		if err != nil || changed {
			// Our writes come back through the cache and enqueue us.
			return controllers.Result{}, err
		}
	}
	return c.syncStatus(ctx, d, newRS, rss)
}

// claim returns the ReplicaSets d controls, adopting matching orphans and
// releasing those that stopped matching.
func (c *Controller) claim(ctx context.Context, d *api.Deployment) ([]*api.ReplicaSet, error) {
	objs, err := c.rsets.ByIndex(client.IndexNamespace, d.Namespace)
	if err != nil {
		return nil, err
	}
	rss := make([]*api.ReplicaSet, len(objs))
	for i, o := range objs {
		rss[i] = o.(*api.ReplicaSet)
	}
	ref := controllers.NewControllerRef(d, api.APIVersionApps, api.KindDeployment)
	return controllers.ClaimAll(ctx, c.client, d, ref, d.Spec.Selector, rss)
}

// rollout takes the next step of the strategy; changed says it wrote
// something (and the next step waits for the cache to show it).
func (c *Controller) rollout(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, olds []*api.ReplicaSet) (bool, error) {
	if newRS != nil {
		// Scaled mid-rollout (paused or not): share the change among the
		// active ReplicaSets before the strategy takes its next step.
		all := append([]*api.ReplicaSet{newRS}, olds...)
		if sizes := proportionalScale(d, all); sizes != nil {
			var errs []error
			for _, rs := range all {
				if n, ok := sizes[rs.Name]; ok && (n != replicas(rs) || !replicasAnnotationsCurrent(d, rs)) {
					errs = append(errs, c.scale(ctx, rs, n, d))
				}
			}
			return true, errors.Join(errs...)
		}
	}
	if d.Spec.Paused {
		// Scaling still applies to a Deployment that is not mid-rollout.
		if newRS != nil && sumSpec(olds) == 0 && replicas(newRS) != desired(d) {
			return true, c.scale(ctx, newRS, desired(d), d)
		}
		return false, nil
	}
	if newRS == nil {
		_, err := c.createNewRS(ctx, d, olds)
		return true, err
	}
	if changed, err := c.syncRevision(ctx, d, newRS, olds); changed || err != nil {
		return true, err
	}
	all := append([]*api.ReplicaSet{newRS}, olds...)
	if d.Spec.Strategy.Type == api.RecreateDeploymentStrategyType {
		return c.recreate(ctx, d, newRS, olds)
	}
	if target := newRSTarget(d, newRS, all); target != replicas(newRS) {
		return true, c.scale(ctx, newRS, target, d)
	}
	var errs []error
	changed := false
	for name, n := range oldScaleDown(d, newRS, olds) {
		for _, rs := range olds {
			if rs.Name == name {
				changed = true
				errs = append(errs, c.scale(ctx, rs, n, d))
			}
		}
	}
	if changed {
		return true, errors.Join(errs...)
	}
	return c.cleanUp(ctx, d, olds)
}

// recreate scales every old ReplicaSet to 0, waits until their pods are
// gone, then scales the new one up.
func (c *Controller) recreate(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, olds []*api.ReplicaSet) (bool, error) {
	var errs []error
	changed := false
	for _, rs := range olds {
		if replicas(rs) > 0 {
			changed = true
			errs = append(errs, c.scale(ctx, rs, 0, d))
		}
	}
	if changed {
		return true, errors.Join(errs...)
	}
	for _, rs := range olds {
		if rs.Status.Replicas > 0 || rs.Status.ObservedGeneration < rs.Generation {
			return false, nil // old pods still terminating; their RS status update enqueues us
		}
	}
	if replicas(newRS) != desired(d) {
		return true, c.scale(ctx, newRS, desired(d), d)
	}
	return c.cleanUp(ctx, d, olds)
}

// cleanUp deletes old ReplicaSets beyond the revision history limit.
func (c *Controller) cleanUp(ctx context.Context, d *api.Deployment, olds []*api.ReplicaSet) (bool, error) {
	var errs []error
	victims := toCleanUp(d, olds)
	for _, rs := range victims {
		err := client.For[api.ReplicaSet](c.client).Delete(ctx, rs.Namespace, rs.Name, client.DeleteOptions{})
		errs = append(errs, client.IgnoreNotFound(err))
	}
	return len(victims) > 0, errors.Join(errs...)
}

// scale sets a ReplicaSet's replicas (conflicts are retried by the queue).
func (c *Controller) scale(ctx context.Context, rs *api.ReplicaSet, n int32, d *api.Deployment) error {
	next, err := controllers.Clone(rs)
	if err != nil {
		return err
	}
	next.Spec.Replicas = &n
	if next.Annotations == nil {
		next.Annotations = map[string]string{}
	}
	setReplicasAnnotations(next, d)
	got, err := client.For[api.ReplicaSet](c.client).Update(ctx, next)
	if err != nil {
		return fmt.Errorf("scale replicaset %s/%s to %d: %w", rs.Namespace, rs.Name, n, err)
	}
	from := replicas(rs)
	c.log.Debug("scaled", "replicaset", rs.Name, "from", from, "to", n)
	if from != n {
		op := "up"
		if n < from {
			op = "down"
		}
		c.rec.Eventf(d, api.EventTypeNormal, ReasonScalingReplicaSet, "Scaled %s replica set %s from %d to %d", op, rs.Name, from, n)
	}
	c.wrote(got)
	return nil
}

// createNewRS makes the ReplicaSet of d's current template, with 0
// replicas and the next revision.
func (c *Controller) createNewRS(ctx context.Context, d *api.Deployment, olds []*api.ReplicaSet) (*api.ReplicaSet, error) {
	hash := TemplateHash(&d.Spec.Template)
	tmpl, err := controllers.Clone(&d.Spec.Template)
	if err != nil {
		return nil, err
	}
	if tmpl.Labels == nil {
		tmpl.Labels = map[string]string{}
	}
	tmpl.Labels[api.LabelPodTemplateHash] = hash
	sel, err := controllers.Clone(d.Spec.Selector)
	if err != nil {
		return nil, err
	}
	if sel.MatchLabels == nil {
		sel.MatchLabels = map[string]string{}
	}
	sel.MatchLabels[api.LabelPodTemplateHash] = hash
	ann := map[string]string{
		api.AnnotationRevision: strconv.FormatInt(maxRevision(olds)+1, 10),
	}
	if cause, ok := d.Annotations[api.AnnotationChangeCause]; ok {
		ann[api.AnnotationChangeCause] = cause
	}
	zero := int32(0)
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{
		Name: d.Name + "-" + hash, Namespace: d.Namespace, Labels: maps.Clone(tmpl.Labels), Annotations: ann,
		OwnerReferences: []api.OwnerReference{controllers.NewControllerRef(d, api.APIVersionApps, api.KindDeployment)},
	}, Spec: api.ReplicaSetSpec{Replicas: &zero, MinReadySeconds: d.Spec.MinReadySeconds, Selector: sel, Template: *tmpl}}
	setReplicasAnnotations(rs, d)
	got, err := client.For[api.ReplicaSet](c.client).Create(ctx, rs)
	if err != nil {
		// AlreadyExists: the cache is behind (it will show the ReplicaSet
		// and enqueue us) or a foreign one holds the name (reported).
		return nil, fmt.Errorf("create replicaset %s/%s: %w", rs.Namespace, rs.Name, err)
	}
	c.log.Info("created replicaset", "deployment", d.Name, "replicaset", got.Name, "revision", ann[api.AnnotationRevision])
	c.wrote(got)
	return got, nil
}

// syncRevision gives the new ReplicaSet the highest revision (when an old
// template came back, as after a rollback) and copies it to the
// Deployment's annotations.
func (c *Controller) syncRevision(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, olds []*api.ReplicaSet) (bool, error) {
	if rev := Revision(newRS); rev <= maxRevision(olds) || rev == 0 {
		next, err := controllers.Clone(newRS)
		if err != nil {
			return false, err
		}
		if next.Annotations == nil {
			next.Annotations = map[string]string{}
		}
		next.Annotations[api.AnnotationRevision] = strconv.FormatInt(maxRevision(olds)+1, 10)
		if cause, ok := d.Annotations[api.AnnotationChangeCause]; ok {
			next.Annotations[api.AnnotationChangeCause] = cause
		}
		got, err := client.For[api.ReplicaSet](c.client).Update(ctx, next)
		if err != nil {
			return false, fmt.Errorf("revision of replicaset %s: %w", newRS.Name, err)
		}
		c.wrote(got)
		return true, nil
	}
	if rev := newRS.Annotations[api.AnnotationRevision]; d.Annotations[api.AnnotationRevision] != rev {
		if d.Annotations == nil {
			d.Annotations = map[string]string{}
		}
		d.Annotations[api.AnnotationRevision] = rev
		got, err := client.For[api.Deployment](c.client).Update(ctx, d)
		if err != nil {
			return false, fmt.Errorf("revision of deployment %s: %w", d.Name, err)
		}
		*d = *got
	}
	return false, nil
}

// syncStatus writes d's status when it changed and asks to be called back
// when the progress deadline would pass.
func (c *Controller) syncStatus(ctx context.Context, d *api.Deployment, newRS *api.ReplicaSet, rss []*api.ReplicaSet) (controllers.Result, error) {
	st, requeue := computeStatus(d, newRS, rss, c.now())
	res := controllers.Result{RequeueAfter: requeue}
	if reflect.DeepEqual(st, d.Status) {
		return res, nil
	}
	d.Status = st
	if _, err := client.For[api.Deployment](c.client).UpdateStatus(ctx, d); err != nil {
		return res, client.IgnoreNotFound(err)
	}
	return res, nil
}
