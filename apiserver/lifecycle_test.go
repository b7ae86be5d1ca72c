package apiserver_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestNamespaceDeletionOneObjectAtATime: deleting a namespace deletes its
// objects one by one, each DELETED event with a revision of its own, so a
// watcher can resume from any of them without losing the rest.
func TestNamespaceDeletionOneObjectAtATime(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	createNamespace(t, env.Admin, "doomed")
	for _, n := range []string{"a", "b", "c"} {
		createPod(t, env.Admin, "doomed", n)
	}
	w := watchPods(t, env.Admin, "", client.ListOptions{})
	expectEvents(t, w,
		wantEvent{client.Added, "doomed/a", ""}, wantEvent{client.Added, "doomed/b", ""}, wantEvent{client.Added, "doomed/c", ""})
	nsKind := kind(t, env, "namespaces")
	if err := env.Admin.Delete(context.Background(), nsKind, "", "doomed", client.DeleteOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for range 3 {
		ev := nextEvent(t, w)
		rv := ev.Object.GetObjectMeta().ResourceVersion
		if ev.Type != client.Deleted || seen[rv] {
			t.Fatalf("event %s %s at rv %s (seen %v): want one DELETED per revision", ev.Type, client.Key(ev.Object), rv, seen)
		}
		seen[rv] = true
	}
	eventually(t, 10*time.Second, "namespace doomed gone", func() bool {
		_, err := client.For[api.Namespace](env.Admin).Get(context.Background(), "", "doomed")
		return client.IsNotFound(err)
	})
	// A namespace of the same name can be made again and used.
	createNamespace(t, env.Admin, "doomed")
	createPod(t, env.Admin, "doomed", "again")
}

// TestCreateInTerminatingNamespace: a namespace held by a finalizer stays
// Terminating after delete while the namespace controller removes its
// contents, and refuses new objects with 403 until the finalizer is
// removed, which completes the deletion.
func TestCreateInTerminatingNamespace(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	nss := client.For[api.Namespace](env.Admin)
	createNamespace(t, env.Admin, "ending")
	createPod(t, env.Admin, "ending", "old")
	ns, err := nss.Get(ctx, "", "ending")
	if err != nil {
		t.Fatal(err)
	}
	ns.Finalizers = []string{"example.com/hold"}
	if _, err := nss.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.Delete(ctx, kind(t, env, "namespaces"), "", "ending", client.DeleteOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	ns, err = nss.Get(ctx, "", "ending")
	if err != nil || ns.DeletionTimestamp == nil || ns.Status.Phase != api.NamespaceTerminating {
		t.Fatalf("namespace held by a finalizer after delete: %+v, %v", ns, err)
	}
	eventually(t, 10*time.Second, "the terminating namespace emptied", func() bool {
		return len(podNames(t, env.Admin, "ending")) == 0
	})
	_, err = client.For[api.Pod](env.Admin).Create(ctx, newPod("ending", "late"))
	st := wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
	if !strings.Contains(st.Message, "being terminated") {
		t.Fatalf("message %q does not say the namespace is being terminated", st.Message)
	}
	eventually(t, 10*time.Second, "the kubernetes finalizer gone", func() bool {
		ns, err = nss.Get(ctx, "", "ending")
		return err == nil && len(ns.Spec.Finalizers) == 0
	})
	ns.Finalizers = nil
	if _, err := nss.Update(ctx, ns); err != nil {
		t.Fatal(err)
	}
	if _, err := nss.Get(ctx, "", "ending"); !client.IsNotFound(err) {
		t.Fatalf("namespace after its last finalizer went: %v", err)
	}
	createNamespace(t, env.Admin, "ending")
	createPod(t, env.Admin, "ending", "fresh") // the terminating mark went with it
}

// TestTenantRecreatedInheritsNothing: a tenant deleted and created again
// under the same name gets neither the old tokens nor the old namespaces'
// contents.
func TestTenantRecreatedInheritsNothing(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{AuthCacheTTL: 50 * time.Millisecond})
	ctx := context.Background()
	old := env.Tenant(t, "acme")
	if _, err := client.For[api.Pod](old).Create(ctx, newPod("acme", "secret")); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.Delete(ctx, kind(t, env, "tenants"), "", "acme", client.DeleteOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	eventually(t, 10*time.Second, "the tenant's namespace gone", func() bool {
		_, err := client.For[api.Namespace](env.Admin).Get(ctx, "", "acme")
		return client.IsNotFound(err)
	})
	fresh := env.Tenant(t, "acme")
	eventually(t, 5*time.Second, "old token refused", func() bool {
		_, _, err := client.For[api.Pod](old).List(ctx, "acme", client.ListOptions{})
		return client.Code(err) == http.StatusUnauthorized
	})
	pods, _, err := client.For[api.Pod](fresh).List(ctx, "acme", client.ListOptions{})
	if err != nil || len(pods) != 0 {
		t.Fatalf("new tenant sees %d pods (err %v), want none", len(pods), err)
	}
}

// TestExpiredToken: a token stops working at its expiry even when its
// answer is cached for longer.
func TestExpiredToken(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{AuthCacheTTL: time.Minute})
	ctx := context.Background()
	exp := api.NewTime(time.Now().Add(2 * time.Second))
	tok, err := env.Server.IssueToken(ctx, apiserver.TokenSpec{Role: apiserver.RoleAdmin, User: "short", Expires: &exp})
	if err != nil {
		t.Fatal(err)
	}
	c := env.Client(t, tok)
	if _, _, err := client.For[api.Pod](c).List(ctx, "default", client.ListOptions{}); err != nil {
		t.Fatalf("before expiry: %v", err)
	}
	eventually(t, 10*time.Second, "expired token refused", func() bool {
		_, _, err := client.For[api.Pod](c).List(ctx, "default", client.ListOptions{})
		return client.Code(err) == http.StatusUnauthorized
	})
}

// TestNamespaceWithoutController: on a server without the namespace
// controller, a deleted namespace stays Terminating with its contents and
// the "kubernetes" finalizer, and refuses new objects.
func TestNamespaceWithoutController(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{NoNamespaceController: true})
	ctx := context.Background()
	createNamespace(t, env.Admin, "stuck")
	createPod(t, env.Admin, "stuck", "web")
	if err := env.Admin.Delete(ctx, kind(t, env, "namespaces"), "", "stuck", client.DeleteOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // nothing is to happen
	ns, err := client.For[api.Namespace](env.Admin).Get(ctx, "", "stuck")
	if err != nil || ns.Status.Phase != api.NamespaceTerminating || len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != api.FinalizerKubernetes {
		t.Fatalf("namespace: %v %+v", err, ns)
	}
	if got := podNames(t, env.Admin, "stuck"); len(got) != 1 {
		t.Errorf("pods: %v, want the one left", got)
	}
	_, err = client.For[api.Pod](env.Admin).Create(ctx, newPod("stuck", "late"))
	wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
}
