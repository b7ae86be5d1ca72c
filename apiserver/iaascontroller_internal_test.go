package apiserver

import (
	"testing"

	"github.com/cloudmgr/cloud/api"
)

// TestIaaSControllerRole is the IaaS controllers' rule table (deleting a
// Node, which depends on the Machines stored, is tested against a server in
// TestIaaSControllerDeletesOnlyItsNodes).
func TestIaaSControllerRole(t *testing.T) {
	s := &Server{}
	id := &Identity{Name: IaaSControllerUser, Role: RoleIaaSController}
	scheme := api.NewScheme()
	kind := func(apiVersion, k string) *api.KindInfo {
		ki, ok := scheme.ByKind(apiVersion, k)
		if !ok {
			t.Fatalf("no kind %s %s", apiVersion, k)
		}
		return ki
	}
	machine := kind(api.APIVersionIaaS, api.KindMachine)
	pool := kind(api.APIVersionIaaS, api.KindNodePool)
	hv := kind(api.APIVersionIaaS, api.KindHypervisor)
	vm := kind(api.APIVersionIaaS, api.KindVirtualMachine)
	node := kind("v1", api.KindNode)
	pod := kind("v1", api.KindPod)
	event := kind("v1", api.KindEvent)
	secret := kind("v1", api.KindSecret)
	tenant := kind("v1", api.KindTenant)
	deploy := kind(api.APIVersionApps, api.KindDeployment)
	decision := kind(api.APIVersionIaaS, api.KindScaleDecision)
	for _, tc := range []struct {
		q     request
		allow bool
	}{
		{request{verb: "list", kind: machine}, true},
		{request{verb: "create", kind: machine}, true},
		{request{verb: "update", kind: machine, name: "m"}, true},
		{request{verb: "update", kind: machine, name: "m", sub: "status"}, true},
		{request{verb: "delete", kind: machine, name: "m"}, true},
		{request{verb: "watch", kind: pool}, true},
		{request{verb: "update", kind: pool, name: "p", sub: "status"}, true},
		{request{verb: "update", kind: pool, name: "p"}, true}, // finalizers only: admitIaaSControllerUpdate
		{request{verb: "create", kind: pool}, false},
		{request{verb: "list", kind: decision}, true},
		{request{verb: "watch", kind: decision}, true},
		{request{verb: "create", kind: decision}, true},
		{request{verb: "delete", kind: decision, name: "d"}, true},
		{request{verb: "update", kind: decision, name: "d"}, false},
		{request{verb: "update", kind: decision, name: "d", sub: "status"}, false},
		{request{verb: "delete", kind: pool, name: "p"}, false},
		{request{verb: "get", kind: hv, name: "h"}, true},
		{request{verb: "update", kind: hv, name: "h", sub: "status"}, true},
		{request{verb: "update", kind: hv, name: "h"}, false},
		{request{verb: "create", kind: hv}, false},
		{request{verb: "list", kind: vm}, true},
		{request{verb: "update", kind: vm, ns: "a", name: "v", sub: "status"}, true},
		{request{verb: "update", kind: vm, ns: "a", name: "v"}, true}, // finalizers only: admitIaaSControllerUpdate
		{request{verb: "create", kind: vm, ns: "a"}, false},
		{request{verb: "delete", kind: vm, ns: "a", name: "v"}, false},
		{request{verb: "list", kind: node}, true},
		{request{verb: "update", kind: node, name: "n"}, true},
		{request{verb: "update", kind: node, name: "n", sub: "status"}, true}, // condition HypervisorReachable only: mergeNodeCondition
		{request{verb: "create", kind: node}, false},
		{request{verb: "list", kind: pod}, true},
		{request{verb: "create", kind: pod, ns: "a", name: "p", sub: "eviction"}, true},
		{request{verb: "delete", kind: pod, ns: "a", name: "p"}, false},
		{request{verb: "create", kind: pod, ns: "a"}, false},
		{request{verb: "create", kind: pod, ns: "a", name: "p", sub: "binding"}, false},
		{request{verb: "create", kind: event, ns: "a"}, true},
		{request{verb: "update", kind: event, ns: "a", name: "e"}, true},
		{request{verb: "get", kind: secret, ns: "a", name: "s"}, false},
		{request{verb: "list", kind: secret}, false},
		{request{verb: "list", kind: tenant}, true},
		{request{verb: "create", kind: tenant}, false},
		{request{verb: "create", kind: tenant, name: "t", sub: "token"}, false},
		{request{verb: "list", kind: deploy}, true},
		{request{verb: "create", kind: deploy, ns: "a"}, false},
		{request{verb: "delete", kind: deploy, ns: "a", name: "d"}, false},
	} {
		err := s.authorizeIaaSController(t.Context(), id, &tc.q)
		if (err == nil) != tc.allow {
			t.Errorf("%s %s/%s: err %v, want allowed=%v", tc.q.verb, tc.q.kind.Resource, tc.q.sub, err, tc.allow)
		}
	}
}
