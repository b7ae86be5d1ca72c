// Package hpa is the workload autoscaler: for each HorizontalPodAutoscaler
// it reads the cpu usage of its target's pods, computes the replica count
// that brings their average utilization of requests to the target (the
// Kubernetes algorithm, see Calculate), stabilizes it, bounds it and
// writes it to the Deployment's or ReplicaSet's spec.replicas.
package hpa

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"slices"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// Defaults of Options, as Kubernetes' controller manager.
const (
	DefaultInterval  = 15 * time.Second
	DefaultTolerance = 0.1
	// Workers is how many autoscalers are computed at once.
	Workers = 2
	// scaleRetries bounds the retries of a replicas write that met a
	// newer version of the target.
	scaleRetries = 5
	// statusRetry is how soon a status write that met a newer autoscaler
	// is tried again.
	statusRetry = 100 * time.Millisecond
)

// Reasons of the autoscaler's conditions and events, as Kubernetes'.
const (
	ReasonSucceededRescale   = "SucceededRescale"
	ReasonSuccessfulRescale  = "SuccessfulRescale"
	ReasonFailedGetScale     = "FailedGetScale"
	ReasonFailedRescale      = "FailedRescale"
	ReasonFailedUpdateScale  = "FailedUpdateScale"
	ReasonValidMetricFound   = "ValidMetricFound"
	ReasonFailedGetMetric    = "FailedGetResourceMetric"
	ReasonFailedComputeScale = "FailedComputeMetricsReplicas"
	ReasonScalingDisabled    = "ScalingDisabled"
	ReasonInvalidSelector    = "InvalidSelector"
	// RescaleAbove and RescaleBelow are the reasons a rescale event gives.
	RescaleAbove = "cpu resource utilization (percentage of request) above target"
	RescaleBelow = "All metrics below target"
)

// Options tune the controller.
type Options struct {
	// Now is the clock (nil: time.Now); tests pass a fake one.
	Now func() time.Time
	// Interval is how often each autoscaler is evaluated (default 15 s).
	Interval time.Duration
	// Tolerance is the deviation of the usage ratio from 1 under which
	// nothing changes (default 0.1).
	Tolerance float64
	// Metrics reads pod usage (nil: the API server's pod metrics API).
	Metrics MetricsSource
}

// Reconciler evaluates one autoscaler at a time, from the shared caches of
// autoscalers, pods, Deployments and ReplicaSets.
type Reconciler struct {
	Client      *client.Client
	HPAs        *client.Cache
	Pods        *client.Cache
	Deployments *client.Cache
	ReplicaSets *client.Cache
	Metrics     MetricsSource
	Recorder    *controllers.Recorder
	Log         *slog.Logger
	Now         func() time.Time
	Interval    time.Duration
	Tolerance   float64

	mu sync.Mutex
	// history holds each autoscaler's recent recommendations, by key, for
	// the stabilization windows (lost on restart, as in Kubernetes).
	history map[string][]recommendation
}

