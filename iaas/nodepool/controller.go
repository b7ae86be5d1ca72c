// Package nodepool runs the NodePool controller: it keeps as many Machines
// as a pool's replicas (the Machine controller turns them into VMs that
// join as nodes), replaces Failed ones, and on scale-down cordons and
// drains a node through the eviction API (PodDisruptionBudgets hold it
// back) before deleting its Machine.
package nodepool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/iaas/internal/kit"
)

// Finalizer holds a NodePool being deleted until its machines are drained
// and gone.
const Finalizer = "iaas.cloudmgr.dev/nodepool"

// Event reasons of the NodePool controller.
const (
	ReasonSuccessfulCreate = "SuccessfulCreate"
	ReasonFailedCreate     = "FailedCreate"
	ReasonSuccessfulDelete = "SuccessfulDelete"
	ReasonFailedDelete     = "FailedDelete"
	ReasonScalingDown      = "ScalingDown"
	ReasonDrainFailed      = "DrainFailed"
	ReasonReplacingFailed  = "ReplacingFailedMachine"
)

const indexPool = "iaas.cloudmgr.dev/nodepool"

// Options tune the controller.
type Options struct {
	// Workers reconcile different pools in parallel (default 2).
	Workers int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// FailedBackoff is how long a Failed machine stays (so its condition
	// can be read) before it is deleted and replaced (default 10 s). It
	// doubles with each failure in a row of the pool's machines, up to
	// MaxFailedBackoff (default 5 minutes), and starts again once a
	// machine made after the last failure joins.
	FailedBackoff, MaxFailedBackoff time.Duration
	// DrainPoll is how often a drain in progress is looked at (default 1 s).
	DrainPoll time.Duration
	// ExpectationsTTL bounds how long the controller waits to see its own
	// writes (default 1 minute).
	ExpectationsTTL time.Duration
}

// Controller reconciles NodePools.
type Controller struct {
	o        Options
	client   *client.Client
	pools    *client.Cache
	machines *client.Cache
	nodes    *client.Cache
	pods     *client.Cache
	exp      *controllers.Expectations
	rec      *controllers.Recorder
	log      *slog.Logger
	ctrl     *controllers.Controller

	mu sync.Mutex
	// failures counts each pool's machine failures in a row, and when the
	// last was replaced (in memory: a new leader starts from the base
	// backoff).
	failures map[string]failureRun
}

type failureRun struct {
	n    int
	last time.Time
}

// backoff is how long pool's next Failed machine waits before it is
// replaced, given the machines it has now; a machine created after the
// last failure that joined ends the run.
func (c *Controller) backoff(pool string, machines []*api.Machine) time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	run := c.failures[pool]
	for _, m := range machines {
		if m.Status.Phase == api.MachineJoined && m.CreationTimestamp.After(run.last) {
			delete(c.failures, pool)
			return c.o.FailedBackoff
		}
	}
	d := c.o.FailedBackoff
	for i := 1; i < run.n && d < c.o.MaxFailedBackoff; i++ {
		d *= 2
	}
	return min(d, c.o.MaxFailedBackoff)
}

// failed records that one of pool's Failed machines is being replaced.
func (c *Controller) failed(pool string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	run := c.failures[pool]
	run.n++
	run.last = c.o.Now()
	c.failures[pool] = run
}

// Setup registers the NodePool controller and its caches on m.
func Setup(m *controllers.Manager, o Options) (*Controller, error) {
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.FailedBackoff <= 0 {
		o.FailedBackoff = 10 * time.Second
	}
	if o.MaxFailedBackoff < o.FailedBackoff {
		o.MaxFailedBackoff = max(5*time.Minute, o.FailedBackoff)
	}
	if o.DrainPoll <= 0 {
		o.DrainPoll = time.Second
	}
	if o.ExpectationsTTL <= 0 {
		o.ExpectationsTTL = time.Minute
	}
	c := &Controller{
		o:        o,
		client:   m.Client,
		pools:    controllers.CacheFor[api.NodePool](m),
		machines: controllers.CacheFor[api.Machine](m),
		nodes:    controllers.CacheFor[api.Node](m),
		pods:     controllers.PodCache(m),
		rec:      m.Recorder("nodepool-controller"),
		log:      m.Log.With("controller", "nodepool"),
		failures: map[string]failureRun{},
	}
	c.exp = controllers.NewExpectations(o.ExpectationsTTL, o.Now)
	c.ctrl = controllers.NewController("nodepool", c, o.Workers, m.Log)
	c.machines.AddIndex(indexPool, func(obj api.Object) []string {
		if p := obj.GetObjectMeta().Labels[api.LabelNodePool]; p != "" {
			return []string{p}
		}
		return nil
	})
	c.pools.AddHandler(controllers.EnqueueHandler(c.ctrl))
	c.machines.AddHandler(handler(func(o api.Object) { c.enqueueMachinePool(o.(*api.Machine)) }))
	// A pool looks at its nodes' existence, readiness and cordon, not at
	// their heartbeats and usage: only those changes wake it (a pool of
	// thousands is not reconciled for each node's status write).
	enqueueNode := func(o api.Object) { c.enqueueNodePool(o.GetObjectMeta().Name) }
	c.nodes.AddHandler(client.Handler{OnAdd: enqueueNode, OnDelete: enqueueNode, OnUpdate: func(old, o api.Object) {
		a, b := old.(*api.Node), o.(*api.Node)
		if kit.NodeReady(a) != kit.NodeReady(b) || a.Spec.Unschedulable != b.Spec.Unschedulable {
			enqueueNode(o)
		}
	}})
	// Pods matter to a pool only while one of its nodes drains.
	c.pods.AddHandler(handler(func(o api.Object) {
		if n := o.(*api.Pod).Spec.NodeName; n != "" && c.draining(n) {
			c.enqueueNodePool(n)
		}
	}))
	m.Add(c.ctrl)
	return c, nil
}

