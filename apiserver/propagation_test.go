package apiserver_test

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestDeletePropagationFinalizers: Foreground and Orphan deletes mark the
// object and add the garbage collector's finalizer; the object goes when
// the finalizer does. Background (the default) deletes at once.
func TestDeletePropagationFinalizers(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	for _, tc := range []struct {
		policy    api.DeletionPropagation
		finalizer string
	}{
		{api.DeletePropagationForeground, api.FinalizerDeleteDependents},
		{api.DeletePropagationOrphan, api.FinalizerOrphanDependents},
		{api.DeletePropagationBackground, ""},
	} {
		name := strings.ToLower(string(tc.policy))
		if _, err := pods.Create(ctx, newPod("default", name)); err != nil {
			t.Fatal(err)
		}
		got := deleteObj[api.Pod](t, env.Admin, "default", name, client.DeleteOptions{PropagationPolicy: tc.policy})
		if tc.finalizer == "" {
			if _, err := pods.Get(ctx, "default", name); !client.IsNotFound(err) {
				t.Fatalf("%s: get after delete: %v, want 404", tc.policy, err)
			}
			continue
		}
		if got.DeletionTimestamp == nil || !slices.Equal(got.Finalizers, []string{tc.finalizer}) {
			t.Fatalf("%s: deletionTimestamp %v finalizers %v, want set and [%s]", tc.policy, got.DeletionTimestamp, got.Finalizers, tc.finalizer)
		}
		again := deleteObj[api.Pod](t, env.Admin, "default", name, client.DeleteOptions{PropagationPolicy: tc.policy})
		if again.ResourceVersion != got.ResourceVersion {
			t.Errorf("%s: a second delete changed the pod", tc.policy)
		}
		got.Finalizers = nil
		if _, err := pods.Update(ctx, got); err != nil {
			t.Fatalf("%s: remove the finalizer: %v", tc.policy, err)
		}
		if _, err := pods.Get(ctx, "default", name); !client.IsNotFound(err) {
			t.Fatalf("%s: get after the finalizer went: %v, want 404", tc.policy, err)
		}
	}
}

// TestDeletePropagationSwitches: an orphan delete of an object pending
// foreground deletion replaces the finalizer, not adds a second one.
func TestDeletePropagationSwitches(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	if _, err := client.For[api.Pod](env.Admin).Create(ctx, newPod("default", "p")); err != nil {
		t.Fatal(err)
	}
	deleteObj[api.Pod](t, env.Admin, "default", "p", client.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground})
	got := deleteObj[api.Pod](t, env.Admin, "default", "p", client.DeleteOptions{PropagationPolicy: api.DeletePropagationOrphan})
	if !slices.Equal(got.Finalizers, []string{api.FinalizerOrphanDependents}) {
		t.Errorf("finalizers %v, want [orphan]", got.Finalizers)
	}
}

// TestDeleteOptionsBody: the policy may come in a DeleteOptions body; bad
// options are refused with the field named and nothing changes.
func TestDeleteOptionsBody(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	for _, n := range []string{"a", "b"} {
		if _, err := pods.Create(ctx, newPod("default", n)); err != nil {
			t.Fatal(err)
		}
	}
	orphan := api.DeletePropagationOrphan
	body := &api.DeleteOptions{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"}, PropagationPolicy: &orphan}
	var out api.Pod
	if err := env.Admin.Do(ctx, http.MethodDelete, "/api/v1/namespaces/default/pods/a", nil, body, &out); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(out.Finalizers, []string{api.FinalizerOrphanDependents}) || out.DeletionTimestamp == nil {
		t.Errorf("body policy: finalizers %v deletionTimestamp %v", out.Finalizers, out.DeletionTimestamp)
	}

	err := env.Admin.Delete(ctx, pods.Kind(), "default", "b", client.DeleteOptions{PropagationPolicy: "Sideways"}, nil)
	if client.Code(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "propagationPolicy") {
		t.Errorf("bad policy: %v, want 400 naming propagationPolicy", err)
	}
	bad := map[string]any{"kind": "DeleteOptions", "gracePeriodSeconds": -1}
	err = env.Admin.Do(ctx, http.MethodDelete, "/api/v1/namespaces/default/pods/b", nil, bad, nil)
	if client.Code(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "gracePeriodSeconds") {
		t.Errorf("negative grace in the body: %v, want 400 naming gracePeriodSeconds", err)
	}
	err = env.Admin.Do(ctx, http.MethodDelete, "/api/v1/namespaces/default/pods/b", nil, map[string]any{"propagation": "Orphan"}, nil)
	if client.Code(err) != http.StatusBadRequest {
		t.Errorf("unknown field in the body: %v, want 400", err)
	}
	if p, err := pods.Get(ctx, "default", "b"); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("after refused deletes: %v, deletionTimestamp %v", err, p.DeletionTimestamp)
	}
}

// TestForegroundBoundPodWaitsForNode: a pod bound to a node and deleted in
// the foreground goes only once both the finalizer is gone and its node
// confirmed, in either order.
func TestForegroundBoundPodWaitsForNode(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	zero := int64(0)
	for _, nodeFirst := range []bool{false, true} {
		name := "finalizer-first"
		if nodeFirst {
			name = "node-first"
		}
		in := newPod("default", name)
		in.Spec.NodeName = "n1"
		if _, err := pods.Create(ctx, in); err != nil {
			t.Fatal(err)
		}
		deleteObj[api.Pod](t, env.Admin, "default", name, client.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground})
		removeFinalizer := func() {
			p, err := pods.Get(ctx, "default", name)
			if err != nil {
				t.Fatal(err)
			}
			p.Finalizers = nil
			if _, err := pods.Update(ctx, p); err != nil {
				t.Fatal(err)
			}
		}
		if nodeFirst {
			deleteObj[api.Pod](t, env.Admin, "default", name, client.DeleteOptions{GracePeriodSeconds: &zero})
			if _, err := pods.Get(ctx, "default", name); err != nil {
				t.Fatalf("%s: the finalizer did not hold the pod: %v", name, err)
			}
			removeFinalizer()
		} else {
			removeFinalizer()
			if _, err := pods.Get(ctx, "default", name); err != nil {
				t.Fatalf("%s: the pod went before its node confirmed: %v", name, err)
			}
			deleteObj[api.Pod](t, env.Admin, "default", name, client.DeleteOptions{GracePeriodSeconds: &zero})
		}
		if _, err := pods.Get(ctx, "default", name); !client.IsNotFound(err) {
			t.Fatalf("%s: get at the end: %v, want 404", name, err)
		}
	}
}
