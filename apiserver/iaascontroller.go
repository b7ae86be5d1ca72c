package apiserver

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"maps"
	"slices"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// IaaSControllerUser is the user name of the IaaS controllers' token.
const IaaSControllerUser = "system:iaas-controller"

// RoleIaaSController is the control plane's IaaS controllers (hypervisor
// inventory, node pools, machines, tenant VMs): see
// authorizeIaaSController. Besides the REST rules, it may mint join
// tokens bound to a Machine (POST /api/v1/jointokens with machine set).
const RoleIaaSController Role = "system:iaas-controller"

// authorizeIaaSController applies the IaaS controllers' rules. They may
// get, list and watch every kind but Secrets; create, update and delete
// Machines and their status; update the status of NodePools, Hypervisors
// and VirtualMachines, the finalizers of a VirtualMachine or NodePool and
// a NodePool's spec.replicas (the node autoscaler; nothing else of them,
// see admitIaaSControllerUpdate); create and delete ScaleDecisions (the
// node autoscaler's records, never changed); update Nodes (cordon) and their
// HypervisorReachable condition (see mergeNodeCondition), delete the
// Node of one of their Machines (same name); evict pods (drain); and
// create and update events. Anything else is forbidden: they create no
// workloads, bind no pods, and touch no tokens, tenants or secrets.
func (s *Server) authorizeIaaSController(ctx context.Context, id *Identity, q *request) error {
	read := q.verb == "get" || q.verb == "list" || q.verb == "watch"
	switch q.kind.Kind {
	case api.KindSecret:
		// The IaaS layer needs no secret; its join tokens are minted for it.
	case api.KindMachine:
		if q.sub == "" || q.sub == "status" {
			return nil
		}
	case api.KindScaleDecision:
		if read && q.sub == "" || q.verb == "create" || q.verb == "delete" && q.sub == "" {
			return nil
		}
	case api.KindHypervisor:
		if read || q.sub == "status" && q.verb == "update" {
			return nil
		}
	case api.KindNodePool, api.KindVirtualMachine:
		if read || q.verb == "update" && (q.sub == "status" || q.sub == "") {
			return nil
		}
	case api.KindNode:
		switch {
		case read && q.sub == "", q.verb == "update" && q.sub == "", q.verb == "update" && q.sub == "status":
			return nil
		case q.verb == "delete" && q.sub == "":
			return s.machineExists(ctx, id, q)
		}
	case api.KindPod:
		if read && q.sub == "" || q.verb == "create" && q.sub == "eviction" {
			return nil
		}
	case api.KindEvent:
		if read || q.verb == "create" || q.verb == "update" {
			return nil
		}
	default:
		if read && q.sub == "" {
			return nil
		}
	}
	return forbiddenSub(id, q)
}

// machineExists allows deleting a Node only while a Machine of that name
// exists: the IaaS controllers remove the nodes of their own machines, no
// others.
func (s *Server) machineExists(ctx context.Context, id *Identity, q *request) error {
	k, ok := s.scheme.ByKind(api.APIVersionIaaS, api.KindMachine)
	if !ok {
		return errors.New("the Machine kind is not registered")
	}
	err := s.store.Get(ctx, storeKey(k, "", q.name), k.New())
	switch {
	case errors.Is(err, store.ErrNotFound):
		return errForbidden("nodes %q is forbidden: User %q may only delete the nodes of its machines, and no machine %q exists",
			q.name, id.Name, q.name)
	case err != nil:
		return err
	}
	return nil
}

// admitIaaSControllerUpdate lets the IaaS controllers change only the
// finalizers of a NodePool or VirtualMachine (their cleanup finalizers), a
// VM's restart request (which they clear once done) and a NodePool's
// spec.replicas (the node autoscaler resizes pools; the pool controller clamps
// it to minSize..maxSize): the rest of the spec and of the metadata
// belong to the operator or the tenant.
func admitIaaSControllerUpdate(k *api.KindInfo, id *Identity, next, cur api.Object) error {
	if id.Role != RoleIaaSController || (k.Kind != api.KindVirtualMachine && k.Kind != api.KindNodePool) {
		return nil
	}
	strip := func(o api.Object) ([]byte, error) {
		m := o.GetObjectMeta()
		saved := *m
		defer func() { *m = saved }()
		m.Finalizers, m.ResourceVersion = nil, ""
		if p, ok := o.(*api.NodePool); ok {
			saved := p.Spec.Replicas
			defer func() { p.Spec.Replicas = saved }()
			p.Spec.Replicas = nil
		}
		if _, ok := m.Annotations[api.AnnotationVMRestart]; ok && k.Kind == api.KindVirtualMachine {
			m.Annotations = maps.Clone(m.Annotations)
			delete(m.Annotations, api.AnnotationVMRestart)
			if len(m.Annotations) == 0 {
				m.Annotations = nil
			}
		}
		return json.Marshal(o)
	}
	nb, err1 := strip(next)
	cb, err2 := strip(cur)
	if err := errors.Join(err1, err2); err != nil {
		return err
	}
	if !bytes.Equal(nb, cb) {
		return errForbidden("%s %q is forbidden: User %q may only change metadata.finalizers (and a VM's %s annotation, a pool's spec.replicas) and the status",
			k.Resource, next.GetObjectMeta().Name, id.Name, api.AnnotationVMRestart)
	}
	return nil
}

// IaaSControllerToken mints a token of the IaaS controllers' role for the
// control plane's in-process IaaS controllers, revoking the one the
// previous call minted (see ControllerToken).
func (s *Server) IaaSControllerToken(ctx context.Context) (string, error) {
	return s.replaceToken(ctx, "iaas-controller", TokenSpec{Role: RoleIaaSController, User: IaaSControllerUser})
}

// mergeNodeCondition sets the condition typ of next from in's (removing it
// when in has none), leaving the rest of next's status as it is.
func mergeNodeCondition(next, in *api.Node, typ api.NodeConditionType) {
	conds := slices.DeleteFunc(slices.Clone(next.Status.Conditions), func(c api.NodeCondition) bool { return c.Type == typ })
	for _, c := range in.Status.Conditions {
		if c.Type == typ {
			conds = append(conds, c)
			break
		}
	}
	next.Status.Conditions = conds
}
