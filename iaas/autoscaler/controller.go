package autoscaler

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/internal/kit"
	"github.com/cloudmgr/cloud/iaas/nodepool"
)

// Event reasons of the autoscaler, on NodePools.
const (
	ReasonScaledUp   = "ScaledUp"
	ReasonScaledDown = "ScaledDown"
	ReasonNotScaled  = "NotScaled"
	ReasonScaleError = "ScaleFailed"
)

// Options tune the controller.
type Options struct {
	// Config is the decision logic's (zero fields: DefaultConfig).
	Config Config
	// Interval is how often the loop runs (default 5 s).
	Interval time.Duration
	// Providers answer capacity checks, for those that can
	// (iaas.CapacityChecker); nil: no checks.
	Providers iaas.Providers
	// Placer answers capacity checks for pools whose provider has none
	// and does not place machines itself (libvirt: room on the pool's
	// hypervisors); nil: none.
	Placer CapacityPlacer
	// KeepDecisions is how many ScaleDecisions are kept (default 200).
	KeepDecisions int
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Registerer gets the metrics (nil: none).
	Registerer prometheus.Registerer
}

// Controller runs the node autoscaler's loop over the IaaS controllers'
// caches and applies its plans.
type Controller struct {
	o         Options
	a         *Autoscaler
	client    *client.Client
	pools     *client.Cache
	machines  *client.Cache
	nodes     *client.Cache
	pods      *client.Cache
	decisions *client.Cache
	rec       *controllers.Recorder
	log       *slog.Logger
	m         *metrics
	seq       atomic.Int64
	mu        sync.Mutex // one loop at a time
	wake      chan struct{}
	// markedAt: when each pending pod was seen marked unschedulable.
	markedMu sync.Mutex
	markedAt map[string]time.Time
	// flavors are each provider's flavors, read at most every
	// flavorRefresh (guarded by mu).
	flavors map[string]flavorList
}

type flavorList struct {
	at   time.Time
	list []iaas.Flavor
}

// flavorRefresh is how often a provider's flavors are read again.
const flavorRefresh = 5 * time.Minute

// flavor is the size of a flavor of a provider, zero if unknown.
func (c *Controller) flavor(ctx context.Context, provider, name string) iaas.Flavor {
	fl, ok := c.flavors[provider]
	if p, known := c.o.Providers[provider]; known && (!ok || time.Since(fl.at) > flavorRefresh) {
		ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		list, err := p.Flavors(ctx)
		cancel()
		if err != nil {
			c.log.Warn("read flavors", "provider", provider, "err", err)
		} else {
			fl = flavorList{at: time.Now(), list: list}
			c.flavors[provider] = fl
		}
	}
	for _, f := range fl.list {
		if f.Name == name {
			return f
		}
	}
	return iaas.Flavor{}
}

// Setup registers the autoscaler's loop and caches on m.
func Setup(m *controllers.Manager, o Options) (*Controller, error) {
	if o.Interval <= 0 {
		o.Interval = 5 * time.Second
	}
	if o.KeepDecisions <= 0 {
		o.KeepDecisions = 200
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	c := &Controller{
		o:         o,
		client:    m.Client,
		pools:     controllers.CacheFor[api.NodePool](m),
		machines:  controllers.CacheFor[api.Machine](m),
		nodes:     controllers.CacheFor[api.Node](m),
		pods:      controllers.PodCache(m),
		decisions: controllers.CacheFor[api.ScaleDecision](m),
		rec:       m.Recorder("node-autoscaler"),
		log:       m.Log.With("controller", "node-autoscaler"),
		m:         newMetrics(o.Registerer),
		flavors:   map[string]flavorList{},
	}
	c.a = New(o.Config, c.checkCapacity)
	c.wake = make(chan struct{}, 1)
	c.markedAt = map[string]time.Time{}
	c.pods.AddHandler(client.Handler{
		OnAdd: func(obj api.Object) { c.podChanged(nil, obj.(*api.Pod)) },
		OnUpdate: func(old, obj api.Object) {
			c.podChanged(old.(*api.Pod), obj.(*api.Pod))
		},
		OnDelete: func(obj api.Object) {
			if p, ok := obj.(*api.Pod); ok {
				c.podChanged(p, nil)
			}
		},
	})
	c.pools.AddHandler(client.Handler{
		OnAdd: func(api.Object) { c.Wake() },
		OnUpdate: func(old, obj api.Object) {
			if old.GetObjectMeta().Generation != obj.GetObjectMeta().Generation {
				c.Wake() // a spec change, not the status
			}
		},
	})
	c.nodes.AddHandler(client.Handler{OnUpdate: func(old, obj api.Object) {
		if c.hot(old.(*api.Node)) != c.hot(obj.(*api.Node)) {
			c.Wake() // a pool's window may start (or stop) now
		}
	}})
	c.machines.AddHandler(client.Handler{OnUpdate: func(old, obj api.Object) {
		if obj.(*api.Machine).Status.Phase == api.MachineFailed && old.(*api.Machine).Status.Phase != api.MachineFailed {
			c.Wake() // its pool backs off and the growth goes to the next one now
		}
	}})
	m.AddRunnable(c.run)
	return c, nil
}

// minGap is the least time between two loops started by events, as a
// multiple of the last loop's duration: a burst of newly unschedulable
// pods costs at most a third of a core, however large the cluster.
const minGap = 2

// run runs the loop every Interval, and sooner: when a pod is newly marked
// unschedulable, a node's use crosses the scale-up threshold, a pool's
// spec changes or a machine fails to be made (Wake), and when a utilization window or
// cooldown ends (Plan.Wake), so that a held trigger is acted on at once
// rather than at the next tick.
func (c *Controller) run(ctx context.Context) {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		case <-c.wake:
		}
		start := time.Now()
		due := c.RunOnce(ctx)
		took := time.Since(start)
		if gap := minGap * took; gap > 0 {
			select {
			case <-ctx.Done():
				return
			case <-time.After(gap):
			}
		}
		next := c.o.Interval - time.Since(start)
		if !due.IsZero() {
			next = min(next, due.Sub(c.o.Now())) // due is on the Options clock
		}
		timer.Reset(max(next, 0))
	}
}

