// Package namespace is the namespace controller: it empties a namespace
// being deleted (every namespaced kind of the API's scheme, pods
// gracefully, through their nodes), reports its progress in the
// namespace's status conditions, and removes the "kubernetes" spec
// finalizer once nothing is left, which lets the API server remove the
// namespace.
package namespace

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// Workers is the number of namespaces emptied at once.
const Workers = 2

// Recheck is how often a namespace whose contents remain is looked at
// again (pod deletions wake it sooner).
const Recheck = time.Second

type reconciler struct {
	c      *client.Client
	scheme *api.Scheme
	nsKind *api.KindInfo
	cache  *client.Cache
}

// Setup registers the namespace controller on m.
func Setup(m *controllers.Manager) error {
	scheme := m.Client.Scheme()
	if scheme == nil {
		return errors.New("namespace controller: the manager's client has no scheme")
	}
	nsKind := client.For[api.Namespace](m.Client).Kind()
	r := &reconciler{c: m.Client, scheme: scheme, nsKind: nsKind, cache: m.Cache(nsKind)}
	ctrl := controllers.NewController("namespace", r, Workers, m.Log)
	enqueue := func(obj api.Object) {
		if obj.GetObjectMeta().DeletionTimestamp != nil {
			ctrl.Enqueue(obj)
		}
	}
	r.cache.AddHandler(client.Handler{OnAdd: enqueue, OnUpdate: func(_, obj api.Object) { enqueue(obj) }})
	// A pod going may be the last thing a terminating namespace waits for.
	controllers.CacheFor[api.Pod](m).AddHandler(client.Handler{OnDelete: func(obj api.Object) {
		ns := obj.GetObjectMeta().Namespace
		if cur, ok := r.cache.Get(ns); ok && cur.GetObjectMeta().DeletionTimestamp != nil {
			ctrl.Queue.Add(ns)
		}
	}})
	m.Add(ctrl)
	return nil
}

// Reconcile empties one terminating namespace.
func (r *reconciler) Reconcile(ctx context.Context, name string) (controllers.Result, error) {
	obj, ok := r.cache.Get(name)
	if !ok {
		return controllers.Result{}, nil
	}
	ns := obj.(*api.Namespace)
	if ns.DeletionTimestamp == nil || !slices.Contains(ns.Spec.Finalizers, api.FinalizerKubernetes) {
		return controllers.Result{}, nil
	}
	left, delErr := r.deleteContents(ctx, name)
	if err := r.report(ctx, name, left, delErr); err != nil {
		return controllers.Result{}, err
	}
	if delErr != nil {
		return controllers.Result{}, delErr
	}
	if left.total() > 0 {
		return controllers.Result{RequeueAfter: Recheck}, nil
	}
	return controllers.Result{}, r.finalize(ctx, name)
}

// remaining counts what is left in a namespace, per resource.
type remaining struct {
	objects    map[string]int // resource -> objects left
	finalizers map[string]int // finalizer -> objects it holds
}

func (l remaining) total() int {
	n := 0
	for _, c := range l.objects {
		n += c
	}
	return n
}

// deleteContents deletes every object of every namespaced kind in ns not
// already being deleted, and counts what is still there.
func (r *reconciler) deleteContents(ctx context.Context, ns string) (remaining, error) {
	left := remaining{objects: map[string]int{}, finalizers: map[string]int{}}
	var errs []error
	for _, k := range r.scheme.Kinds() {
		if !k.Namespaced {
			continue
		}
		items, _, err := r.c.List(ctx, k, ns, client.ListOptions{})
		if err != nil {
			errs = append(errs, fmt.Errorf("list %s: %w", k.Resource, err))
			continue
		}
		for _, o := range items {
			m := o.GetObjectMeta()
			left.objects[k.Resource]++
			for _, f := range m.Finalizers {
				left.finalizers[f]++
			}
			if m.DeletionTimestamp != nil {
				continue
			}
			err := r.c.Delete(ctx, k, ns, m.Name, client.DeleteOptions{}, nil)
			if err != nil && !client.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete %s %s: %w", k.Resource, m.Name, err))
			}
		}
	}
	return left, errors.Join(errs...)
}

// report writes the namespace's deletion conditions when they change.
func (r *reconciler) report(ctx context.Context, name string, left remaining, delErr error) error {
	ns := &api.Namespace{}
	if err := r.c.Get(ctx, r.nsKind, "", name, ns); err != nil {
		return client.IgnoreNotFound(err)
	}
	now := api.Now()
	changed := false
	set := func(t api.NamespaceConditionType, on bool, reason, msg string) {
		st := api.ConditionFalse
		if on {
			st = api.ConditionTrue
		}
		c := api.NamespaceCondition{Type: t, Status: st, Reason: reason, Message: msg, LastTransitionTime: now}
		i := slices.IndexFunc(ns.Status.Conditions, func(c api.NamespaceCondition) bool { return c.Type == t })
		if i < 0 {
			ns.Status.Conditions = append(ns.Status.Conditions, c)
			changed = true
			return
		}
		old := ns.Status.Conditions[i]
		if old.Status == c.Status && old.Reason == c.Reason && old.Message == c.Message {
			return
		}
		if old.Status == c.Status {
			c.LastTransitionTime = old.LastTransitionTime
		}
		ns.Status.Conditions[i] = c
		changed = true
	}
	if n := left.total(); n > 0 {
		set(api.NamespaceContentRemaining, true, "SomeResourcesRemain", "Some resources are remaining: "+counts(left.objects, "resource instances"))
	} else {
		set(api.NamespaceContentRemaining, false, "ContentRemoved", "All content successfully removed")
	}
	if len(left.finalizers) > 0 {
		set(api.NamespaceFinalizersRemaining, true, "SomeFinalizersRemain", "Some content in the namespace has finalizers remaining: "+counts(left.finalizers, "resource instances"))
	} else {
		set(api.NamespaceFinalizersRemaining, false, "ContentHasNoFinalizers", "All content-preserving finalizers finished")
	}
	if delErr != nil {
		set(api.NamespaceDeletionContentFailure, true, "ContentDeletionFailed", "Failed to delete all resource types: "+delErr.Error())
	} else {
		set(api.NamespaceDeletionContentFailure, false, "ContentDeleted", "All content successfully deleted, may be waiting on finalization")
	}
	if !changed {
		return nil
	}
	if err := r.c.UpdateStatus(ctx, ns); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("update status of namespace %s: %w", name, err)
	}
	return nil
}

// counts renders {"pods": 2} as "pods has 2 resource instances".
func counts(m map[string]int, unit string) string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = fmt.Sprintf("%s has %d %s", n, m[n], unit)
	}
	return strings.Join(parts, ", ")
}

// finalize removes the "kubernetes" spec finalizer through the finalize
// subresource; the API server removes the namespace when no other
// finalizer holds it.
func (r *reconciler) finalize(ctx context.Context, name string) error {
	ns := &api.Namespace{}
	if err := r.c.Get(ctx, r.nsKind, "", name, ns); err != nil {
		return client.IgnoreNotFound(err)
	}
	if !slices.Contains(ns.Spec.Finalizers, api.FinalizerKubernetes) {
		return nil
	}
	ns.Spec.Finalizers = slices.DeleteFunc(ns.Spec.Finalizers, func(f string) bool { return f == api.FinalizerKubernetes })
	if err := r.c.FinalizeNamespace(ctx, ns); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("remove the %s finalizer of namespace %s: %w", api.FinalizerKubernetes, name, err)
	}
	return nil
}
