package nodelifecycle

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

// Workers is how many nodes the controller handles at once.
const Workers = 2

// requeueSlack is added to deadlines so that the next look is after them.
const requeueSlack = 100 * time.Millisecond

// Reconciler handles one node at a time: it reads the node from the API
// server, its lease and pods from the shared caches (the pods through
// the cache's node index, see controllers.PodCache), and carries out plan.
type Reconciler struct {
	Client   *client.Client
	Leases   *client.Cache
	Pods     *client.Cache
	Recorder *controllers.Recorder
	Options  Options
	Log      *slog.Logger
}

// Setup registers the node lifecycle controller on m. Zero options take
// the defaults (DefaultGracePeriod, DefaultEvictionTimeout, RealClock).
func Setup(m *controllers.Manager, opts Options) error {
	opts = opts.withDefaults()
	nodes := controllers.CacheFor[api.Node](m)
	leases := controllers.CacheFor[api.Lease](m)
	pods := controllers.PodCache(m)
	r := &Reconciler{Client: m.Client, Leases: leases, Pods: pods, Recorder: m.Recorder("node-lifecycle-controller"),
		Options: opts, Log: m.Log.With("controller", "node-lifecycle")}
	c := controllers.NewController("node-lifecycle", r, Workers, m.Log)
	nodes.AddHandler(client.Handler{
		OnAdd:    c.Enqueue,
		OnUpdate: func(_, o api.Object) { c.Enqueue(o) },
	})
	onLease := func(o api.Object) {
		if meta := o.GetObjectMeta(); meta.Namespace == api.NamespaceNodeLease {
			c.Queue.Add(meta.Name)
		}
	}
	leases.AddHandler(client.Handler{OnAdd: onLease, OnUpdate: func(_, o api.Object) { onLease(o) }, OnDelete: onLease})
	onPod := func(o api.Object) {
		if p, ok := o.(*api.Pod); ok && p.Spec.NodeName != "" {
			c.Queue.Add(p.Spec.NodeName)
		}
	}
	pods.AddHandler(client.Handler{OnAdd: onPod, OnUpdate: func(_, o api.Object) { onPod(o) }})
	m.Add(c)
	return nil
}

// Reconcile handles the node named key.
func (r *Reconciler) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	o := r.Options.withDefaults()
	nodes := client.For[api.Node](r.Client)
	n, err := nodes.Get(ctx, "", key)
	if client.IsNotFound(err) {
		return controllers.Result{}, nil
	}
	if err != nil {
		return controllers.Result{}, fmt.Errorf("get node %s: %w", key, err)
	}
	var lease *api.Lease
	if obj, ok := r.Leases.Get(api.NamespaceNodeLease + "/" + key); ok {
		lease = obj.(*api.Lease)
	}
	pods := controllers.PodsOnNode(r.Pods, key)
	now := o.Clock.Now()
	p := plan(n, lease, pods, now, o)

	if p.Conditions != nil {
		n.Status.Conditions = p.Conditions
		if n, err = nodes.UpdateStatus(ctx, n); err != nil {
			return controllers.Result{}, fmt.Errorf("mark node %s unknown: %w", key, err)
		}
		r.Log.Info("node stopped renewing its lease", "node", key, "grace", o.GracePeriod)
		r.Recorder.Event(n, api.EventTypeWarning, ReasonNodeStatusUnknown, "Node "+key+" status is now Unknown: "+MessageStatusUnknown)
	}
	if p.TaintsChanged {
		before := taintKeys(n.Spec.Taints)
		n.Spec.Taints = p.Taints
		if _, err := nodes.Update(ctx, n); err != nil {
			return controllers.Result{}, fmt.Errorf("update taints of node %s: %w", key, err)
		}
		after := taintKeys(p.Taints)
		for _, k := range []string{TaintUnreachable, TaintNotReady} {
			switch {
			case after[k] && !before[k]:
				r.Recorder.Eventf(n, api.EventTypeWarning, "TaintAdded", "Added taint %s:NoExecute", k)
			case before[k] && !after[k]:
				r.Recorder.Eventf(n, api.EventTypeNormal, "TaintRemoved", "Removed taint %s:NoExecute", k)
			}
		}
	}
	var errs []error
	force := taintKeys(p.Taints)[TaintUnreachable] || (!p.TaintsChanged && taintKeys(n.Spec.Taints)[TaintUnreachable])
	for _, pod := range p.Evict {
		opts := client.DeleteOptions{}
		if force {
			// No agent answers for the node: nothing would confirm a
			// graceful deletion. The agent removes the containers of pods
			// that are gone when it comes back.
			zero := int64(0)
			opts.GracePeriodSeconds = &zero
		}
		err := client.IgnoreNotFound(client.For[api.Pod](r.Client).Delete(ctx, pod.Namespace, pod.Name, opts))
		if err != nil {
			errs = append(errs, fmt.Errorf("evict pod %s/%s: %w", pod.Namespace, pod.Name, err))
			continue
		}
		r.Log.Info("evicted pod from tainted node", "node", key, "pod", pod.Namespace+"/"+pod.Name)
		r.Recorder.Eventf(pod, api.EventTypeNormal, ReasonEviction, "Marking for deletion Pod %s/%s (node %s is tainted NoExecute)", pod.Namespace, pod.Name, key)
	}
	if len(errs) > 0 {
		return controllers.Result{}, errors.Join(errs...)
	}
	res := controllers.Result{}
	if p.RequeueAfter > 0 {
		res.RequeueAfter = p.RequeueAfter + requeueSlack
	}
	return res, nil
}

func taintKeys(ts []api.Taint) map[string]bool {
	m := map[string]bool{}
	for _, t := range ts {
		if t.Effect == api.TaintEffectNoExecute {
			m[t.Key] = true
		}
	}
	return m
}
