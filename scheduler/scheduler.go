package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

// DefaultWorkers is how many bindings (and status and event writes) may be
// in flight at once, so that their store round trips overlap: a binding
// takes about 15 ms under load here (most of it the etcd commit), so 64
// writers allow some 4,000 bindings a second; with 32 the pool was nearly
// full at 2,000 a second and pods waited for a writer.
const DefaultWorkers = 64

// DefaultEventInterval is the least time between two FailedScheduling
// events of one pod.
const DefaultEventInterval = time.Minute

// stopGrace is how long in-flight bindings may run once the scheduler is
// told to stop.
const stopGrace = 5 * time.Second

// Config says what a Scheduler places pods with and how it reaches the API.
type Config struct {
	// Client watches nodes and pods (Run needs it), and is the default
	// Writer.
	Client *client.Client
	// Profile holds the plugins that filter and score nodes.
	Profile framework.Profile[*api.Pod, *nodeinfo.NodeInfo]
	// Name is the schedulerName of the pods this scheduler places (default
	// api.DefaultSchedulerName, which also takes pods that name none).
	Name string
	// Workers is the number of goroutines writing bindings, conditions and
	// events (default DefaultWorkers).
	Workers int
	// Binder writes bindings (default: Client, through the pods/binding
	// subresource).
	Binder Binder
	// Writer writes pod status and events (default: Client).
	Writer Writer
	// Registry receives the scheduler's metrics (nil: not exported).
	Registry prometheus.Registerer
	Log      *slog.Logger
	// Clock is the time of the queue and the cache (default: the wall clock).
	Clock Clock
	// AssumeTTL: see NewCache.
	AssumeTTL time.Duration
	// Queue tunes back-off and the unschedulable timeout.
	Queue QueueOptions
	// EventInterval bounds FailedScheduling events to one per pod per
	// interval (default DefaultEventInterval).
	EventInterval time.Duration
}

// Binder writes a pod's binding to a node. The write must be conditional
// (the pod still unbound, its uid unchanged) so that a stale decision never
// double-books a node: it fails with a 409 when the condition does not
// hold, and a 404 when the pod is gone.
type Binder interface {
	Bind(ctx context.Context, namespace, name, uid, node string) error
}

// Writer writes what the scheduler changes besides bindings: a pod's
// status (its PodScheduled condition, the node it is nominated to),
// Events, and the deletion of the pods it preempts. *client.Client is one.
type Writer interface {
	UpdateStatus(ctx context.Context, obj api.Object) error
	Create(ctx context.Context, obj api.Object) error
	Delete(ctx context.Context, k *api.KindInfo, namespace, name string, opts client.DeleteOptions, out api.Object) error
}

// Scheduler places the pods of its name on nodes, one cycle per pod, and
// binds them asynchronously.
type Scheduler struct {
	cfg     Config
	log     *slog.Logger
	clock   Clock
	fw      *framework.Framework[*api.Pod, *nodeinfo.NodeInfo]
	queue   *Queue
	cache   *Cache
	snap    *Snapshot
	metrics *metrics
	report  *reporter
	// nominated holds the pods waiting for the pods they preempted to go.
	nominated *nominator
	// candidateBuf holds a cycle's nodes adjusted for nominations.
	candidateBuf []*nodeinfo.NodeInfo
	podKind      *api.KindInfo
	binder       Binder
	writer       Writer
	jobs         chan func(context.Context)
	// pods is the watch-fed cache of every pod, once Run started it: the
	// latest version of a pod for retries.
	pods *client.Cache
}

