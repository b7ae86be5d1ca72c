package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// machineLabels are the Node labels the API server takes from a node's
// Machine, which a machine-bound node credential may not change: where the
// node runs and what made it.
var machineLabels = []string{api.LabelHypervisor, api.LabelNodePool, api.LabelProvider}

// getMachine reads the Machine a join token or node credential is bound
// to; a missing or deleted Machine is a 403, since the binding is what
// grants the right.
func (s *Server) getMachine(ctx context.Context, name string) (*api.Machine, error) {
	k, ok := s.scheme.ByKind(api.APIVersionIaaS, api.KindMachine)
	if !ok {
		return nil, errors.New("the Machine kind is not registered")
	}
	m := k.New().(*api.Machine)
	err := s.store.Get(ctx, storeKey(k, "", name), m)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, errForbidden("this credential is bound to machine %q, which does not exist", name)
	case err != nil:
		return nil, fmt.Errorf("read machine %s: %w", name, err)
	case m.DeletionTimestamp != nil:
		return nil, errForbidden("this credential is bound to machine %q, which is being deleted", name)
	}
	return m, nil
}

// applyMachine sets on n what its Machine says: the provider ID, the
// hypervisor, pool and provider labels, and the machine's node labels and
// taints. It reports whether n changed.
func applyMachine(n *api.Node, m *api.Machine) bool {
	changed := false
	if n.Labels == nil {
		n.Labels = map[string]string{}
	}
	set := func(k, v string) {
		old, had := n.Labels[k]
		switch {
		case v == "" && had:
			delete(n.Labels, k)
			changed = true
		case v != "" && old != v:
			n.Labels[k] = v
			changed = true
		}
	}
	for k, v := range m.Spec.Labels {
		set(k, v)
	}
	set(api.LabelHypervisor, m.Status.Host)
	set(api.LabelNodePool, m.Spec.Pool)
	set(api.LabelProvider, m.Spec.Provider)
	if n.Spec.ProviderID != m.Status.ProviderID {
		n.Spec.ProviderID, changed = m.Status.ProviderID, true
	}
	for _, t := range m.Spec.Taints {
		if !slices.ContainsFunc(n.Spec.Taints, func(o api.Taint) bool { return o.Key == t.Key && o.Effect == t.Effect }) {
			n.Spec.Taints = append(n.Spec.Taints, t)
			changed = true
		}
	}
	return changed
}

// bindMachineNode is the machine half of a join: the Machine must exist
// and have been provisioned (its provider ID known), and the Node, created
// now or taken over, gets the fields the Machine dictates.
func (s *Server) bindMachineNode(ctx context.Context, machine, nodeName string) error {
	m, err := s.getMachine(ctx, machine)
	if err != nil {
		return err
	}
	if nodeName != m.Name {
		return errForbidden("this join token may only join as node %q", m.Name)
	}
	if m.Status.ProviderID == "" {
		return newStatus(http.StatusConflict, api.StatusReasonConflict,
			fmt.Sprintf("machine %q has no provider ID yet: retry once its provider reports it", m.Name))
	}
	nk, ok := s.scheme.ByKind("v1", api.KindNode)
	if !ok {
		return errors.New("the Node kind is not registered")
	}
	key := storeKey(nk, "", nodeName)
	for attempt := 0; attempt < 5; attempt++ {
		n := nk.New().(*api.Node)
		err := s.store.Get(ctx, key, n)
		if errors.Is(err, store.ErrNotFound) {
			n = nk.New().(*api.Node)
			n.Name = nodeName
			applyMachine(n, m)
			s.prepareCreate(nk, n)
			if err := validate(nk, n); err != nil {
				return err
			}
			err = s.store.Create(ctx, key, n)
			if errors.Is(err, store.ErrAlreadyExists) {
				continue
			}
			return err
		}
		if err != nil {
			return err
		}
		if !applyMachine(n, m) {
			return nil
		}
		if err := validate(nk, n); err != nil {
			return err
		}
		rev, _ := api.ParseResourceVersion(n.ResourceVersion)
		err = s.store.Update(ctx, key, n, rev)
		if errors.Is(err, store.ErrConflict) {
			continue
		}
		return err
	}
	return fmt.Errorf("node %s: %w", nodeName, store.ErrConflict)
}

// admitMachineNodeCreate overrides, on a Node a machine-bound node creates,
// whatever the agent claims (its --hypervisor flag) with the Machine's
// fields.
func (s *Server) admitMachineNodeCreate(ctx context.Context, id *Identity, obj api.Object) error {
	n, ok := obj.(*api.Node)
	if !ok || id.Role != RoleNode || id.Machine == "" {
		return nil
	}
	m, err := s.getMachine(ctx, id.Machine)
	if err != nil {
		return err
	}
	applyMachine(n, m)
	return nil
}

// admitMachineNodeUpdate keeps a machine-bound node from changing its
// provider ID or the labels taken from its Machine: a value left out is
// kept, a different one is refused with the field's path.
func admitMachineNodeUpdate(k *api.KindInfo, id *Identity, next, cur api.Object) error {
	n, ok := next.(*api.Node)
	if !ok || id.Role != RoleNode || id.Machine == "" {
		return nil
	}
	c := cur.(*api.Node)
	var errs api.ErrorList
	for _, key := range machineLabels {
		want, had := c.Labels[key]
		got, sent := n.Labels[key]
		switch {
		case !sent && had:
			if n.Labels == nil {
				n.Labels = map[string]string{}
			}
			n.Labels[key] = want
		case sent && got != want:
			errs = append(errs, &api.FieldError{Type: api.ErrorTypeForbidden, Field: "metadata.labels[" + key + "]", Value: got,
				Detail: fmt.Sprintf("set from machine %q; a node may not change it", id.Machine)})
		}
	}
	switch {
	case n.Spec.ProviderID == "":
		n.Spec.ProviderID = c.Spec.ProviderID
	case n.Spec.ProviderID != c.Spec.ProviderID:
		errs = append(errs, &api.FieldError{Type: api.ErrorTypeForbidden, Field: "spec.providerID", Value: n.Spec.ProviderID,
			Detail: fmt.Sprintf("set from machine %q; a node may not change it", id.Machine)})
	}
	if len(errs) > 0 {
		return invalid(k, n.Name, errs)
	}
	return nil
}
