package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// Workers is the number of objects the collector works on at once.
const Workers = 4

// Collector is the garbage collector. Its queue holds object uids.
type Collector struct {
	Graph  *Graph
	client *client.Client
	scheme *api.Scheme
	ctrl   *controllers.Controller
	log    *slog.Logger
}

// Tracked reports whether the collector watches a kind. It watches all
// but Events: nothing owns an Event nor is owned by one, and Events are
// the most written kind, so caching them would cost memory and work for
// nothing. An owner reference to an untracked kind keeps its dependent
// (see confirmAbsent). Leases are tracked: Kubernetes makes a node's Lease
// a dependent of its Node.
func Tracked(k *api.KindInfo) bool { return k.Kind != api.KindEvent }

// Setup registers the garbage collector on m: it watches every kind of the
// API's scheme that it Tracked, namespaced and cluster-scoped, through
// m's shared caches.
func Setup(m *controllers.Manager) error {
	_, err := New(m)
	return err
}

// New is Setup returning the collector (tests look at its graph).
func New(m *controllers.Manager) (*Collector, error) {
	scheme := m.Client.Scheme()
	if scheme == nil {
		return nil, errors.New("gc: the manager's client has no scheme")
	}
	c := &Collector{Graph: NewGraph(), client: m.Client, scheme: scheme, log: m.Log.With("controller", "gc")}
	c.ctrl = controllers.NewController("gc", c, Workers, m.Log)
	for _, k := range scheme.Kinds() {
		if !Tracked(k) {
			continue
		}
		m.Cache(k).AddHandler(client.Handler{
			OnAdd:    func(obj api.Object) { c.enqueue(c.Graph.Set(c.nodeOf(k, obj))) },
			OnUpdate: func(_, obj api.Object) { c.enqueue(c.Graph.Set(c.nodeOf(k, obj))) },
			OnDelete: func(obj api.Object) { c.enqueue(c.Graph.Remove(obj.GetObjectMeta().UID)) },
		})
	}
	m.Add(c.ctrl)
	return c, nil
}

// nodeOf is NodeOf with the type filled from the kind (watch events may
// carry objects without apiVersion and kind).
func (c *Collector) nodeOf(k *api.KindInfo, obj api.Object) Node {
	n := NodeOf(obj)
	n.APIVersion, n.Kind = k.APIVersion(), k.Kind
	return n
}

func (c *Collector) enqueue(uids []string) {
	for _, u := range uids {
		c.ctrl.Queue.Add(u)
	}
}

