package apiserver_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

func int64p(n int64) *int64 { return &n }

// deleteObj deletes and returns the object the server answered with.
func deleteObj[T any, P interface {
	*T
	api.Object
}](t *testing.T, c *client.Client, ns, name string, opts client.DeleteOptions) P {
	t.Helper()
	out := P(new(T))
	if err := c.Delete(context.Background(), client.For[T, P](c).Kind(), ns, name, opts, out); err != nil {
		t.Fatalf("delete %s/%s: %v", ns, name, err)
	}
	return out
}

// TestFinalizersHoldDeletion: an object with finalizers is only marked;
// removing the last finalizer removes it.
func TestFinalizersHoldDeletion(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	in := newPod("default", "web")
	in.Finalizers = []string{"example.com/a", "example.com/b"}
	if _, err := pods.Create(ctx, in); err != nil {
		t.Fatal(err)
	}

	marked := deleteObj[api.Pod](t, env.Admin, "default", "web", client.DeleteOptions{})
	if marked.DeletionTimestamp == nil || marked.DeletionGracePeriodSeconds == nil || *marked.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("answer to the delete: deletionTimestamp %v grace %v", marked.DeletionTimestamp, marked.DeletionGracePeriodSeconds)
	}
	got, err := pods.Get(ctx, "default", "web")
	if err != nil {
		t.Fatalf("the marked pod: %v", err)
	}
	if got.DeletionTimestamp == nil || got.ResourceVersion != marked.ResourceVersion {
		t.Errorf("stored: deletionTimestamp %v rv %s, want set and rv %s", got.DeletionTimestamp, got.ResourceVersion, marked.ResourceVersion)
	}
	again := deleteObj[api.Pod](t, env.Admin, "default", "web", client.DeleteOptions{})
	if again.ResourceVersion != got.ResourceVersion || !again.DeletionTimestamp.Equal(got.DeletionTimestamp.Time) {
		t.Errorf("a second delete changed the pod: rv %s -> %s", got.ResourceVersion, again.ResourceVersion)
	}

	got.Finalizers = []string{"example.com/b"}
	got.DeletionTimestamp = nil // clients cannot undo a deletion
	got, err = pods.Update(ctx, got)
	if err != nil {
		t.Fatal(err)
	}
	if got.DeletionTimestamp == nil {
		t.Fatal("an update cleared the deletionTimestamp")
	}
	got.Finalizers = nil
	if _, err := pods.Update(ctx, got); err != nil {
		t.Fatalf("remove the last finalizer: %v", err)
	}
	if _, err := pods.Get(ctx, "default", "web"); !client.IsNotFound(err) {
		t.Fatalf("get after the last finalizer went: %v, want 404", err)
	}
}

// TestNamespaceWithFinalizerTakesItsContents: deleting a namespace held by
// a finalizer has the namespace controller remove its objects and its own
// "kubernetes" finalizer, and keeps the namespace Terminating until the
// other finalizer goes.
func TestNamespaceWithFinalizerTakesItsContents(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	nss := client.For[api.Namespace](env.Admin)
	if _, err := nss.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "shop", Finalizers: []string{"example.com/drain"}}}); err != nil {
		t.Fatal(err)
	}
	createPod(t, env.Admin, "shop", "web")
	deleteObj[api.Namespace](t, env.Admin, "", "shop", client.DeleteOptions{})
	var ns *api.Namespace
	eventually(t, 10*time.Second, "the namespace emptied and its kubernetes finalizer gone", func() bool {
		var err error
		ns, err = nss.Get(ctx, "", "shop")
		if err != nil {
			t.Fatal(err)
		}
		return len(podNames(t, env.Admin, "shop")) == 0 && len(ns.Spec.Finalizers) == 0
	})
	if ns.Status.Phase != api.NamespaceTerminating {
		t.Fatalf("phase %q, want Terminating", ns.Status.Phase)
	}
	ns.Finalizers = nil
	if _, err := nss.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := nss.Get(ctx, "", "shop"); !client.IsNotFound(err) {
		t.Fatalf("namespace after its finalizer went: %v, want 404", err)
	}
	if got := podNames(t, env.Admin, ""); len(got) != 0 {
		t.Errorf("pods left behind by the namespace: %v", got)
	}
}

