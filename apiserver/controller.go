package apiserver

import (
	"context"

	"github.com/cloudmgr/cloud/api"
)

// ControllerUser is the user name of the controller manager's token.
const ControllerUser = "system:controller-manager"

// infrastructureGroups are the API groups whose kinds the controller
// manager may only read: they belong to administrators (priority classes,
// images), node agents (leases) or the IaaS layer. Kinds of any other
// non-core group (apps, batch, policy: the workloads) it may also write.
var infrastructureGroups = map[string]bool{
	api.GroupCore: true, api.GroupCoordination: true, api.GroupScheduling: true,
	api.GroupIaaS: true, api.GroupImages: true, api.GroupMetrics: true,
}

// authorizeController applies the controller manager's rules. It may get,
// list and watch every kind (the garbage collector follows owner references
// on all of them, Secrets included); create, update and delete workload
// objects (kinds of groups outside infrastructureGroups) and their status,
// pods and their status, events; delete any namespaced object (namespace
// deletion, garbage collection), but never create or change a Secret or
// another infrastructure object; update and delete namespaces and their
// status; and update nodes and their status (node lifecycle: conditions,
// taints, cordon). It may not touch tokens or tenants, create or delete
// nodes, nor bind pods (the scheduler does).
func authorizeController(id *Identity, q *request) error {
	read := q.verb == "get" || q.verb == "list" || q.verb == "watch"
	if q.sub == "binding" || q.sub == "token" {
		return forbiddenSub(id, q)
	}
	switch q.kind.Kind {
	case api.KindSecret:
		if read || q.verb == "delete" {
			return nil
		}
	case api.KindTenant:
		if read {
			return nil
		}
	case api.KindPod, api.KindEvent:
		return nil
	case api.KindNamespace:
		if read || q.verb == "update" || q.verb == "delete" {
			return nil
		}
	case api.KindNode:
		if read || q.verb == "update" {
			return nil
		}
	default:
		if read || !infrastructureGroups[q.kind.Group] || q.verb == "delete" && q.kind.Namespaced {
			return nil
		}
	}
	return forbiddenSub(id, q)
}

// ControllerToken mints a token of the controller role for the control
// plane's in-process controller manager, revoking the one the previous
// call minted (see SchedulerToken): the cloudd that becomes leader calls
// it, so the controllers of a deposed leader lose their credential.
func (s *Server) ControllerToken(ctx context.Context) (string, error) {
	return s.replaceToken(ctx, "controller-manager", TokenSpec{Role: RoleController, User: ControllerUser})
}