// Setup registers the workload autoscaler on m. An autoscaler is evaluated
// when it is created or its spec changes, and every Interval after.
func Setup(m *controllers.Manager, opts Options) error {
	r := &Reconciler{
		Client:      m.Client,
		HPAs:        controllers.CacheFor[api.HorizontalPodAutoscaler](m),
		Pods:        controllers.PodCache(m),
		Deployments: controllers.CacheFor[api.Deployment](m),
		ReplicaSets: controllers.CacheFor[api.ReplicaSet](m),
		Metrics:     opts.Metrics,
		Recorder:    m.Recorder("horizontal-pod-autoscaler"),
		Log:         m.Log.With("controller", "hpa"),
		Now:         opts.Now,
		Interval:    opts.Interval,
		Tolerance:   opts.Tolerance,
		history:     map[string][]recommendation{},
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	if r.Interval <= 0 {
		r.Interval = DefaultInterval
	}
	if r.Tolerance <= 0 {
		r.Tolerance = DefaultTolerance
	}
	if r.Metrics == nil {
		r.Metrics = ClientMetrics{Client: m.Client}
	}
	c := controllers.NewController("hpa", r, Workers, m.Log)
	r.HPAs.AddHandler(client.Handler{
		OnAdd: c.Enqueue,
		// Its own status writes do not wake it: the interval does.
		OnUpdate: func(old, o api.Object) {
			if old.GetObjectMeta().Generation != o.GetObjectMeta().Generation {
				c.Enqueue(o)
			}
		},
		OnDelete: c.Enqueue,
	})
	m.Add(c)
	return nil
}

// target is what the autoscaler reads of its Deployment or ReplicaSet.
type target struct {
	obj            api.Object
	replicas       int32
	statusReplicas int32
	selector       *api.LabelSelector
}

func (r *Reconciler) target(h *api.HorizontalPodAutoscaler) (target, error) {
	ref := h.Spec.ScaleTargetRef
	key := h.Namespace + "/" + ref.Name
	switch ref.Kind {
	case api.KindDeployment:
		if o, ok := r.Deployments.Get(key); ok {
			d := o.(*api.Deployment)
			return target{d, replicas(d.Spec.Replicas), d.Status.Replicas, d.Spec.Selector}, nil
		}
	case api.KindReplicaSet:
		if o, ok := r.ReplicaSets.Get(key); ok {
			rs := o.(*api.ReplicaSet)
			return target{rs, replicas(rs.Spec.Replicas), rs.Status.Replicas, rs.Spec.Selector}, nil
		}
	default:
		return target{}, fmt.Errorf("unsupported target kind %q", ref.Kind)
	}
	return target{}, fmt.Errorf("%s %s not found", ref.Kind, key)
}

// Reconcile evaluates the autoscaler with key ("namespace/name") and comes
// back after the interval.
func (r *Reconciler) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	obj, ok := r.HPAs.Get(key)
	if !ok {
		r.mu.Lock()
		delete(r.history, key)
		r.mu.Unlock()
		return controllers.Result{}, nil
	}
	h, err := controllers.Clone(obj.(*api.HorizontalPodAutoscaler))
	if err != nil || h.DeletionTimestamp != nil {
		return controllers.Result{}, err
	}
	next := controllers.Result{RequeueAfter: r.Interval}
	now := r.Now()
	st := h.Status
	// The conditions are changed in place: a shared array would hide the
	// change from the comparison below.
	st.Conditions = slices.Clone(h.Status.Conditions)
	st.ObservedGeneration = h.Generation
	scaleErr := r.evaluate(ctx, key, h, &st, now)
	if !reflect.DeepEqual(h.Status, st) {
		h.Status = st
		_, err := client.For[api.HorizontalPodAutoscaler](r.Client).UpdateStatus(ctx, h)
		switch {
		case client.IsConflict(err):
			return controllers.Result{RequeueAfter: statusRetry}, nil
		case client.IsNotFound(err):
			return controllers.Result{}, nil
		case err != nil:
			return controllers.Result{}, fmt.Errorf("update status of autoscaler %s: %w", key, err)
		}
	}
	if scaleErr != nil {
		return controllers.Result{}, scaleErr
	}
	return next, nil
}