func handler(f func(api.Object)) client.Handler {
	return client.Handler{OnAdd: f, OnUpdate: func(_, o api.Object) { f(o) }, OnDelete: f}
}

func (c *Controller) enqueueMachinePool(m *api.Machine) {
	if ref := controllers.ControllerRef(m); ref != nil && ref.Kind == api.KindNodePool {
		c.ctrl.Queue.Add(ref.Name)
	}
}

// draining reports whether the machine behind node (same name) is marked
// to go, its node being drained.
func (c *Controller) draining(node string) bool {
	o, ok := c.machines.Get(node)
	return ok && o.GetObjectMeta().Annotations[AnnotationScaleDown] != ""
}

// enqueueNodePool enqueues the pool of the machine behind a node (same
// name), for joins and drains.
func (c *Controller) enqueueNodePool(node string) {
	if o, ok := c.machines.Get(node); ok {
		c.enqueueMachinePool(o.(*api.Machine))
	}
}

// owned returns the machines the pool controls.
func (c *Controller) owned(pool *api.NodePool) []*api.Machine {
	objs, err := c.machines.ByIndex(indexPool, pool.Name)
	if err != nil {
		objs = c.machines.List()
	}
	var out []*api.Machine
	for _, o := range objs {
		m := o.(*api.Machine)
		if ref := controllers.ControllerRef(m); ref != nil && ref.UID == pool.UID {
			out = append(out, m)
		}
	}
	return out
}

func (c *Controller) node(name string) *api.Node {
	if o, ok := c.nodes.Get(name); ok {
		return o.(*api.Node)
	}
	return nil
}

// Reconcile brings one pool's machines to its replicas and writes its
// status.
func (c *Controller) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	return kit.QuietConflict(c.reconcile(ctx, key))
}

func (c *Controller) reconcile(ctx context.Context, key string) (controllers.Result, error) {
	o, ok := c.pools.Get(key)
	if !ok {
		c.exp.Forget(key)
		return controllers.Result{}, nil
	}
	pool, err := controllers.Clone(o.(*api.NodePool))
	if err != nil {
		return controllers.Result{}, err
	}
	if pool.DeletionTimestamp == nil && !kit.HasFinalizer(&pool.ObjectMeta, Finalizer) {
		pool.Finalizers = append(pool.Finalizers, Finalizer)
		if pool, err = client.For[api.NodePool](c.client).Update(ctx, pool); err != nil {
			return controllers.Result{}, client.IgnoreNotFound(err)
		}
	}
	machines := c.owned(pool)
	desired := DesiredReplicas(pool)
	want := newMachine(pool).Spec
	outdated := func(m *api.Machine) bool { return !sameTemplate(m.Spec, want) }
	seen := func(name string) bool { _, ok := c.machines.Get(name); return ok }
	active := func(name string) bool {
		o, ok := c.machines.Get(name)
		return ok && o.GetObjectMeta().DeletionTimestamp == nil
	}
	var res controllers.Result
	var errs []error
	if c.exp.Satisfied(key, seen, active) {
		hasNode := func(n string) bool { return c.node(n) != nil }
		p := planScale(machines, hasNode, outdated, desired, c.o.Now(), c.backoff(pool.Name, machines))
		res.RequeueAfter = p.requeue
		errs = append(errs, c.apply(ctx, key, pool, p))
		if len(p.drain) > 0 && (res.RequeueAfter == 0 || res.RequeueAfter > c.o.DrainPoll) {
			res.RequeueAfter = c.o.DrainPoll
		}
	} else {
		res.RequeueAfter = time.Second
	}
	if err := c.updateStatus(ctx, pool, machines, outdated, desired); err != nil {
		errs = append(errs, err)
	}
	if pool.DeletionTimestamp != nil && len(machines) == 0 && kit.HasFinalizer(&pool.ObjectMeta, Finalizer) {
		fresh, err := client.For[api.NodePool](c.client).Get(ctx, "", pool.Name)
		if err != nil {
			return res, client.IgnoreNotFound(err)
		}
		kit.RemoveFinalizer(&fresh.ObjectMeta, Finalizer)
		if _, err := client.For[api.NodePool](c.client).Update(ctx, fresh); err != nil && !client.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("drop finalizer of node pool %s: %w", pool.Name, err))
		}
	}
	return res, errors.Join(errs...)
}