// TestTenantWithFinalizerLosesAccess: a tenant removed when its last
// finalizer goes has its tokens revoked, as a direct delete does.
func TestTenantWithFinalizerLosesAccess(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	tenants := kind(t, env, "Tenant")
	b := env.Tenant(t, "team-b")
	var ten api.Tenant
	if err := env.Admin.Get(ctx, tenants, "", "team-b", &ten); err != nil {
		t.Fatal(err)
	}
	ten.Finalizers = []string{"example.com/bill"}
	if err := env.Admin.Update(ctx, &ten); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.Delete(ctx, tenants, "", "team-b", client.DeleteOptions{}, &ten); err != nil {
		t.Fatal(err)
	}
	if got := podNames(t, b, "team-b"); len(got) != 0 {
		t.Fatalf("B's pods: %v", got)
	}
	ten.Finalizers = nil
	if err := env.Admin.Update(ctx, &ten); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.Get(ctx, tenants, "", "team-b", &api.Tenant{}); !client.IsNotFound(err) {
		t.Fatalf("tenant after its finalizer went: %v, want 404", err)
	}
	_, _, err := client.For[api.Pod](b).List(ctx, "team-b", client.ListOptions{})
	wantStatus(t, err, http.StatusUnauthorized, api.StatusReasonUnauthorized)
}