// evaluate computes the desired replicas, writes them to the target when
// they differ, and fills st. It returns an error only when the write of
// the target's replicas failed (a retry is due).
func (r *Reconciler) evaluate(ctx context.Context, key string, h *api.HorizontalPodAutoscaler, st *api.HorizontalPodAutoscalerStatus, now time.Time) error {
	t, err := r.target(h)
	if err != nil {
		api.SetHPACondition(st, api.AbleToScale, api.ConditionFalse, ReasonFailedGetScale, "the HPA controller was unable to get the target's current scale: "+err.Error(), now)
		r.warnOnce(h, ReasonFailedGetScale, err)
		return nil
	}
	st.CurrentReplicas = t.statusReplicas
	current := t.replicas
	var d Decision
	reason := ""
	switch {
	case current == 0:
		api.SetHPACondition(st, api.ScalingActive, api.ConditionFalse, ReasonScalingDisabled, "scaling is disabled since the replica count of the target is zero", now)
		st.DesiredReplicas = 0
		return nil
	case current > h.Spec.MaxReplicas:
		d = Decision{Desired: h.Spec.MaxReplicas, Limited: ReasonTooMany}
		reason = "Current number of replicas above Spec.MaxReplicas"
	case current < h.MinReplicasOrDefault():
		d = Decision{Desired: h.MinReplicasOrDefault(), Limited: ReasonTooFew}
		reason = "Current number of replicas below Spec.MinReplicas"
	default:
		calc, err := r.calculate(ctx, h, t, current)
		if err != nil {
			r.metricFailed(h, st, err, now)
			st.DesiredReplicas = current
			return nil
		}
		u := calc.Utilization
		avg := api.MustParseQuantity(fmt.Sprintf("%dm", calc.AverageMilli))
		st.CurrentMetrics = []api.MetricStatus{{Type: api.ResourceMetricSourceType, Resource: &api.ResourceMetricStatus{
			Name: api.ResourceCPU, Current: api.MetricValueStatus{AverageUtilization: &u, AverageValue: &avg}}}}
		api.SetHPACondition(st, api.ScalingActive, api.ConditionTrue, ReasonValidMetricFound,
			"the HPA was able to successfully calculate a replica count from cpu resource utilization (percentage of request)", now)
		r.mu.Lock()
		hist := r.history[key]
		d = stabilize(h, current, calc.Replicas, &hist, now)
		r.history[key] = hist
		r.mu.Unlock()
		reason = RescaleBelow
		if d.Desired > current {
			reason = RescaleAbove
		}
	}
	setLimited(st, d, now)
	st.DesiredReplicas = d.Desired
	if d.Desired == current {
		if d.Stabilized {
			api.SetHPACondition(st, api.AbleToScale, api.ConditionTrue, ReasonStabilized, "recent recommendations were higher than current one, applying the highest recent recommendation", now)
		} else {
			api.SetHPACondition(st, api.AbleToScale, api.ConditionTrue, ReasonReadyToScale, "recommended size matches current size", now)
		}
		return nil
	}
	if err := r.scale(ctx, h, d.Desired); err != nil {
		api.SetHPACondition(st, api.AbleToScale, api.ConditionFalse, ReasonFailedUpdateScale, "the HPA controller was unable to update the target scale: "+err.Error(), now)
		r.Recorder.Eventf(h, api.EventTypeWarning, ReasonFailedRescale, "New size: %d; reason: %s; error: %v", d.Desired, reason, err)
		return err
	}
	api.SetHPACondition(st, api.AbleToScale, api.ConditionTrue, ReasonSucceededRescale, fmt.Sprintf("the HPA controller was able to update the target scale to %d", d.Desired), now)
	r.Recorder.Eventf(h, api.EventTypeNormal, ReasonSuccessfulRescale, "New size: %d; reason: %s", d.Desired, reason)
	ts := api.NewTime(now)
	st.LastScaleTime = &ts
	return nil
}

// calculate reads the target's pods and their usage and runs Calculate.
func (r *Reconciler) calculate(ctx context.Context, h *api.HorizontalPodAutoscaler, t target, current int32) (Calculation, error) {
	if t.selector == nil || (len(t.selector.MatchLabels) == 0 && len(t.selector.MatchExpressions) == 0) {
		return Calculation{}, &metricError{ReasonInvalidSelector, errors.New("the target has no selector")}
	}
	var pods []*api.Pod
	for _, p := range controllers.PodsIn(r.Pods, h.Namespace) {
		if t.selector.Matches(p.Labels) {
			pods = append(pods, p)
		}
	}
	if len(pods) == 0 {
		return Calculation{}, &metricError{ReasonFailedGetMetric, errors.New("no pods match the target's selector")}
	}
	usage, err := r.Metrics.PodCPU(ctx, h.Namespace, pods)
	if err != nil {
		return Calculation{}, &metricError{ReasonFailedGetMetric, fmt.Errorf("unable to get metrics for resource cpu: %w", err)}
	}
	samples, err := Samples(pods, usage)
	if err != nil {
		return Calculation{}, &metricError{ReasonFailedGetMetric, err}
	}
	calc, err := Calculate(samples, current, h.CPUTargetUtilization(), r.Tolerance)
	if err != nil {
		return calc, &metricError{ReasonFailedGetMetric, fmt.Errorf("unable to get metrics for resource cpu: %w", err)}
	}
	return calc, nil
}