// hot reports whether a node's pods use at least the scale-up threshold of
// its CPU: a node crossing it wakes the loop, so a pool's window starts
// when the node agents report the load, not at the next tick.
func (c *Controller) hot(n *api.Node) bool {
	used, ok := podUsageMilli(n)
	alloc := allocMilli(n)
	return ok && alloc > 0 && float64(used) >= c.a.cfg.ScaleUpThreshold*float64(alloc)
}

// podChanged notes when a pod comes to be marked unschedulable, and
// wakes the loop for it.
func (c *Controller) podChanged(old, cur *api.Pod) {
	was, is := old != nil && unschedulable(old), cur != nil && unschedulable(cur)
	if was == is {
		return
	}
	c.markedMu.Lock()
	if is {
		c.markedAt[cur.UID] = time.Now()
	} else {
		delete(c.markedAt, old.UID)
	}
	c.markedMu.Unlock()
	if is {
		c.Wake()
	}
}

// Wake asks for a loop now (at most one is queued).
func (c *Controller) Wake() {
	select {
	case c.wake <- struct{}{}:
	default:
	}
}

// CapacityPlacer says whether n machines could be placed on the
// hypervisors now (iaas/placement.Placer).
type CapacityPlacer interface {
	CheckCapacity(ctx context.Context, req iaas.PlacementRequest, n int) error
}

// Autoscaler is the decision logic the controller runs.
func (c *Controller) Autoscaler() *Autoscaler { return c.a }