// Reconcile carries out the plan of the object whose uid is key.
func (c *Collector) Reconcile(ctx context.Context, uid string) (controllers.Result, error) {
	n, ok := c.Graph.Get(uid)
	if !ok {
		return controllers.Result{}, nil
	}
	p := c.Graph.Plan(uid)
	if p.Empty() {
		return controllers.Result{}, nil
	}
	if len(p.Absent) > 0 && (p.Delete || len(p.RemoveOwners) > 0) {
		v, err := c.confirmAbsent(ctx, n, p.Absent)
		switch {
		case err != nil:
			return controllers.Result{}, err
		case v == ownerUnknown:
			return controllers.Result{}, nil // looked at again when the graph changes
		case v == ownerPresent:
			// An owner the caches have not seen yet exists: look again soon.
			return controllers.Result{RequeueAfter: time.Second}, nil
		}
	}
	var errs []error
	if p.Delete {
		c.log.Info("deleting object whose owners are gone", "kind", n.Kind, "namespace", n.Namespace, "name", n.Name, "propagation", p.Propagation)
		errs = append(errs, c.delete(ctx, n.Ref, p.Propagation))
	} else if len(p.RemoveOwners) > 0 {
		errs = append(errs, c.mutate(ctx, n.Ref, func(m *api.ObjectMeta) bool {
			before := len(m.OwnerReferences)
			m.OwnerReferences = slices.DeleteFunc(m.OwnerReferences, func(o api.OwnerReference) bool {
				return slices.Contains(p.RemoveOwners, o.UID)
			})
			return len(m.OwnerReferences) != before
		}))
	}
	for _, d := range p.DeleteDependents {
		errs = append(errs, c.delete(ctx, d, api.DeletePropagationForeground))
	}
	for _, d := range p.OrphanDependents {
		errs = append(errs, c.mutate(ctx, d, func(m *api.ObjectMeta) bool {
			before := len(m.OwnerReferences)
			m.OwnerReferences = slices.DeleteFunc(m.OwnerReferences, func(o api.OwnerReference) bool { return o.UID == uid })
			return len(m.OwnerReferences) != before
		}))
	}
	if err := errors.Join(errs...); err != nil {
		return controllers.Result{}, err
	}
	if p.RemoveFinalizer == api.FinalizerOrphanDependents {
		// The graph may not have seen a dependent created just before the
		// owner's deletion (its kind's cache lagging): read the API before
		// letting the owner go, or that dependent would later look
		// ownerless and be deleted instead of orphaned.
		if err := c.orphanLive(ctx, n); err != nil {
			return controllers.Result{}, err
		}
	}
	if p.RemoveFinalizer == api.FinalizerDeleteDependents {
		// Likewise a blocking dependent the graph has not seen yet must
		// go before the owner does.
		blocked, err := c.blockedLive(ctx, n)
		if err != nil {
			return controllers.Result{}, err
		}
		if blocked {
			return controllers.Result{RequeueAfter: time.Second}, nil
		}
	}
	if p.RemoveFinalizer != "" {
		err := c.mutate(ctx, n.Ref, func(m *api.ObjectMeta) bool {
			if !slices.Contains(m.Finalizers, p.RemoveFinalizer) {
				return false
			}
			m.Finalizers = slices.DeleteFunc(m.Finalizers, func(f string) bool { return f == p.RemoveFinalizer })
			return true
		})
		if err != nil {
			return controllers.Result{}, err
		}
	}
	return controllers.Result{}, nil
}

// orphanLive removes the owner's uid from the references of every object
// that still names it (see eachLiveDependent).
func (c *Collector) orphanLive(ctx context.Context, owner Node) error {
	var errs []error
	err := c.eachLiveDependent(ctx, owner, func(d Ref, _ api.OwnerReference, _ *api.ObjectMeta) {
		errs = append(errs, c.mutate(ctx, d, func(m *api.ObjectMeta) bool {
			before := len(m.OwnerReferences)
			m.OwnerReferences = slices.DeleteFunc(m.OwnerReferences, func(r api.OwnerReference) bool { return r.UID == owner.UID })
			return len(m.OwnerReferences) != before
		}))
	})
	return errors.Join(append(errs, err)...)
}

// blockedLive reports whether a live object still blocks the owner's
// foreground deletion (names it with blockOwnerDeletion), deleting in the
// foreground those not yet being deleted: the graph may not have seen a
// dependent created just before the owner's deletion.
func (c *Collector) blockedLive(ctx context.Context, owner Node) (bool, error) {
	var errs []error
	blocked := false
	err := c.eachLiveDependent(ctx, owner, func(d Ref, ref api.OwnerReference, m *api.ObjectMeta) {
		if ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
			return // deleted once the graph sees it, without holding the owner
		}
		blocked = true
		if m.DeletionTimestamp == nil {
			errs = append(errs, c.delete(ctx, d, api.DeletePropagationForeground))
		}
	})
	return blocked, errors.Join(append(errs, err)...)
}

// eachLiveDependent calls fn for every object that names the owner's uid
// among its owner references, found by listing the tracked kinds through
// the API (not the caches): those of the owner's namespace for a
// namespaced owner, all for a cluster-scoped one.
func (c *Collector) eachLiveDependent(ctx context.Context, owner Node, fn func(d Ref, ref api.OwnerReference, m *api.ObjectMeta)) error {
	var errs []error
	for _, k := range c.scheme.Kinds() {
		if !Tracked(k) || (owner.Namespace != "" && !k.Namespaced) {
			continue
		}
		objs, _, err := c.client.List(ctx, k, owner.Namespace, client.ListOptions{})
		if err != nil {
			if client.IsForbidden(err) {
				continue // a kind the collector may not read holds no dependent it could act on
			}
			errs = append(errs, fmt.Errorf("list %s: %w", k.Resource, err))
			continue
		}
		for _, o := range objs {
			m := o.GetObjectMeta()
			i := slices.IndexFunc(m.OwnerReferences, func(r api.OwnerReference) bool { return r.UID == owner.UID })
			if i < 0 {
				continue
			}
			fn(c.nodeOf(k, o).Ref, m.OwnerReferences[i], m)
		}
	}
	return errors.Join(errs...)
}

