package apiserver_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestNamespaceFinalize: a namespace is created with the "kubernetes"
// finalizer; a plain update keeps the stored spec.finalizers and only the
// finalize subresource changes them (validated, with the field path); a
// deleted namespace held by another spec finalizer goes once the finalize
// subresource removes it. The controller-manager role may finalize.
func TestNamespaceFinalize(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	nss := client.For[api.Namespace](env.Admin)

	plain := createNamespace(t, env.Admin, "plain")
	if !slices.Equal(plain.Spec.Finalizers, []string{api.FinalizerKubernetes}) {
		t.Fatalf("a new namespace's finalizers: %v, want [kubernetes]", plain.Spec.Finalizers)
	}
	held, err := nss.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "held"}, Spec: api.NamespaceSpec{Finalizers: []string{"example.com/hold"}}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(held.Spec.Finalizers, []string{"example.com/hold", api.FinalizerKubernetes}) {
		t.Fatalf("finalizers %v, want the given one and kubernetes", held.Spec.Finalizers)
	}

	held.Spec.Finalizers = nil
	held.Labels = map[string]string{"a": "b"}
	upd, err := nss.Update(ctx, held)
	if err != nil {
		t.Fatal(err)
	}
	if upd.Labels["a"] != "b" || !slices.Equal(upd.Spec.Finalizers, []string{"example.com/hold", api.FinalizerKubernetes}) {
		t.Fatalf("after a plain update without finalizers: labels %v finalizers %v, want the labels changed and the finalizers kept", upd.Labels, upd.Spec.Finalizers)
	}

	bad := *upd
	bad.Spec.Finalizers = []string{"Not A Name!"}
	err = env.Admin.FinalizeNamespace(ctx, &bad)
	if st := wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid); st.Details == nil || len(st.Details.Causes) == 0 || st.Details.Causes[0].Field != "spec.finalizers[0]" {
		t.Fatalf("invalid finalizer: %+v", st)
	}

	// The finalize subresource changes only spec.finalizers.
	fin := &api.Namespace{TypeMeta: upd.TypeMeta, ObjectMeta: upd.ObjectMeta}
	fin.Spec.Finalizers = []string{"example.com/hold"}
	fin.Labels = map[string]string{"a": "changed"}
	if err := env.ControllerManager(t).FinalizeNamespace(ctx, fin); err != nil {
		t.Fatalf("finalize as the controller manager: %v", err)
	}
	if fin.Labels["a"] != "b" || !slices.Equal(fin.Spec.Finalizers, []string{"example.com/hold"}) {
		t.Fatalf("after finalize: labels %v finalizers %v", fin.Labels, fin.Spec.Finalizers)
	}

	// Deleting: the namespace controller removes nothing but its own
	// finalizer (none is left here); the other holds the namespace until
	// finalize drops it.
	if err := nss.Delete(ctx, "", "held", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	cur, err := nss.Get(ctx, "", "held")
	if err != nil || cur.Status.Phase != api.NamespaceTerminating {
		t.Fatalf("held namespace after delete: %v %+v", err, cur)
	}
	eventually(t, 10*time.Second, "the kubernetes finalizer gone", func() bool {
		cur, err = nss.Get(ctx, "", "held")
		return err == nil && slices.Equal(cur.Spec.Finalizers, []string{"example.com/hold"})
	})
	cur.Spec.Finalizers = nil
	if _, err := nss.Update(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := nss.Get(ctx, "", "held"); err != nil {
		t.Fatalf("a plain update removed the namespace: %v", err)
	}
	cur, _ = nss.Get(ctx, "", "held")
	cur.Spec.Finalizers = nil
	if err := env.Admin.FinalizeNamespace(ctx, cur); err != nil {
		t.Fatal(err)
	}
	if _, err := nss.Get(ctx, "", "held"); !client.IsNotFound(err) {
		t.Fatalf("the namespace after its last finalizer went: %v, want 404", err)
	}

	// Only namespaces have it, and only PUT.
	err = env.Admin.Do(ctx, http.MethodPut, "/api/v1/namespaces/default/pods/x/finalize", nil, &api.Pod{}, nil)
	wantStatus(t, err, http.StatusNotFound, api.StatusReasonNotFound)
	for _, m := range []string{http.MethodGet, http.MethodPost, http.MethodDelete} {
		err = env.Admin.Do(ctx, m, "/api/v1/namespaces/plain/finalize", nil, nil, nil)
		if client.Code(err) != http.StatusMethodNotAllowed {
			t.Errorf("%s finalize: %v, want 405", m, err)
		}
	}
}