// checkCapacity asks the pool's provider, when it can answer.
func (c *Controller) checkCapacity(ctx context.Context, pool *api.NodePool, n int) error {
	p, ok := c.o.Providers[pool.Spec.Provider]
	if !ok {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	cc, ok := iaas.Ability[iaas.CapacityChecker](p)
	if !ok {
		if c.o.Placer == nil || iaas.PlacesItself(p) || pool.Spec.VCPUs == 0 {
			return nil
		}
		return c.o.Placer.CheckCapacity(ctx, iaas.PlacementRequest{Provider: pool.Spec.Provider, Group: pool.Name,
			CPUs: pool.Spec.VCPUs, MemoryMiB: kit.MemoryMiB(pool.Spec.Memory),
			Hypervisors: pool.Spec.Hypervisors, Selector: pool.Spec.HypervisorSelector}, n)
	}
	return cc.CheckCapacity(ctx, iaas.MachineSpec{Group: pool.Name, Flavor: pool.Spec.Flavor, CPUs: pool.Spec.VCPUs,
		MemoryMiB: kit.MemoryMiB(pool.Spec.Memory), Image: pool.Spec.Image, Network: pool.Spec.Network}, n)
}

// snapshot reads the caches (and the flavors of pools that name one).
func (c *Controller) snapshot(ctx context.Context) *Snapshot {
	s := &Snapshot{}
	byPool := map[string]*Pool{}
	for _, o := range c.pools.List() {
		np := o.(*api.NodePool)
		if np.DeletionTimestamp != nil {
			continue
		}
		p := &Pool{NodePool: np}
		if np.Spec.Flavor != "" {
			p.Flavor = c.flavor(ctx, np.Spec.Provider, np.Spec.Flavor)
		}
		byPool[np.Name] = p
		s.Pools = append(s.Pools, p)
	}
	slices.SortFunc(s.Pools, func(a, b *Pool) int { return cmp.Compare(a.NodePool.Name, b.NodePool.Name) })
	for _, o := range c.machines.List() {
		m := o.(*api.Machine)
		if p := byPool[m.Labels[api.LabelNodePool]]; p != nil {
			p.Machines = append(p.Machines, m)
		}
	}
	for _, o := range c.nodes.List() {
		n := o.(*api.Node)
		s.Nodes = append(s.Nodes, n)
		if p := byPool[n.Labels[api.LabelNodePool]]; p != nil {
			p.Nodes = append(p.Nodes, n)
		}
	}
	for _, o := range c.pods.List() {
		s.Pods = append(s.Pods, o.(*api.Pod))
	}
	c.markedMu.Lock()
	s.MarkedAt = maps.Clone(c.markedAt)
	c.markedMu.Unlock()
	return s
}

// RunOnce runs one loop: decide, write the pools' replicas and scale-down
// marks, record the decisions, prune old ones. It returns when the next
// decision comes due with nothing changing (Plan.Wake).
func (c *Controller) RunOnce(ctx context.Context) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	start := time.Now()
	defer func() { c.m.loop.Observe(time.Since(start).Seconds()) }()
	plan := c.a.Decide(ctx, c.snapshot(ctx), c.o.Now())
	calls := map[string][]api.ScaleCall{}
	written := map[string]time.Time{}
	for _, d := range plan.ScaleDowns {
		call := c.timed("MarkMachine", d.Pool, func() error { return c.mark(ctx, d.Machine) })
		calls[d.Pool] = append(calls[d.Pool], call)
		if call.Error != "" {
			continue
		}
		calls[d.Pool] = append(calls[d.Pool], c.timed("UpdateReplicas", d.Pool, func() error { return c.setReplicas(ctx, d.Pool, d.Replicas) }))
	}
	for _, u := range plan.GiveUps {
		calls[u.Pool] = append(calls[u.Pool], c.timed("UpdateReplicas", u.Pool, func() error { return c.setReplicas(ctx, u.Pool, u.Replicas) }))
	}
	for _, u := range plan.ScaleUps {
		call := c.timed("UpdateReplicas", u.Pool, func() error { return c.setReplicas(ctx, u.Pool, u.Replicas) })
		calls[u.Pool] = append(calls[u.Pool], call)
		if call.Error == "" {
			written[u.Pool] = time.Now()
		}
	}
	gaveUp := map[string]bool{}
	for _, u := range plan.GiveUps {
		gaveUp[u.Pool] = true
	}
	for i, d := range plan.Decisions {
		c.record(ctx, d, plan.HeldAt[i], calls, written, gaveUp)
	}
	if len(plan.Decisions) > 0 {
		c.prune(ctx)
	}
	return plan.Wake
}

// timed runs one write and describes it as a decision's call.
func (c *Controller) timed(op, pool string, f func() error) api.ScaleCall {
	start := time.Now()
	err := f()
	call := api.ScaleCall{Operation: op, Pool: pool, DurationMilliseconds: time.Since(start).Milliseconds()}
	if err != nil {
		call.Error = err.Error()
		c.log.Warn("node autoscaler write failed", "operation", op, "pool", pool, "err", err)
	}
	return call
}

