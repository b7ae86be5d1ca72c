package apiserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// readyPod creates a pod labelled app=web, bound to node-1 (so that its
// deletion waits for the node) and Ready.
func readyPod(t *testing.T, env *apiservertest.Env, ns, name string) *api.Pod {
	t.Helper()
	ctx := context.Background()
	p := newPod(ns, name)
	p.Labels = map[string]string{"app": "web"}
	p.Spec.NodeName = "node-1"
	p, err := client.For[api.Pod](env.Admin).Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = api.PodRunning
	api.SetPodCondition(&p.Status, api.PodCondition{Type: api.PodReady, Status: api.ConditionTrue})
	if p, err = client.For[api.Pod](env.Admin).UpdateStatus(ctx, p); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestEvictionHonoursBudget: evictions delete pods while the budget
// allows, then answer 429 naming the budget; a pod that is not ready may
// always be evicted; without a budget eviction is a delete.
func TestEvictionHonoursBudget(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		readyPod(t, env, "default", "web-"+n)
	}
	two := api.FromInt(2)
	pdb := &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.PodDisruptionBudgetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, MinAvailable: &two}}
	if _, err := client.For[api.PodDisruptionBudget](env.Admin).Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.EvictPod(ctx, "default", "web-a", nil); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	if p, err := client.For[api.Pod](env.Admin).Get(ctx, "default", "web-a"); err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("evicted pod not terminating: %v", err)
	}
	err := env.Admin.EvictPod(ctx, "default", "web-b", nil)
	if !client.IsTooManyRequests(err) || !strings.Contains(err.Error(), "disruption budget web") {
		t.Fatalf("second eviction: %v, want 429 naming the budget", err)
	}
	if _, err := client.For[api.Pod](env.Admin).Get(ctx, "default", "web-b"); err != nil {
		t.Fatalf("refused eviction deleted the pod: %v", err)
	}
	// An unready pod matched by the budget goes.
	p := createPod(t, env.Admin, "default", "web-unready")
	p.Labels = map[string]string{"app": "web"}
	if _, err := client.For[api.Pod](env.Admin).Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.EvictPod(ctx, "default", "web-unready", nil); err != nil {
		t.Errorf("evicting an unready pod: %v", err)
	}
	// A pod no budget selects goes; a missing one is 404.
	createPod(t, env.Admin, "default", "other")
	if err := env.Admin.EvictPod(ctx, "default", "other", nil); err != nil {
		t.Errorf("evicting an unprotected pod: %v", err)
	}
	if err := env.Admin.EvictPod(ctx, "default", "nope", nil); !client.IsNotFound(err) {
		t.Errorf("evicting a missing pod: %v, want 404", err)
	}
	// maxUnavailable 50% of the 3 pods (a terminating): 2 may be
	// unavailable, so b may go but not c.
	if err := client.For[api.PodDisruptionBudget](env.Admin).Delete(ctx, "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	half := api.FromString("50%")
	pdb = &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "half", Namespace: "default"},
		Spec: api.PodDisruptionBudgetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, MaxUnavailable: &half}}
	if _, err := client.For[api.PodDisruptionBudget](env.Admin).Create(ctx, pdb); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.EvictPod(ctx, "default", "web-b", nil); err != nil {
		t.Fatalf("eviction within maxUnavailable: %v", err)
	}
	if err := env.Admin.EvictPod(ctx, "default", "web-c", nil); !client.IsTooManyRequests(err) {
		t.Fatalf("eviction beyond maxUnavailable: %v, want 429", err)
	}
}

// TestEvictionAuthorization: a tenant evicts in its namespace only; the
// scheduler may not evict.
func TestEvictionAuthorization(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	acme := env.Tenant(t, "acme")
	createPod(t, env.Admin, "default", "web")
	createPod(t, env.Admin, "acme", "web")
	if err := acme.EvictPod(ctx, "default", "web", nil); !client.IsForbidden(err) {
		t.Errorf("tenant evicting elsewhere: %v, want 403", err)
	}
	if err := env.Scheduler.EvictPod(ctx, "default", "web", nil); !client.IsForbidden(err) {
		t.Errorf("scheduler evicting: %v, want 403", err)
	}
	if err := acme.EvictPod(ctx, "acme", "web", nil); err != nil {
		t.Errorf("tenant evicting its pod: %v", err)
	}
}

// TestPodDisruptionBudgetValidation: bad budgets are refused with the
// field path and not stored.
func TestPodDisruptionBudgetValidation(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	sel := &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	one, neg, bad := api.FromInt(1), api.FromInt(-1), api.FromString("150%")
	cases := []struct {
		name string
		spec api.PodDisruptionBudgetSpec
		want string
	}{
		{"both", api.PodDisruptionBudgetSpec{Selector: sel, MinAvailable: &one, MaxUnavailable: &one}, "spec"},
		{"neither", api.PodDisruptionBudgetSpec{Selector: sel}, "spec.minAvailable"},
		{"negative", api.PodDisruptionBudgetSpec{Selector: sel, MinAvailable: &neg}, "spec.minAvailable"},
		{"percent", api.PodDisruptionBudgetSpec{Selector: sel, MaxUnavailable: &bad}, "spec.maxUnavailable"},
		{"no-selector", api.PodDisruptionBudgetSpec{MinAvailable: &one}, "spec.selector"},
	}
	for _, tc := range cases {
		_, err := client.For[api.PodDisruptionBudget](env.Admin).Create(ctx, &api.PodDisruptionBudget{
			ObjectMeta: api.ObjectMeta{Name: tc.name, Namespace: "default"}, Spec: tc.spec})
		if !client.IsInvalid(err) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want 422 naming %s", tc.name, err, tc.want)
		}
		if _, err := client.For[api.PodDisruptionBudget](env.Admin).Get(ctx, "default", tc.name); !client.IsNotFound(err) {
			t.Errorf("%s: stored (%v)", tc.name, err)
		}
	}
}
