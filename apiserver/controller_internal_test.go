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

// TestControllerWritesBudgetStatus: the disruption controller, running
// with the controller-manager role, may read disruption budgets and write
// their status; the scheduler may not touch them.
func TestControllerWritesBudgetStatus(t *testing.T) {
	id := &Identity{Name: ControllerUser, Role: RoleController}
	pdb, ok := api.NewScheme().ByKind(api.APIVersionPolicy, api.KindPodDisruptionBudget)
	if !ok || !pdb.HasStatus {
		t.Fatal("PodDisruptionBudget has no status subresource")
	}
	for _, q := range []request{
		{verb: "list", kind: pdb},
		{verb: "watch", kind: pdb},
		{verb: "get", kind: pdb, ns: "a", name: "web"},
		{verb: "update", kind: pdb, ns: "a", name: "web", sub: "status"},
	} {
		if err := authorizeController(id, &q); err != nil {
			t.Errorf("%s %s/%s: %v", q.verb, pdb.Resource, q.sub, err)
		}
	}
	sched := &Identity{Name: SchedulerUser, Role: RoleScheduler}
	if err := authorizeScheduler(sched, &request{verb: "update", kind: pdb, ns: "a", name: "web", sub: "status"}); err == nil {
		t.Error("the scheduler may write budget status")
	}
}

// TestControllerScalesWithAutoscalers: the workload autoscaler, running
// with the controller-manager role, may read autoscalers, write their
// status and update the replicas of Deployments and ReplicaSets.
func TestControllerScalesWithAutoscalers(t *testing.T) {
	id := &Identity{Name: ControllerUser, Role: RoleController}
	s := api.NewScheme()
	hpa, ok := s.ByKind(api.APIVersionAutoscaling, api.KindHorizontalPodAutoscaler)
	if !ok || !hpa.HasStatus || !hpa.Namespaced {
		t.Fatal("HorizontalPodAutoscaler is not a namespaced kind with status")
	}
	dep, _ := s.ByKind(api.APIVersionApps, api.KindDeployment)
	rs, _ := s.ByKind(api.APIVersionApps, api.KindReplicaSet)
	for _, q := range []request{
		{verb: "list", kind: hpa},
		{verb: "watch", kind: hpa},
		{verb: "get", kind: hpa, ns: "a", name: "web"},
		{verb: "update", kind: hpa, ns: "a", name: "web", sub: "status"},
		{verb: "update", kind: dep, ns: "a", name: "web"},
		{verb: "update", kind: rs, ns: "a", name: "web"},
	} {
		if err := authorizeController(id, &q); err != nil {
			t.Errorf("%s %s/%s: %v", q.verb, q.kind.Resource, q.sub, err)
		}
	}
}