// setReplicas writes a pool's spec.replicas, reading it again on a
// conflict.
func (c *Controller) setReplicas(ctx context.Context, name string, replicas int32) error {
	pools := client.For[api.NodePool](c.client)
	var err error
	for range 3 {
		var p *api.NodePool
		if p, err = pools.Get(ctx, "", name); err != nil {
			return fmt.Errorf("get pool %s: %w", name, err)
		}
		r := replicas
		p.Spec.Replicas = &r
		if _, err = pools.Update(ctx, p); err == nil || !client.IsConflict(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("set pool %s replicas to %d: %w", name, replicas, err)
	}
	return nil
}

// mark asks the NodePool controller to drain and delete this machine.
func (c *Controller) mark(ctx context.Context, name string) error {
	machines := client.For[api.Machine](c.client)
	var err error
	for range 3 {
		var m *api.Machine
		if m, err = machines.Get(ctx, "", name); err != nil {
			return fmt.Errorf("get machine %s: %w", name, err)
		}
		if m.Annotations == nil {
			m.Annotations = map[string]string{}
		}
		m.Annotations[nodepool.AnnotationScaleDown] = nodepool.ScaleDownByAutoscaler + c.o.Now().UTC().Format(time.RFC3339)
		if _, err = machines.Update(ctx, m); err == nil || !client.IsConflict(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("mark machine %s: %w", name, err)
	}
	return nil
}

// record writes one decision with the calls made for its pools, its
// event and its metrics.
func (c *Controller) record(ctx context.Context, d api.ScaleDecisionSpec, held time.Time, calls map[string][]api.ScaleCall, written map[string]time.Time, gaveUp map[string]bool) {
	var pools []string
	if d.Outcome.Pool != "" {
		pools = strings.Split(d.Outcome.Pool, ",")
	}
	for _, pc := range d.Pools {
		if pc.Taken || gaveUp[pc.Pool] {
			d.Calls = append(d.Calls, calls[pc.Pool]...)
			delete(calls, pc.Pool) // one decision tells of a call
		}
	}
	failed := slices.ContainsFunc(d.Calls, func(call api.ScaleCall) bool {
		return call.Error != "" && call.Operation != "CheckCapacity"
	})
	c.m.decisions.WithLabelValues(string(d.Trigger.Type), string(d.Outcome.Type)).Inc()
	if d.Outcome.Type == api.OutcomeScaledUp {
		for _, p := range pools {
			if at, ok := written[p]; ok && !held.IsZero() {
				c.m.latency.WithLabelValues(string(d.Trigger.Type)).Observe(max(0, at.Sub(held).Seconds()))
			}
		}
	}
	if !held.IsZero() {
		d.HeldTime = api.NewMicroTime(held)
	}
	c.event(d, pools, failed)
	seq := c.seq.Add(1)
	obj := &api.ScaleDecision{ObjectMeta: api.ObjectMeta{
		Name:   fmt.Sprintf("sd-%d-%d", c.o.Now().UnixMilli(), seq),
		Labels: map[string]string{LabelTrigger: string(d.Trigger.Type), LabelOutcome: string(d.Outcome.Type)},
	}, Spec: d}
	if d.Trigger.Pool != "" {
		obj.Labels[api.LabelNodePool] = d.Trigger.Pool
	}
	if _, err := client.For[api.ScaleDecision](c.client).Create(ctx, obj); err != nil {
		c.log.Warn("record scale decision", "err", err)
	}
}

// Labels of ScaleDecisions, to select them.
const (
	LabelTrigger = "iaas.cloudmgr.dev/trigger"
	LabelOutcome = "iaas.cloudmgr.dev/outcome"
)

// event tells the pools concerned what was decided.
func (c *Controller) event(d api.ScaleDecisionSpec, pools []string, failed bool) {
	names := pools
	if len(names) == 0 && d.Trigger.Pool != "" {
		names = []string{d.Trigger.Pool}
	}
	for _, name := range names {
		o, ok := c.pools.Get(name)
		if !ok {
			continue
		}
		pool := o.(*api.NodePool)
		switch {
		case failed:
			c.rec.Eventf(pool, api.EventTypeWarning, ReasonScaleError, "Could not apply the decision (%s, %s): see the ScaleDecision's calls", d.Trigger.Type, d.Outcome.Type)
		case d.Outcome.Type == api.OutcomeScaledUp:
			c.rec.Eventf(pool, api.EventTypeNormal, ReasonScaledUp, "Grown for %s: %s", d.Trigger.Type, takenMessage(d, name))
		case d.Outcome.Type == api.OutcomeScaledDown:
			c.rec.Eventf(pool, api.EventTypeNormal, ReasonScaledDown, "Removing node %s: under %.0f%% for %ds", d.Outcome.Node, d.Trigger.ThresholdPercent, d.Trigger.WindowSeconds)
		default:
			c.rec.Eventf(pool, api.EventTypeNormal, ReasonNotScaled, "Not scaled for %s: %s: %s", d.Trigger.Type, d.Outcome.Reason, d.Outcome.Message)
		}
	}
}

func takenMessage(d api.ScaleDecisionSpec, pool string) string {
	for _, pc := range d.Pools {
		if pc.Taken && pc.Pool == pool {
			return pc.Message
		}
	}
	return ""
}

// prune deletes the oldest decisions beyond KeepDecisions.
func (c *Controller) prune(ctx context.Context) {
	objs := c.decisions.List()
	extra := len(objs) - c.o.KeepDecisions
	if extra <= 0 {
		return
	}
	slices.SortFunc(objs, func(a, b api.Object) int {
		ma, mb := a.GetObjectMeta(), b.GetObjectMeta()
		if c := ma.CreationTimestamp.Compare(mb.CreationTimestamp.Time); c != 0 {
			return c
		}
		return cmp.Compare(ma.Name, mb.Name)
	})
	for _, o := range objs[:extra] {
		err := client.For[api.ScaleDecision](c.client).Delete(ctx, "", o.GetObjectMeta().Name, client.DeleteOptions{})
		if err != nil && !client.IsNotFound(err) {
			c.log.Warn("prune scale decision", "name", o.GetObjectMeta().Name, "err", err)
		}
	}
}
