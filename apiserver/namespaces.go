package apiserver

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// heldByNamespaceFinalizers is true for a namespace whose spec still lists
// finalizers (the namespace controller's "kubernetes" while it empties it).
func heldByNamespaceFinalizers(obj api.Object) bool {
	ns, ok := obj.(*api.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

// terminateNamespace starts the deletion of a namespace as Kubernetes does:
// the namespace is marked Terminating with a deletionTimestamp (new objects
// in it are refused from then on) and the "kubernetes" spec finalizer, and
// out is the marked namespace. The namespace controller
// (controllers/namespace) then deletes its objects through the API, pods
// gracefully through their nodes, and removes the finalizer; the update
// that leaves the namespace without finalizers removes it (purgeNamespace).
// Without a namespace controller running, a deleted namespace stays
// Terminating. Repeating it is harmless. pre (may be nil) are the
// delete's preconditions.
func (s *Server) terminateNamespace(ctx context.Context, name string, pre *api.Preconditions, out api.Object) error {
	key := "/registry/namespaces/" + name
	var cur api.Namespace
	if err := s.store.Get(ctx, key, &cur); err != nil {
		return err
	}
	nsKind, _ := s.scheme.ByKind("v1", "Namespace")
	if err := checkPreconditions(pre, nsKind, &cur.ObjectMeta); err != nil {
		return err
	}
	if err := s.store.Mark(ctx, terminatingKey(name)); err != nil {
		return err
	}
	_, err := s.store.GuaranteedUpdate(ctx, key, func() api.Object { return &api.Namespace{} }, func(cur api.Object) (api.Object, error) {
		ns := cur.(*api.Namespace)
		if pre != nil && pre.UID != nil && *pre.UID != ns.UID {
			return nil, checkPreconditions(pre, nsKind, &ns.ObjectMeta)
		}
		if ns.DeletionTimestamp != nil && ns.Status.Phase == api.NamespaceTerminating {
			return nil, nil // already terminating; the finalizer may be gone already
		}
		if ns.DeletionTimestamp == nil {
			now := api.Now()
			ns.DeletionTimestamp = &now
		}
		ns.Status.Phase = api.NamespaceTerminating
		if !slices.Contains(ns.Spec.Finalizers, api.FinalizerKubernetes) {
			ns.Spec.Finalizers = append(ns.Spec.Finalizers, api.FinalizerKubernetes)
		}
		return ns, nil
	})
	if err != nil {
		return err
	}
	return s.store.Get(ctx, key, out)
}

// purgeNamespace removes a terminating namespace whose finalizers are all
// gone, with its terminating mark. The namespace controller emptied it
// before removing its finalizer; what an administrator left by removing
// the finalizer by hand is deleted from storage here, each object with a
// revision of its own so watchers see it go.
func (s *Server) purgeNamespace(ctx context.Context, name string, out api.Object) error {
	for _, k := range s.scheme.Kinds() {
		if !k.Namespaced {
			continue
		}
		items, _, err := s.store.List(ctx, storePrefix(k, name), k.New, nil)
		if err != nil {
			return err
		}
		for _, o := range items {
			err := s.store.Delete(ctx, storeKey(k, name, o.GetObjectMeta().Name), 0, k.New())
			if err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("delete %s %s/%s: %w", k.Resource, name, o.GetObjectMeta().Name, err)
			}
		}
	}
	return s.store.Delete(ctx, "/registry/namespaces/"+name, 0, out, terminatingPrefix(name))
}