// apply carries out a plan.
func (c *Controller) apply(ctx context.Context, key string, pool *api.NodePool, p plan) error {
	var errs []error
	for _, m := range p.remove {
		if m.Status.Phase == api.MachineFailed {
			c.failed(pool.Name)
			c.rec.Eventf(pool, api.EventTypeWarning, ReasonReplacingFailed, "Replacing failed machine %s: %s", m.Name, m.Status.Message)
		}
		errs = append(errs, c.deleteMachine(ctx, key, pool, m))
	}
	for range p.create {
		errs = append(errs, c.createMachine(ctx, key, pool))
	}
	for _, m := range p.drain {
		errs = append(errs, c.drain(ctx, key, pool, m))
	}
	return errors.Join(errs...)
}

// newMachine is a Machine for pool, controlled by it.
func newMachine(pool *api.NodePool) *api.Machine {
	s := pool.Spec
	labels := map[string]string{api.LabelNodePool: pool.Name}
	nodeLabels := map[string]string{}
	for k, v := range s.Labels {
		nodeLabels[k] = v
	}
	return &api.Machine{
		ObjectMeta: api.ObjectMeta{Name: machineName(pool.Name), Labels: labels,
			OwnerReferences: []api.OwnerReference{controllers.NewControllerRef(pool, api.APIVersionIaaS, api.KindNodePool)}},
		Spec: api.MachineSpec{Provider: s.Provider, Pool: pool.Name, Flavor: s.Flavor, VCPUs: s.VCPUs, Memory: s.Memory,
			Image: s.Image, Network: s.Network, Labels: nodeLabels, Taints: append([]api.Taint(nil), s.Taints...)},
	}
}

func (c *Controller) createMachine(ctx context.Context, key string, pool *api.NodePool) error {
	var err error
	for range 3 {
		var m *api.Machine
		m, err = client.For[api.Machine](c.client).Create(ctx, newMachine(pool))
		if err == nil {
			c.exp.Created(key, m.Name)
			c.rec.Eventf(pool, api.EventTypeNormal, ReasonSuccessfulCreate, "Created machine: %s", m.Name)
			return nil
		}
		if !client.IsAlreadyExists(err) {
			break
		}
	}
	if ctx.Err() == nil {
		c.rec.Eventf(pool, api.EventTypeWarning, ReasonFailedCreate, "Error creating machine: %v", err)
	}
	return fmt.Errorf("create machine for node pool %s: %w", pool.Name, err)
}

func (c *Controller) deleteMachine(ctx context.Context, key string, pool *api.NodePool, m *api.Machine) error {
	err := client.For[api.Machine](c.client).Delete(ctx, "", m.Name, client.DeleteOptions{Preconditions: client.PreconditionUID(m.UID)})
	if err != nil && !client.IsNotFound(err) && !client.IsConflict(err) {
		if ctx.Err() == nil {
			c.rec.Eventf(pool, api.EventTypeWarning, ReasonFailedDelete, "Error deleting machine %s: %v", m.Name, err)
		}
		return fmt.Errorf("delete machine %s: %w", m.Name, err)
	}
	c.exp.Deleted(key, m.Name)
	c.rec.Eventf(pool, api.EventTypeNormal, ReasonSuccessfulDelete, "Deleted machine: %s", m.Name)
	return nil
}

// updateStatus writes the pool's status when it changed.
func (c *Controller) updateStatus(ctx context.Context, pool *api.NodePool, machines []*api.Machine, outdated func(*api.Machine) bool, desired int) error {
	ready := func(n string) bool { nd := c.node(n); return nd != nil && kit.NodeReady(nd) }
	st := computeStatus(pool, machines, ready, outdated, desired, api.NewTime(c.o.Now()))
	if reflect.DeepEqual(st, pool.Status) {
		return nil
	}
	pool.Status = st
	if _, err := client.For[api.NodePool](c.client).UpdateStatus(ctx, pool); err != nil {
		if client.IsNotFound(err) {
			return nil
		}
		return fmt.Errorf("node pool %s status: %w", pool.Name, err)
	}
	return nil
}
