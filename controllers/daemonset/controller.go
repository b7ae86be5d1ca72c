package daemonset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// Workers is how many daemon sets the controller reconciles at once.
const Workers = 2

// statusRetry is how soon a status write that met a newer daemon set is
// tried again.
const statusRetry = 100 * time.Millisecond

// Reconciler reconciles one daemon set at a time: the daemon set and the
// nodes from the shared caches, its pods from the API server (a consistent
// read, so that a pod just created is never created twice).
type Reconciler struct {
	Client     *client.Client
	DaemonSets *client.Cache
	Nodes      *client.Cache
	Recorder   *controllers.Recorder
	Log        *slog.Logger
	// Now tells the time (minReadySeconds); nil is the wall clock.
	Now func() time.Time
}

// Setup registers the DaemonSet controller on m: a daemon set's change, a
// node's arrival, change or departure, and a change of a pod it owns wake
// it.
func Setup(m *controllers.Manager) error {
	dss := controllers.CacheFor[api.DaemonSet](m)
	nodes := controllers.CacheFor[api.Node](m)
	pods := controllers.CacheFor[api.Pod](m)
	r := &Reconciler{Client: m.Client, DaemonSets: dss, Nodes: nodes, Recorder: m.Recorder("daemonset-controller"),
		Log: m.Log.With("controller", "daemonset")}
	c := controllers.NewController("daemonset", r, Workers, m.Log)
	dss.AddHandler(controllers.EnqueueHandler(c))
	all := func(api.Object) {
		for _, o := range dss.List() {
			c.Enqueue(o)
		}
	}
	nodes.AddHandler(client.Handler{OnAdd: all, OnUpdate: func(_, o api.Object) { all(o) }, OnDelete: all})
	pods.AddHandler(controllers.OwnerHandler(c, dss, api.KindDaemonSet, nil))
	m.Add(c)
	return nil
}

// Reconcile brings the daemon set with key ("namespace/name") one step
// closer to its spec.
func (r *Reconciler) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	obj, ok := r.DaemonSets.Get(key)
	if !ok {
		return controllers.Result{}, nil
	}
	ds, err := clone(obj.(*api.DaemonSet))
	if err != nil || ds.DeletionTimestamp != nil {
		return controllers.Result{}, err
	}
	var nodes []*api.Node
	for _, o := range r.Nodes.List() {
		nodes = append(nodes, o.(*api.Node))
	}
	podsAPI := client.For[api.Pod](r.Client)
	all, _, err := podsAPI.List(ctx, ds.Namespace, client.ListOptions{})
	if err != nil {
		return controllers.Result{}, fmt.Errorf("list pods of daemon set %s: %w", key, err)
	}
	var pods []*api.Pod
	for _, p := range all {
		for _, ref := range p.OwnerReferences {
			if ref.UID == ds.UID && ref.Controller != nil && *ref.Controller {
				pods = append(pods, p)
			}
		}
	}
	now := time.Now
	if r.Now != nil {
		now = r.Now
	}
	p := plan(ds, nodes, pods, now())
	var errs []error
	for _, pod := range p.Delete {
		if err := client.IgnoreNotFound(podsAPI.Delete(ctx, pod.Namespace, pod.Name, client.DeleteOptions{})); err != nil {
			errs = append(errs, fmt.Errorf("delete pod %s: %w", pod.Name, err))
			continue
		}
		r.Recorder.Eventf(ds, api.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s (node %s)", pod.Name, NodeOf(pod))
	}
	hash := api.DaemonSetTemplateHash(&ds.Spec.Template)
	for _, node := range p.Create {
		pod, err := podsAPI.Create(ctx, newPod(ds, node, hash))
		if err != nil {
			r.Recorder.Eventf(ds, api.EventTypeWarning, "FailedCreate", "Error creating pod for node %s: %v", node, err)
			errs = append(errs, fmt.Errorf("create pod for node %s: %w", node, err))
			continue
		}
		r.Recorder.Eventf(ds, api.EventTypeNormal, "SuccessfulCreate", "Created pod: %s (node %s)", pod.Name, node)
	}
	var res controllers.Result
	if !reflect.DeepEqual(ds.Status, p.Status) {
		ds.Status = p.Status
		_, err := client.For[api.DaemonSet](r.Client).UpdateStatus(ctx, ds)
		switch {
		case client.IsConflict(err):
			// The cache was behind; the newer daemon set wakes us again.
			res.RequeueAfter = statusRetry
		case err != nil && !client.IsNotFound(err):
			errs = append(errs, fmt.Errorf("update status: %w", err))
		}
	}
	if len(errs) > 0 {
		return controllers.Result{}, fmt.Errorf("daemon set %s: %w", key, errors.Join(errs...))
	}
	if d := p.RequeueAfter; d > 0 && (res.RequeueAfter == 0 || d < res.RequeueAfter) {
		res.RequeueAfter = d
	}
	return res, nil
}

// newPod is the daemon set's pod for node: its template, labelled with
// the template hash, tolerating DefaultTolerations and pinned to the node
// by a required node affinity on metadata.name (the scheduler binds it).
func newPod(ds *api.DaemonSet, node, hash string) *api.Pod {
	t := true
	var tmpl api.PodTemplateSpec // a deep copy: the pod shares nothing with the cached daemon set
	b, _ := json.Marshal(ds.Spec.Template)
	_ = json.Unmarshal(b, &tmpl)
	labels := map[string]string{api.LabelControllerRevHash: hash}
	for k, v := range tmpl.Labels {
		labels[k] = v
	}
	spec := tmpl.Spec
	for _, dt := range DefaultTolerations {
		found := false
		for _, have := range spec.Tolerations {
			found = found || (have.Key == dt.Key && have.Effect == dt.Effect && have.Operator == dt.Operator && have.TolerationSeconds == nil)
		}
		if !found {
			spec.Tolerations = append(spec.Tolerations, dt)
		}
	}
	pin := api.NodeSelectorRequirement{Key: "metadata.name", Operator: api.NodeSelectorOpIn, Values: []string{node}}
	if spec.Affinity == nil {
		spec.Affinity = &api.Affinity{}
	}
	if spec.Affinity.NodeAffinity == nil {
		spec.Affinity.NodeAffinity = &api.NodeAffinity{}
	}
	na := spec.Affinity.NodeAffinity
	if na.Required == nil || len(na.Required.NodeSelectorTerms) == 0 {
		na.Required = &api.NodeSelector{NodeSelectorTerms: []api.NodeSelectorTerm{{MatchFields: []api.NodeSelectorRequirement{pin}}}}
	} else {
		for i := range na.Required.NodeSelectorTerms {
			term := &na.Required.NodeSelectorTerms[i]
			term.MatchFields = append(term.MatchFields, pin)
		}
	}
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{
			GenerateName: ds.Name + "-", Namespace: ds.Namespace, Labels: labels, Annotations: tmpl.Annotations,
			OwnerReferences: []api.OwnerReference{{APIVersion: api.APIVersionDaemonSet, Kind: api.KindDaemonSet, Name: ds.Name,
				UID: ds.UID, Controller: &t, BlockOwnerDeletion: &t}},
		},
		Spec: spec,
	}
}

func clone(d *api.DaemonSet) (*api.DaemonSet, error) {
	b, err := json.Marshal(d)
	if err != nil {
		return nil, fmt.Errorf("copy daemon set: %w", err)
	}
	out := &api.DaemonSet{}
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("copy daemon set: %w", err)
	}
	return out, nil
}
