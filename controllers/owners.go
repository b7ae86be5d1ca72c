package controllers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// ControllerRef returns the owner reference of obj that has Controller set,
// or nil.
func ControllerRef(obj api.Object) *api.OwnerReference {
	refs := obj.GetObjectMeta().OwnerReferences
	for i := range refs {
		if refs[i].Controller != nil && *refs[i].Controller {
			return &refs[i]
		}
	}
	return nil
}

// NewControllerRef is the owner reference a controller puts on what it
// creates or adopts: Controller and BlockOwnerDeletion set.
func NewControllerRef(owner api.Object, apiVersion, kind string) api.OwnerReference {
	m := owner.GetObjectMeta()
	yes := true
	return api.OwnerReference{APIVersion: apiVersion, Kind: kind, Name: m.Name, UID: m.UID, Controller: &yes, BlockOwnerDeletion: &yes}
}

// Clone deep-copies an object (through JSON), so that a cached object can
// be changed and written back.
func Clone[T any](in *T) (*T, error) {
	b, err := json.Marshal(in)
	if err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	out := new(T)
	if err := json.Unmarshal(b, out); err != nil {
		return nil, fmt.Errorf("clone: %w", err)
	}
	return out, nil
}

// IsPodActive reports whether a pod counts toward its controller's
// replicas: not terminating and not finished.
func IsPodActive(p *api.Pod) bool {
	return p.DeletionTimestamp == nil && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed
}

// IsPodReady reports whether the pod's Ready condition is True.
func IsPodReady(p *api.Pod) bool {
	c := api.PodConditionByType(&p.Status, api.PodReady)
	return c != nil && c.Status == api.ConditionTrue
}

// Claim sorts objects of the owner's namespace for a controller owner with
// selector sel: those it controls and that match (owned), orphans that
// match and should be adopted, and those it controls that no longer match
// and must be released. A owner being deleted adopts nothing, and neither
// is an object being deleted adopted.
func Claim[T api.Object](owner api.Object, sel *api.LabelSelector, objs []T) (owned, adopt, release []T) {
	om := owner.GetObjectMeta()
	for _, o := range objs {
		m := o.GetObjectMeta()
		if m.Namespace != om.Namespace {
			continue
		}
		ref := ControllerRef(o)
		matches := sel.Matches(m.Labels)
		switch {
		case ref != nil && ref.UID == om.UID:
			if matches {
				owned = append(owned, o)
			} else {
				release = append(release, o)
			}
		case ref == nil && matches && m.DeletionTimestamp == nil && om.DeletionTimestamp == nil:
			adopt = append(adopt, o)
		}
	}
	return owned, adopt, release
}

// Adopt makes ref (a controller reference, see NewControllerRef) the
// controller of obj, re-reading it on conflict and checking that it is
// still an orphan that matches sel and is not being deleted. It returns
// the stored object, or nil when obj was gone or not adopted.
func Adopt[T any, P interface {
	*T
	api.Object
}](ctx context.Context, c *client.Client, obj P, ref api.OwnerReference, sel *api.LabelSelector) (P, error) {
	return setOwner(ctx, c, obj, func(cur P) bool {
		m := cur.GetObjectMeta()
		if ControllerRef(cur) != nil || !sel.Matches(m.Labels) || m.DeletionTimestamp != nil {
			return false
		}
		m.OwnerReferences = append(m.OwnerReferences, ref)
		return true
	})
}

// Release removes the owner with uid from obj's owner references, if it
// is still obj's controller and obj no longer matches sel, re-reading obj
// on conflict.
func Release[T any, P interface {
	*T
	api.Object
}](ctx context.Context, c *client.Client, obj P, uid string, sel *api.LabelSelector) error {
	_, err := setOwner(ctx, c, obj, func(cur P) bool {
		m := cur.GetObjectMeta()
		if ref := ControllerRef(cur); ref == nil || ref.UID != uid || sel.Matches(m.Labels) {
			return false
		}
		m.OwnerReferences = slices.DeleteFunc(m.OwnerReferences, func(r api.OwnerReference) bool { return r.UID == uid })
		return true
	})
	return err
}

// setOwner applies change to a copy of obj and stores it, retrying with a
// fresh read on conflict; change says false when nothing is to be done.
func setOwner[T any, P interface {
	*T
	api.Object
}](ctx context.Context, c *client.Client, obj P, change func(P) bool) (P, error) {
	res := client.For[T, P](c)
	cur, err := Clone((*T)(obj))
	if err != nil {
		return nil, err
	}
	m := obj.GetObjectMeta()
	for range 5 {
		if !change(P(cur)) {
			return nil, nil
		}
		stored, err := res.Update(ctx, P(cur))
		if err == nil {
			return stored, nil
		}
		if client.IsNotFound(err) {
			return nil, nil
		}
		if !client.IsConflict(err) {
			return nil, fmt.Errorf("set owner of %s %s/%s: %w", res.Kind().Kind, m.Namespace, m.Name, err)
		}
		fresh, err := res.Get(ctx, m.Namespace, m.Name)
		if err != nil {
			return nil, client.IgnoreNotFound(err)
		}
		cur = (*T)(fresh)
	}
	return nil, fmt.Errorf("set owner of %s %s/%s: still conflicting after 5 tries", res.Kind().Kind, m.Namespace, m.Name)
}

// ClaimAll claims objs for a controller owner with selector sel and
// controller reference ref (see Claim): it adopts the matching orphans,
// releases the objects that stopped matching, and returns those the owner
// controls now. Errors of single adoptions or releases are joined; the
// rest still happen.
func ClaimAll[T any, P interface {
	*T
	api.Object
}](ctx context.Context, c *client.Client, owner api.Object, ref api.OwnerReference, sel *api.LabelSelector, objs []P) ([]P, error) {
	owned, adopt, release := Claim(owner, sel, objs)
	var errs []error
	for _, o := range adopt {
		got, err := Adopt(ctx, c, o, ref, sel)
		if err != nil {
			errs = append(errs, err)
		} else if got != nil {
			owned = append(owned, got)
		}
	}
	uid := owner.GetObjectMeta().UID
	for _, o := range release {
		errs = append(errs, Release(ctx, c, o, uid, sel))
	}
	return owned, errors.Join(errs...)
}