// metricError carries the condition reason of a failed calculation.
type metricError struct {
	reason string
	err    error
}

func (e *metricError) Error() string { return e.err.Error() }
func (e *metricError) Unwrap() error { return e.err }

func (r *Reconciler) metricFailed(h *api.HorizontalPodAutoscaler, st *api.HorizontalPodAutoscalerStatus, err error, now time.Time) {
	reason := ReasonFailedComputeScale
	var me *metricError
	if errors.As(err, &me) {
		reason = me.reason
	}
	msg := "the HPA was unable to compute the replica count: " + err.Error()
	if c := condition(st, api.ScalingActive); c == nil || c.Status != api.ConditionFalse || c.Message != msg {
		r.Recorder.Eventf(h, api.EventTypeWarning, reason, "%v", err)
	}
	api.SetHPACondition(st, api.ScalingActive, api.ConditionFalse, reason, msg, now)
}

// warnOnce records a warning event unless the same failure is already the
// AbleToScale condition (the event correlator would fold repeats anyway).
func (r *Reconciler) warnOnce(h *api.HorizontalPodAutoscaler, reason string, err error) {
	if c := condition(&h.Status, api.AbleToScale); c != nil && c.Status == api.ConditionFalse && c.Reason == reason {
		return
	}
	r.Recorder.Eventf(h, api.EventTypeWarning, reason, "%v", err)
}

func condition(st *api.HorizontalPodAutoscalerStatus, t api.HorizontalPodAutoscalerConditionType) *api.HorizontalPodAutoscalerCondition {
	for i := range st.Conditions {
		if st.Conditions[i].Type == t {
			return &st.Conditions[i]
		}
	}
	return nil
}

func setLimited(st *api.HorizontalPodAutoscalerStatus, d Decision, now time.Time) {
	switch d.Limited {
	case ReasonTooMany:
		api.SetHPACondition(st, api.ScalingLimited, api.ConditionTrue, ReasonTooMany, "the desired replica count is more than the maximum replica count", now)
	case ReasonTooFew:
		api.SetHPACondition(st, api.ScalingLimited, api.ConditionTrue, ReasonTooFew, "the desired replica count is less than the minimum replica count", now)
	default:
		api.SetHPACondition(st, api.ScalingLimited, api.ConditionFalse, ReasonWithinRange, "the desired count is within the acceptable range", now)
	}
}

// scale writes n to the target's spec.replicas, reading it afresh and
// retrying when another writer changed it meanwhile.
func (r *Reconciler) scale(ctx context.Context, h *api.HorizontalPodAutoscaler, n int32) error {
	ref := h.Spec.ScaleTargetRef
	var err error
	for range scaleRetries {
		switch ref.Kind {
		case api.KindDeployment:
			err = setReplicas(ctx, client.For[api.Deployment](r.Client), h.Namespace, ref.Name, n,
				func(d *api.Deployment) **int32 { return &d.Spec.Replicas })
		case api.KindReplicaSet:
			err = setReplicas(ctx, client.For[api.ReplicaSet](r.Client), h.Namespace, ref.Name, n,
				func(rs *api.ReplicaSet) **int32 { return &rs.Spec.Replicas })
		default:
			return fmt.Errorf("unsupported target kind %q", ref.Kind)
		}
		if !client.IsConflict(err) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("scale %s %s/%s to %d: %w", ref.Kind, h.Namespace, ref.Name, n, err)
	}
	return nil
}

func setReplicas[T any, P interface {
	*T
	api.Object
}](ctx context.Context, res *client.Resource[T, P], ns, name string, n int32, field func(P) **int32) error {
	obj, err := res.Get(ctx, ns, name)
	if err != nil {
		return err
	}
	*field(obj) = &n
	_, err = res.Update(ctx, obj)
	return err
}

func replicas(n *int32) int32 {
	if n == nil {
		return 1
	}
	return *n
}
