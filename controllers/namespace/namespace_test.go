package namespace_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
)

func condition(ns *api.Namespace, t api.NamespaceConditionType) *api.NamespaceCondition {
	i := slices.IndexFunc(ns.Status.Conditions, func(c api.NamespaceCondition) bool { return c.Type == t })
	if i < 0 {
		return nil
	}
	return &ns.Status.Conditions[i]
}

// TestNamespaceWaitsForPodsOnNodes: the namespace controller (which the
// test cluster runs, as cloudd does) deletes a namespace's objects; a pod
// running on a node that does not answer keeps the namespace Terminating,
// with the count in its conditions, until the node confirms.
func TestNamespaceWaitsForPodsOnNodes(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 1})
	ctx := context.Background()
	nss, pods := client.For[api.Namespace](c.Admin), client.For[api.Pod](c.Admin)
	if _, err := nss.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "shop"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.For[api.Secret](c.Admin).Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "shop", Name: "creds"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "shop", Name: "web"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { p, _ := pods.Get(ctx, "shop", "web"); return p != nil && p.Status.Phase == api.PodRunning }, "pod Running")
	c.PauseNode(c.Nodes[0], true)

	if err := nss.Delete(ctx, "", "shop", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	var ns *api.Namespace
	controllerstest.WaitFor(t, func() bool {
		ns, _ = nss.Get(ctx, "", "shop")
		cond := condition(ns, api.NamespaceContentRemaining)
		return cond != nil && cond.Status == api.ConditionTrue && cond.Message == "Some resources are remaining: pods has 1 resource instances"
	}, "the remaining pod reported")
	if ns.Status.Phase != api.NamespaceTerminating || !slices.Contains(ns.Spec.Finalizers, api.FinalizerKubernetes) {
		t.Fatalf("namespace: phase %q finalizers %v", ns.Status.Phase, ns.Spec.Finalizers)
	}
	if _, err := client.For[api.Secret](c.Admin).Get(ctx, "shop", "creds"); !client.IsNotFound(err) {
		t.Errorf("secret: %v, want deleted", err)
	}
	p, err := pods.Get(ctx, "shop", "web")
	if err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("pod on the silent node: %v, %+v; want it Terminating", err, p)
	}
	_, err = pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "shop", Name: "late"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}})
	if client.Code(err) != 403 || !strings.Contains(err.Error(), "being terminated") {
		t.Errorf("create in the terminating namespace: %v, want 403", err)
	}

	// The node answers again: its simulated agent confirms the deletion
	// (PauseNode(false) makes it look at its pods at once).
	c.PauseNode(c.Nodes[0], false)
	controllerstest.WaitFor(t, func() bool { _, err := nss.Get(ctx, "", "shop"); return client.IsNotFound(err) }, "namespace gone")
}

// TestNamespaceReportsFinalizers: an object held by a finalizer keeps the
// namespace, and the condition names the finalizer, until it goes.
func TestNamespaceReportsFinalizers(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	nss, secrets := client.For[api.Namespace](env.Admin), client.For[api.Secret](env.Admin)
	if _, err := nss.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "held"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "held", Name: "s", Finalizers: []string{"example.com/keep"}}}); err != nil {
		t.Fatal(err)
	}
	if err := nss.Delete(ctx, "", "held", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		ns, _ := nss.Get(ctx, "", "held")
		cond := condition(ns, api.NamespaceFinalizersRemaining)
		return cond != nil && cond.Status == api.ConditionTrue && strings.Contains(cond.Message, "example.com/keep has 1 resource instances")
	}, "the finalizer reported")
	s, err := secrets.Get(ctx, "held", "s")
	if err != nil || s.DeletionTimestamp == nil {
		t.Fatalf("secret: %v %+v, want it marked", err, s)
	}
	s.Finalizers = nil
	if _, err := secrets.Update(ctx, s); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { _, err := nss.Get(ctx, "", "held"); return client.IsNotFound(err) }, "namespace gone")
}