// New returns a scheduler; Run starts it.
func New(cfg Config) (*Scheduler, error) {
	if len(cfg.Profile.Filters) == 0 && len(cfg.Profile.Scores) == 0 {
		return nil, errors.New("scheduler: the profile has no plugins")
	}
	if cfg.Name == "" {
		cfg.Name = api.DefaultSchedulerName
	}
	if msgs := api.IsDNS1123Subdomain(cfg.Name); len(msgs) > 0 {
		return nil, fmt.Errorf("scheduler name %q: %v", cfg.Name, msgs)
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultWorkers
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	if cfg.EventInterval <= 0 {
		cfg.EventInterval = DefaultEventInterval
	}
	cfg.Queue.Clock = cfg.Clock
	s := &Scheduler{
		cfg: cfg, log: cfg.Log, clock: cfg.Clock,
		fw:        framework.New(cfg.Profile),
		queue:     NewQueue(cfg.Queue),
		cache:     NewCache(cfg.Clock, cfg.AssumeTTL),
		snap:      NewSnapshot(),
		report:    newReporter(cfg.EventInterval),
		nominated: newNominator(),
		binder:    cfg.Binder, writer: cfg.Writer,
		jobs: make(chan func(context.Context), cfg.Workers*4),
	}
	s.podKind, _ = api.NewScheme().ByKind(api.APIVersionV1, api.KindPod)
	if s.writer == nil && cfg.Client != nil {
		s.writer = cfg.Client
	}
	if s.binder == nil && cfg.Client != nil {
		s.binder = cfg.Client
	}
	if s.binder == nil || s.writer == nil {
		return nil, errors.New("scheduler: a Client, or a Binder and a Writer, is required")
	}
	m, err := newMetrics(cfg.Registry, s.queue)
	if err != nil {
		return nil, fmt.Errorf("scheduler metrics: %w", err)
	}
	s.metrics = m
	return s, nil
}

// Queue returns the scheduling queue.
func (s *Scheduler) Queue() *Queue { return s.queue }

// Cache returns the node cache.
func (s *Scheduler) Cache() *Cache { return s.cache }

// Run watches nodes and pods through the Client and schedules until ctx
// ends; then it stops taking pods, lets bindings in flight finish for a
// few seconds, and returns.
func (s *Scheduler) Run(ctx context.Context) error {
	c := s.cfg.Client
	if c == nil {
		return errors.New("scheduler: Run needs a Client")
	}
	nodeKind, err := c.KindOf(&api.Node{})
	if err != nil {
		return err
	}
	podKind, err := c.KindOf(&api.Pod{})
	if err != nil {
		return err
	}
	// One watch of all nodes and one of all pods: bound pods feed the
	// cache, pending ones the queue, from the same decoded event.
	nodes := client.NewCache(c, nodeKind, "", client.ListOptions{}, s.log)
	pods := client.NewCache(c, podKind, "", client.ListOptions{}, s.log)
	nodes.AddHandler(s.NodeHandler())
	pods.AddHandler(s.PodHandler())
	s.pods = pods
	watchCtx, stopWatches := context.WithCancel(ctx)
	var watches sync.WaitGroup
	watches.Go(func() { _ = nodes.Run(watchCtx) })
	watches.Go(func() { _ = pods.Run(watchCtx) })
	defer func() {
		stopWatches()
		watches.Wait()
	}()
	if !nodes.WaitForSync(ctx) || !pods.WaitForSync(ctx) {
		return nil
	}
	n, p := s.cache.Counts()
	a, b, u := s.queue.Lengths()
	s.log.Info("scheduler started", "name", s.cfg.Name, "nodes", n, "placed-pods", p, "pending", a+b+u, "workers", s.cfg.Workers)
	return s.Schedule(ctx)
}

// Schedule runs the scheduling loop and the binding workers until ctx
// ends, fed by the handlers (Run wires them to watches).
func (s *Scheduler) Schedule(ctx context.Context) error {
	jobCtx, cancelJobs := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelJobs()
	var workers sync.WaitGroup
	for range s.cfg.Workers {
		workers.Go(func() {
			for job := range s.jobs {
				job(jobCtx)
			}
		})
	}
	for ctx.Err() == nil {
		s.scheduleOne(ctx)
	}
	close(s.jobs)
	done := make(chan struct{})
	go func() { workers.Wait(); close(done) }()
	t := time.NewTimer(stopGrace)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		cancelJobs()
		<-done
	}
	return nil
}

