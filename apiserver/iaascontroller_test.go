package apiserver_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestIaaSControllerRoleAgainstServer: what the IaaS controllers' role
// needs from a real server, and what it is refused.
func TestIaaSControllerRoleAgainstServer(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	c := env.IaaSController(t)
	newMachine(t, env, "m-1", "libvirt://hv-1/1111", "host-1")
	for _, name := range []string{"m-1", "stranger"} {
		if _, err := client.For[api.Node](env.Admin).Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: name}}); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("machine-bound join tokens only", func(t *testing.T) {
		if _, err := c.CreateMachineJoinToken(ctx, time.Minute, "m-1"); err != nil {
			t.Fatalf("machine-bound token: %v", err)
		}
		if _, err := c.CreateJoinToken(ctx, time.Minute, "anything"); client.Code(err) != http.StatusForbidden {
			t.Fatalf("unbound token: %v, want 403", err)
		}
	})
	t.Run("machines", func(t *testing.T) {
		ms := client.For[api.Machine](c)
		m, err := ms.Create(ctx, &api.Machine{ObjectMeta: api.ObjectMeta{Name: "m-2"},
			Spec: api.MachineSpec{Provider: "libvirt", VCPUs: 1, Memory: api.MustParseQuantity("256Mi")}})
		if err != nil {
			t.Fatal(err)
		}
		m.Status.Phase = api.MachineProvisioning
		if _, err := ms.UpdateStatus(ctx, m); err != nil {
			t.Fatal(err)
		}
		if err := ms.Delete(ctx, "", "m-2", client.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("nodes of its machines only", func(t *testing.T) {
		nodes := client.For[api.Node](c)
		n, err := nodes.Get(ctx, "", "stranger")
		if err != nil {
			t.Fatal(err)
		}
		n.Spec.Unschedulable = true
		if _, err := nodes.Update(ctx, n); err != nil {
			t.Fatalf("cordon: %v", err)
		}
		// Of the status, only condition HypervisorReachable is its own.
		if n, err = nodes.Get(ctx, "", "stranger"); err != nil {
			t.Fatal(err)
		}
		n.Status.Capacity = api.ResourceList{api.ResourceCPU: api.MustParseQuantity("64")}
		n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue},
			{Type: api.NodeHypervisorReachable, Status: api.ConditionUnknown, Reason: "HypervisorUnreachable"}}
		if _, err := nodes.UpdateStatus(ctx, n); err != nil {
			t.Fatalf("node status: %v", err)
		}
		if n, err = nodes.Get(ctx, "", "stranger"); err != nil {
			t.Fatal(err)
		}
		if len(n.Status.Capacity) != 0 || len(n.Status.Conditions) != 1 || n.Status.Conditions[0].Type != api.NodeHypervisorReachable {
			t.Fatalf("node status after the IaaS controllers' write: %+v, want only condition HypervisorReachable", n.Status)
		}
		if err := nodes.Delete(ctx, "", "stranger", client.DeleteOptions{}); client.Code(err) != http.StatusForbidden {
			t.Fatalf("delete a node that is no machine's: %v, want 403", err)
		}
		if err := nodes.Delete(ctx, "", "m-1", client.DeleteOptions{}); err != nil {
			t.Fatalf("delete its machine's node: %v", err)
		}
	})
	t.Run("drain", func(t *testing.T) {
		p := newPod("default", "evictee")
		if _, err := client.For[api.Pod](env.Admin).Create(ctx, p); err != nil {
			t.Fatal(err)
		}
		if err := c.EvictPod(ctx, "default", "evictee", nil); err != nil {
			t.Fatalf("evict: %v", err)
		}
		if err := client.For[api.Pod](c).Delete(ctx, "default", "evictee", client.DeleteOptions{}); client.Code(err) != http.StatusForbidden {
			t.Fatalf("plain pod delete: %v, want 403", err)
		}
	})
	t.Run("virtual machines: status and finalizers only", func(t *testing.T) {
		vm, err := client.For[api.VirtualMachine](env.Admin).Create(ctx, &api.VirtualMachine{
			ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "vm"},
			Spec:       api.VirtualMachineSpec{CPUs: 1, Memory: api.MustParseQuantity("256Mi")}})
		if err != nil {
			t.Fatal(err)
		}
		vms := client.For[api.VirtualMachine](c)
		vm.Finalizers = []string{"iaas.cloudmgr.dev/vm"}
		if vm, err = vms.Update(ctx, vm); err != nil {
			t.Fatalf("add finalizer: %v", err)
		}
		vm.Status.Phase = api.VMUnknown
		if vm, err = vms.UpdateStatus(ctx, vm); err != nil {
			t.Fatalf("status: %v", err)
		}
		restart, err := client.For[api.VirtualMachine](env.Admin).Get(ctx, "default", "vm")
		if err != nil {
			t.Fatal(err)
		}
		restart.Annotations = map[string]string{api.AnnotationVMRestart: "now", "note": "tenant's"}
		if _, err := client.For[api.VirtualMachine](env.Admin).Update(ctx, restart); err != nil {
			t.Fatal(err)
		}
		if vm, err = vms.Get(ctx, "default", "vm"); err != nil {
			t.Fatal(err)
		}
		delete(vm.Annotations, api.AnnotationVMRestart)
		if vm, err = vms.Update(ctx, vm); err != nil {
			t.Fatalf("clear the restart request: %v", err)
		}
		vm.Annotations["note"] = "changed"
		if _, err := vms.Update(ctx, vm); client.Code(err) != http.StatusForbidden {
			t.Fatalf("change another annotation: %v, want 403", err)
		}
		vm.Annotations["note"] = "tenant's"
		vm.Spec.CPUs = 8
		if _, err := vms.Update(ctx, vm); client.Code(err) != http.StatusForbidden {
			t.Fatalf("change the spec: %v, want 403", err)
		}
	})
	t.Run("node pools: finalizers and replicas only", func(t *testing.T) {
		one := int32(1)
		if _, err := client.For[api.NodePool](env.Admin).Create(ctx, &api.NodePool{ObjectMeta: api.ObjectMeta{Name: "pool"},
			Spec: api.NodePoolSpec{Provider: "libvirt", VCPUs: 1, Memory: api.MustParseQuantity("512Mi"), MaxSize: 3, Replicas: &one}}); err != nil {
			t.Fatal(err)
		}
		pools := client.For[api.NodePool](c)
		p, err := pools.Get(ctx, "", "pool")
		if err != nil {
			t.Fatal(err)
		}
		p.Finalizers = []string{"iaas.cloudmgr.dev/nodepool"}
		if p, err = pools.Update(ctx, p); err != nil {
			t.Fatalf("add finalizer: %v", err)
		}
		two := int32(2)
		p.Spec.Replicas = &two
		if p, err = pools.Update(ctx, p); err != nil || *p.Spec.Replicas != 2 {
			t.Fatalf("change the replicas (the node autoscaler): %v", err)
		}
		for name, change := range map[string]func(*api.NodePool){
			"max size": func(p *api.NodePool) { p.Spec.MaxSize = 10 },
			"priority": func(p *api.NodePool) { p.Spec.Priority = 5 },
			"labels":   func(p *api.NodePool) { p.Labels = map[string]string{"a": "b"} },
			"replicas and image": func(p *api.NodePool) {
				three := int32(3)
				p.Spec.Replicas, p.Spec.Image = &three, "other"
			},
		} {
			next := *p
			change(&next)
			if _, err := pools.Update(ctx, &next); client.Code(err) != http.StatusForbidden {
				t.Fatalf("change the %s: %v, want 403", name, err)
			}
		}
		if got, err := pools.Get(ctx, "", "pool"); err != nil || *got.Spec.Replicas != 2 {
			t.Fatalf("after the refusals: %v, replicas %v, want 2", err, got.Spec.Replicas)
		}
	})
	t.Run("scale decisions: create and delete, never change", func(t *testing.T) {
		ds := client.For[api.ScaleDecision](c)
		d := &api.ScaleDecision{ObjectMeta: api.ObjectMeta{Name: "d-1"}, Spec: api.ScaleDecisionSpec{
			Trigger:     api.ScaleTrigger{Type: api.TriggerPendingPods, PendingCount: 1},
			Outcome:     api.ScaleOutcome{Type: api.OutcomeNoAction, Reason: api.ReasonNoPoolFits},
			DecidedTime: api.Now()}}
		d, err := ds.Create(ctx, d)
		if err != nil {
			t.Fatalf("create: %v", err)
		}
		d.Spec.Outcome.Reason = "other"
		if _, err := ds.Update(ctx, d); client.Code(err) != http.StatusForbidden {
			t.Fatalf("change: %v, want 403", err)
		}
		bad := &api.ScaleDecision{ObjectMeta: api.ObjectMeta{Name: "d-2"}, Spec: api.ScaleDecisionSpec{DecidedTime: api.Now()}}
		if _, err := ds.Create(ctx, bad); client.Code(err) != http.StatusUnprocessableEntity {
			t.Fatalf("create without a trigger: %v, want 422", err)
		}
		if err := ds.Delete(ctx, "", "d-1", client.DeleteOptions{}); err != nil {
			t.Fatalf("delete: %v", err)
		}
	})
	t.Run("refused", func(t *testing.T) {
		if _, err := client.For[api.Hypervisor](c).Create(ctx, &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: "h"},
			Spec: api.HypervisorSpec{URI: "qemu:///system"}}); client.Code(err) != http.StatusForbidden {
			t.Fatalf("create hypervisor: %v, want 403", err)
		}
		if _, err := client.For[api.Secret](c).Get(ctx, "default", "x"); client.Code(err) != http.StatusForbidden {
			t.Fatalf("read secret: %v, want 403", err)
		}
	})
}