// verdict is what a live read says of owners the graph does not know.
type verdict int

const (
	ownersGone   verdict = iota // not found, or found with another uid
	ownerPresent                // the caches lag behind
	ownerUnknown                // of a kind the API does not serve, or not Tracked
)

// confirmAbsent reads each owner the graph does not know from the API.
// Owners of kinds the API does not serve, or that the collector does not
// track, are unknown: it cannot tell (or follow) whether they exist, so it
// leaves their dependents alone.
func (c *Collector) confirmAbsent(ctx context.Context, n Node, owners []api.OwnerReference) (verdict, error) {
	for _, o := range owners {
		k, ok := c.scheme.ByKind(o.APIVersion, o.Kind)
		if ok && !Tracked(k) {
			return ownerUnknown, nil
		}
		if !ok {
			c.log.Warn("owner of an unknown kind; keeping the dependent", "kind", n.Kind, "namespace", n.Namespace, "name", n.Name, "ownerKind", o.Kind, "ownerAPIVersion", o.APIVersion)
			return ownerUnknown, nil
		}
		ns := ""
		if k.Namespaced {
			if n.Namespace == "" {
				continue // a cluster object cannot have a namespaced owner
			}
			ns = n.Namespace
		}
		cur := k.New()
		err := c.client.Get(ctx, k, ns, o.Name, cur)
		switch {
		case client.IsNotFound(err):
		case err != nil:
			return 0, fmt.Errorf("read owner %s %s: %w", o.Kind, o.Name, err)
		case cur.GetObjectMeta().UID == o.UID:
			return ownerPresent, nil
		}
	}
	return ownersGone, nil
}

// delete deletes the object r names, unless it is gone or another object
// took its name: the delete carries r's uid as a precondition, so the API
// server refuses it (409) for a re-created object even if that happens
// after the collector last looked.
func (c *Collector) delete(ctx context.Context, r Ref, policy api.DeletionPropagation) error {
	k, ok := c.scheme.ByKind(r.APIVersion, r.Kind)
	if !ok {
		return nil
	}
	opts := client.DeleteOptions{PropagationPolicy: policy, Preconditions: client.PreconditionUID(r.UID)}
	err := c.client.Delete(ctx, k, r.Namespace, r.Name, opts, nil)
	switch {
	case err == nil || client.IsNotFound(err):
		return nil
	case client.IsConflict(err):
		// The precondition failed: the name is another object's now.
		// Confirm, so that any other conflict is retried.
		cur := k.New()
		if gerr := c.client.Get(ctx, k, r.Namespace, r.Name, cur); client.IsNotFound(gerr) || gerr == nil && cur.GetObjectMeta().UID != r.UID {
			return nil
		}
	}
	return fmt.Errorf("delete %s %s/%s: %w", r.Kind, r.Namespace, r.Name, err)
}

// mutate applies change to the live metadata of the object r names and
// writes it back if change reports a change; a conflict is an error, so the
// key is retried against the newer state.
func (c *Collector) mutate(ctx context.Context, r Ref, change func(m *api.ObjectMeta) bool) error {
	k, ok := c.scheme.ByKind(r.APIVersion, r.Kind)
	if !ok {
		return nil
	}
	cur := k.New()
	if err := c.client.Get(ctx, k, r.Namespace, r.Name, cur); err != nil {
		return client.IgnoreNotFound(err)
	}
	m := cur.GetObjectMeta()
	if m.UID != r.UID || !change(m) {
		return nil
	}
	if err := c.client.Update(ctx, cur); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("update %s %s/%s: %w", r.Kind, r.Namespace, r.Name, err)
	}
	return nil
}
