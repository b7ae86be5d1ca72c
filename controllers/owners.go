package controllers

import (
	"encoding/json"
	"fmt"

	"github.com/cloudmgr/cloud/api"
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
