package apiserver_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestDeletePreconditions: a delete whose uid or resourceVersion
// precondition the object does not meet is refused with 409 and removes
// nothing, so a delete meant for an object never removes another that was
// created under its name; one that meets them deletes.
func TestDeletePreconditions(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	secrets := client.For[api.Secret](env.Admin)
	create := func(name string) *api.Secret {
		t.Helper()
		s, err := secrets.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name}, StringData: map[string]string{"k": "v"}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	first := create("s")
	if err := secrets.Delete(ctx, "default", "s", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	again := create("s")

	err := secrets.Delete(ctx, "default", "s", client.DeleteOptions{Preconditions: client.PreconditionUID(first.UID)})
	st := wantStatus(t, err, http.StatusConflict, api.StatusReasonConflict)
	if want := "Precondition failed: UID in precondition: " + first.UID + ", UID in object meta: " + again.UID; !strings.Contains(st.Message, want) {
		t.Errorf("message %q, want it to contain %q", st.Message, want)
	}
	if got, err := secrets.Get(ctx, "default", "s"); err != nil || got.UID != again.UID || got.DeletionTimestamp != nil {
		t.Fatalf("the re-created secret after a delete meant for the first: %v %v", got, err)
	}

	stale := "1"
	err = secrets.Delete(ctx, "default", "s", client.DeleteOptions{Preconditions: &api.Preconditions{UID: &again.UID, ResourceVersion: &stale}})
	if st := wantStatus(t, err, http.StatusConflict, api.StatusReasonConflict); !strings.Contains(st.Message, "ResourceVersion in precondition: 1") {
		t.Errorf("message %q", st.Message)
	}
	if err := secrets.Delete(ctx, "default", "s", client.DeleteOptions{Preconditions: &api.Preconditions{UID: &again.UID, ResourceVersion: &again.ResourceVersion}}); err != nil {
		t.Fatalf("delete with the current uid and resourceVersion: %v", err)
	}
	if _, err := secrets.Get(ctx, "default", "s"); !client.IsNotFound(err) {
		t.Fatalf("after the delete: %v, want 404", err)
	}

	// A pod held by a finalizer is marked only when the uid matches.
	pods := client.For[api.Pod](env.Admin)
	p := newPod("default", "held")
	p.Finalizers = []string{"example.com/hold"}
	p, err = pods.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	err = pods.Delete(ctx, "default", "held", client.DeleteOptions{Preconditions: client.PreconditionUID("not-" + p.UID)})
	wantStatus(t, err, http.StatusConflict, api.StatusReasonConflict)
	if got, _ := pods.Get(ctx, "default", "held"); got == nil || got.DeletionTimestamp != nil {
		t.Fatalf("a refused delete marked the pod: %+v", got)
	}
	marked := deleteObj[api.Pod](t, env.Admin, "default", "held", client.DeleteOptions{Preconditions: client.PreconditionUID(p.UID)})
	if marked.DeletionTimestamp == nil {
		t.Fatal("the delete with the right uid did not mark the pod")
	}

	// A namespace is not marked Terminating by a refused delete: objects
	// can still be created in it.
	ns := createNamespace(t, env.Admin, "pre")
	err = client.For[api.Namespace](env.Admin).Delete(ctx, "", "pre", client.DeleteOptions{Preconditions: client.PreconditionUID("not-" + ns.UID)})
	wantStatus(t, err, http.StatusConflict, api.StatusReasonConflict)
	if _, err := pods.Create(ctx, newPod("pre", "web")); err != nil {
		t.Fatalf("create in the namespace after a refused delete: %v", err)
	}
	out := deleteObj[api.Namespace](t, env.Admin, "", "pre", client.DeleteOptions{Preconditions: client.PreconditionUID(ns.UID)})
	if out.Status.Phase != api.NamespaceTerminating {
		t.Fatalf("the namespace after a delete with its uid: %+v", out.Status)
	}
}
