package apiserver

import (
	"testing"

	"github.com/cloudmgr/cloud/api"
)

// TestControllerWritesWorkloadGroups: kinds of groups other than the
// infrastructure ones (the workloads: apps, batch, ...) are writable by
// the controller manager, including their status.
func TestControllerWritesWorkloadGroups(t *testing.T) {
	id := &Identity{Name: ControllerUser, Role: RoleController}
	apps := &api.KindInfo{Group: "apps.cloudmgr.dev", Kind: "Deployment", Resource: "deployments", Namespaced: true}
	for _, q := range []request{
		{verb: "create", kind: apps, ns: "a"},
		{verb: "update", kind: apps, ns: "a", name: "d"},
		{verb: "update", kind: apps, ns: "a", name: "d", sub: "status"},
		{verb: "delete", kind: apps, ns: "a", name: "d"},
	} {
		if err := authorizeController(id, &q); err != nil {
			t.Errorf("%s %s/%s: %v", q.verb, apps.Resource, q.sub, err)
		}
	}
	iaas := &api.KindInfo{Group: api.GroupIaaS, Kind: "VirtualMachine", Resource: "virtualmachines", Namespaced: true}
	if err := authorizeController(id, &request{verb: "create", kind: iaas, ns: "a"}); err == nil {
		t.Error("create of an infrastructure kind allowed")
	}
}