// TestBoundPodDeletion: a pod on a node is marked and stays until a delete
// with gracePeriodSeconds=0; unbound or finished pods go at once.
func TestBoundPodDeletion(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	bind := func(name string, phase api.PodPhase) {
		t.Helper()
		p := createPod(t, env.Admin, "default", name)
		p.Spec.NodeName = "node-1"
		p, err := pods.Update(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if phase != "" {
			p.Status.Phase = phase
			if _, err := pods.UpdateStatus(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
	}

	bind("web", "")
	marked := deleteObj[api.Pod](t, env.Admin, "default", "web", client.DeleteOptions{})
	if marked.DeletionTimestamp == nil || *marked.DeletionGracePeriodSeconds != 30 {
		t.Fatalf("marked: deletionTimestamp %v grace %v", marked.DeletionTimestamp, marked.DeletionGracePeriodSeconds)
	}
	shorter := deleteObj[api.Pod](t, env.Admin, "default", "web", client.DeleteOptions{GracePeriodSeconds: int64p(5)})
	if *shorter.DeletionGracePeriodSeconds != 5 || !shorter.DeletionTimestamp.Equal(marked.DeletionTimestamp.Time) {
		t.Errorf("shortened: grace %d timestamp %v, want 5 and the first timestamp", *shorter.DeletionGracePeriodSeconds, shorter.DeletionTimestamp)
	}
	longer := deleteObj[api.Pod](t, env.Admin, "default", "web", client.DeleteOptions{GracePeriodSeconds: int64p(60)})
	if *longer.DeletionGracePeriodSeconds != 5 {
		t.Errorf("a longer grace period extended the deletion: %d", *longer.DeletionGracePeriodSeconds)
	}
	if _, err := pods.Get(ctx, "default", "web"); err != nil {
		t.Fatalf("the bound pod went before its node let it: %v", err)
	}
	deleteObj[api.Pod](t, env.Admin, "default", "web", client.DeleteOptions{GracePeriodSeconds: int64p(0)})
	if _, err := pods.Get(ctx, "default", "web"); !client.IsNotFound(err) {
		t.Fatalf("after gracePeriodSeconds=0: %v, want 404", err)
	}

	cases := []struct {
		name  string
		setup func()
	}{
		{"unbound", func() { createPod(t, env.Admin, "default", "unbound") }},
		{"succeeded", func() { bind("succeeded", api.PodSucceeded) }},
		{"failed", func() { bind("failed", api.PodFailed) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup()
			deleteObj[api.Pod](t, env.Admin, "default", tc.name, client.DeleteOptions{})
			if _, err := pods.Get(ctx, "default", tc.name); !client.IsNotFound(err) {
				t.Fatalf("get: %v, want 404", err)
			}
		})
	}

	t.Run("bad grace period", func(t *testing.T) {
		r := rawRequest(t, env, env.AdminToken, "DELETE", "/api/v1/namespaces/default/pods/x?gracePeriodSeconds=-1", "", nil)
		st := wantRawStatus(t, r, http.StatusBadRequest, api.StatusReasonBadRequest)
		if !strings.Contains(st.Message, "gracePeriodSeconds") {
			t.Errorf("message %q", st.Message)
		}
	})
	t.Run("missing pod", func(t *testing.T) {
		err := pods.Delete(ctx, "default", "nope", client.DeleteOptions{})
		st := wantStatus(t, err, http.StatusNotFound, api.StatusReasonNotFound)
		if !strings.Contains(st.Message, `pods "nope" not found`) {
			t.Errorf("message %q", st.Message)
		}
	})
}

// TestDeleteNamespace: "default" cannot be deleted; any other namespace
// is marked Terminating and goes with everything in it once the namespace
// controller emptied it.
func TestDeleteNamespace(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	nss := client.For[api.Namespace](env.Admin)

	err := nss.Delete(ctx, "", "default", client.DeleteOptions{})
	st := wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
	if !strings.Contains(st.Message, `namespaces "default"`) {
		t.Errorf("message %q", st.Message)
	}
	if _, err := nss.Get(ctx, "", "default"); err != nil {
		t.Fatalf("default after the refused delete: %v", err)
	}

	createNamespace(t, env.Admin, "shop")
	createNamespace(t, env.Admin, "shopping") // a prefix of its name must not matter
	createPod(t, env.Admin, "shop", "web")
	createPod(t, env.Admin, "shop", "db")
	createPod(t, env.Admin, "shopping", "cart")
	createPod(t, env.Admin, "default", "keep")
	ev := &api.Event{
		ObjectMeta:     api.ObjectMeta{Namespace: "shop", Name: "web.1"},
		InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "web"},
	}
	if err := env.Admin.Create(ctx, ev); err != nil {
		t.Fatal(err)
	}

	out := deleteObj[api.Namespace](t, env.Admin, "", "shop", client.DeleteOptions{})
	if out.Name != "shop" || out.Status.Phase != api.NamespaceTerminating || out.DeletionTimestamp == nil ||
		!slices.Equal(out.Spec.Finalizers, []string{api.FinalizerKubernetes}) {
		t.Errorf("answer to the delete: %+v", out)
	}
	eventually(t, 10*time.Second, "namespace shop gone", func() bool {
		_, err := nss.Get(ctx, "", "shop")
		return client.IsNotFound(err)
	})
	if got := podNames(t, env.Admin, ""); strings.Join(got, ",") != "default/keep,shopping/cart" {
		t.Errorf("pods after the delete: %v", got)
	}
	events, _, err := env.Admin.List(ctx, kind(t, env, "Event"), "shop", client.ListOptions{})
	if err != nil || len(events) != 0 {
		t.Errorf("events of the deleted namespace: %v %v", events, err)
	}
	_, err = client.For[api.Pod](env.Admin).Create(ctx, newPod("shop", "late"))
	st = wantStatus(t, err, http.StatusNotFound, api.StatusReasonNotFound)
	if !strings.Contains(st.Message, `namespaces "shop" not found`) {
		t.Errorf("message %q", st.Message)
	}
}