// scheduleOne takes one pod through a cycle: snapshot, filter and score,
// assume, and hands the binding to a worker.
func (s *Scheduler) scheduleOne(ctx context.Context) {
	e, err := s.queue.Pop(ctx)
	if err != nil {
		return
	}
	if uid, placed := s.cache.PlacedUID(e.Key); placed && uid == e.Pod.UID {
		// An old event queued a pod this scheduler has already placed.
		s.queue.Done(e)
		return
	}
	pod := e.Pod
	start := time.Now()
	s.cache.UpdateSnapshot(s.snap)
	state := framework.NewCycleState()
	state.Write(nodeinfo.SnapshotKey, s.snap)
	// One PodInfo per cycle: the plugins read it, and it is what is assumed.
	pi := nodeinfo.NewPodInfo(pod)
	plugins.SetPodInfo(state, pi)
	candidates := s.nominated.candidates(s.snap, pod, &s.candidateBuf)
	res, err := s.fw.Schedule(ctx, state, pod, candidates)
	s.metrics.algorithm.Observe(time.Since(start).Seconds())
	if err != nil {
		var fe *framework.FitError
		if errors.As(err, &fe) {
			s.unschedulable(ctx, e, pi, state, fe)
			return
		}
		s.log.Warn("scheduling failed", "pod", e.Key, "err", err)
		s.metrics.attempts.WithLabelValues(ResultError).Inc()
		s.queue.AddBackoff(e)
		return
	}
	if err := s.cache.AssumePod(pi, res.Selected); err != nil {
		s.log.Debug("assume failed", "pod", e.Key, "err", err)
		s.metrics.attempts.WithLabelValues(ResultError).Inc()
		s.queue.AddBackoff(e)
		return
	}
	node := res.Selected
	select {
	case s.jobs <- func(jctx context.Context) { s.bind(jctx, e, node) }:
	case <-ctx.Done():
		s.cache.ForgetPod(e.Key)
	}
}

// bind writes the binding of an assumed pod and settles the assumption.
func (s *Scheduler) bind(ctx context.Context, e *QueuedPod, node string) {
	start := time.Now()
	p := e.Pod
	err := s.binder.Bind(ctx, p.Namespace, p.Name, p.UID, node)
	s.metrics.binding.Observe(time.Since(start).Seconds())
	switch {
	case err == nil:
		s.cache.FinishBinding(e.Key)
		s.queue.Done(e)
		s.metrics.attempts.WithLabelValues(ResultScheduled).Inc()
		s.metrics.e2e.Observe(s.clock.Now().Sub(e.FirstSeen).Seconds())
		return
	case client.IsNotFound(err):
		s.cache.ForgetPod(e.Key)
		s.queue.Done(e)
	default:
		if ctx.Err() == nil {
			s.log.Info("binding failed; retrying after back-off", "pod", e.Key, "node", node, "err", err)
		}
		s.cache.ForgetPod(e.Key)
		s.queue.AddBackoff(e)
		// The room the pod held is free again.
		s.queue.MoveAll()
	}
	s.metrics.attempts.WithLabelValues(ResultError).Inc()
}

// unschedulable handles a pod that fits nowhere: it tries preemption, parks
// the pod, and reports why: the PodScheduled=False condition (written when
// its message or the nomination changes) and a FailedScheduling event (at
// most one per pod per EventInterval).
func (s *Scheduler) unschedulable(ctx context.Context, e *QueuedPod, pi *nodeinfo.PodInfo, state *framework.CycleState, fe *framework.FitError) {
	s.metrics.attempts.WithLabelValues(ResultUnschedulable).Inc()
	pod, msg := e.Pod, fe.Error()
	evict, preempted := s.preempt(ctx, state, pi, fe)
	s.queue.AddUnschedulable(e) // e belongs to the queue from here on
	writeCond, recordEvent := s.report.decide(pod, msg, s.clock.Now())
	nominated := ""
	if preempted {
		nominated, _ = s.nominated.nodeOfPod(pi.Key)
		writeCond = writeCond || pod.Status.NominatedNodeName != nominated
	}
	if !writeCond && !recordEvent && !preempted {
		return
	}
	job := func(jctx context.Context) {
		if evict != nil {
			evict(jctx)
		}
		if writeCond {
			s.writeCondition(jctx, pod, msg, nominated)
		}
		if recordEvent {
			s.event(jctx, pod, api.EventTypeWarning, ReasonFailedScheduling, msg)
		}
	}
	select {
	case s.jobs <- job:
	case <-ctx.Done():
	}
}

// latest returns the newest version of a pod the watch has seen.
func (s *Scheduler) latest(key string) (*api.Pod, bool) {
	if s.pods == nil {
		return nil, false
	}
	o, ok := s.pods.Get(key)
	if !ok {
		return nil, false
	}
	p, ok := o.(*api.Pod)
	return p, ok
}
