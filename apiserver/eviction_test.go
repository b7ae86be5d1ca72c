package apiserver_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

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

// budget creates a disruption budget over app=web pods with minAvailable
// min.
func budget(t *testing.T, c *client.Client, ns, name string, min int32) *api.PodDisruptionBudget {
	t.Helper()
	v := api.FromInt(min)
	b, err := client.For[api.PodDisruptionBudget](c).Create(context.Background(), &api.PodDisruptionBudget{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns},
		Spec:       api.PodDisruptionBudgetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, MinAvailable: &v}})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// setBudgetStatus writes the status the disruption controller would: healthy
// pods of which desired must stay, for the budget's current generation.
func setBudgetStatus(t *testing.T, c *client.Client, ns, name string, healthy, desired int32) {
	t.Helper()
	ctx := context.Background()
	b, err := client.For[api.PodDisruptionBudget](c).Get(ctx, ns, name)
	if err != nil {
		t.Fatal(err)
	}
	b.Status = api.PodDisruptionBudgetStatus{ObservedGeneration: b.Generation, ExpectedPods: healthy,
		CurrentHealthy: healthy, DesiredHealthy: desired, DisruptionsAllowed: max(0, healthy-desired)}
	api.SetDisruptionAllowedCondition(&b.Status, "", "", time.Now())
	if _, err := client.For[api.PodDisruptionBudget](c).UpdateStatus(ctx, b); err != nil {
		t.Fatal(err)
	}
}

// TestEvictionHonoursBudget: an eviction waits for the controller to
// process the budget's spec, then spends the disruptions its status
// allows, charging the budget as it marks the pod deleted, and answers 429
// naming the budget when none is left; a pod that is not ready may always
// be evicted; without a budget eviction is a delete.
func TestEvictionHonoursBudget(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	for _, n := range []string{"a", "b", "c"} {
		readyPod(t, env, "default", "web-"+n)
	}
	budget(t, env.Admin, "default", "web", 2)
	if err := env.Admin.EvictPod(ctx, "default", "web-a", nil); !client.IsTooManyRequests(err) || !strings.Contains(err.Error(), "not yet processed") {
		t.Fatalf("eviction before the controller computed the budget: %v, want 429", err)
	}
	setBudgetStatus(t, env.Admin, "default", "web", 3, 2)
	if err := env.Admin.EvictPod(ctx, "default", "web-a", nil); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	if p, err := client.For[api.Pod](env.Admin).Get(ctx, "default", "web-a"); err != nil || p.DeletionTimestamp == nil {
		t.Fatalf("evicted pod not terminating: %v", err)
	}
	b, err := client.For[api.PodDisruptionBudget](env.Admin).Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := b.Status.DisruptedPods["web-a"]; !ok || b.Status.DisruptionsAllowed != 0 ||
		len(b.Status.Conditions) != 1 || b.Status.Conditions[0].Reason != api.ReasonInsufficientPods {
		t.Fatalf("budget after the eviction: %+v, want web-a disrupted, none allowed, InsufficientPods", b.Status)
	}
	err = env.Admin.EvictPod(ctx, "default", "web-b", nil)
	if !client.IsTooManyRequests(err) || !strings.Contains(err.Error(), "disruption budget web: needs 2 healthy, has 3") {
		t.Fatalf("second eviction: %v, want 429 naming the budget", err)
	}
	if p, err := client.For[api.Pod](env.Admin).Get(ctx, "default", "web-b"); err != nil || p.DeletionTimestamp != nil {
		t.Fatalf("refused eviction deleted the pod: %v", err)
	}
	// A change of spec makes the status stale until the controller catches up.
	setBudgetStatus(t, env.Admin, "default", "web", 2, 1)
	b, _ = client.For[api.PodDisruptionBudget](env.Admin).Get(ctx, "default", "web")
	one := api.FromInt(1)
	b.Spec.MinAvailable = &one
	if _, err := client.For[api.PodDisruptionBudget](env.Admin).Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	if err := env.Admin.EvictPod(ctx, "default", "web-b", nil); !client.IsTooManyRequests(err) {
		t.Fatalf("eviction under a stale status: %v, want 429", err)
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
}

// TestEvictionUnboundPodGoesAtOnce: a ready pod that no node runs is
// deleted by its eviction in the transaction that charges its budget.
func TestEvictionUnboundPodGoesAtOnce(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	p := createPod(t, env.Admin, "default", "web-x")
	p.Labels = map[string]string{"app": "web"}
	p, err := client.For[api.Pod](env.Admin).Update(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	api.SetPodCondition(&p.Status, api.PodCondition{Type: api.PodReady, Status: api.ConditionTrue})
	if _, err := client.For[api.Pod](env.Admin).UpdateStatus(ctx, p); err != nil {
		t.Fatal(err)
	}
	budget(t, env.Admin, "default", "web", 0)
	setBudgetStatus(t, env.Admin, "default", "web", 1, 0)
	if err := env.Admin.EvictPod(ctx, "default", "web-x", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := client.For[api.Pod](env.Admin).Get(ctx, "default", "web-x"); !client.IsNotFound(err) {
		t.Fatalf("unbound evicted pod: %v, want 404", err)
	}
	b, err := client.For[api.PodDisruptionBudget](env.Admin).Get(ctx, "default", "web")
	if _, ok := b.Status.DisruptedPods["web-x"]; err != nil || !ok {
		t.Fatalf("budget not charged: %+v %v", b.Status, err)
	}
}

// TestConcurrentEvictionsThroughTwoServers: evictions of several pods sent
// at once, alternately through two API servers on one etcd, against a
// budget that allows one disruption, end in exactly one success and 429s
// for the rest, every round.
func TestConcurrentEvictionsThroughTwoServers(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	clients := []*client.Client{env.Admin, env.Peer(t)}
	ctx := context.Background()
	const pods = 8
	for round := range 5 {
		ns := fmt.Sprintf("r%d", round)
		if err := env.Admin.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: ns}}); err != nil {
			t.Fatal(err)
		}
		for i := range pods {
			readyPod(t, env, ns, fmt.Sprintf("web-%d", i))
		}
		budget(t, env.Admin, ns, "web", pods-1)
		setBudgetStatus(t, env.Admin, ns, "web", pods, pods-1)
		var wg sync.WaitGroup
		start := make(chan struct{})
		errs := make([]error, pods)
		for i := range pods {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[i] = clients[i%2].EvictPod(ctx, ns, fmt.Sprintf("web-%d", i), nil)
			}()
		}
		close(start)
		wg.Wait()
		ok, refused := 0, 0
		for _, err := range errs {
			switch {
			case err == nil:
				ok++
			case client.IsTooManyRequests(err):
				refused++
			default:
				t.Fatalf("round %d: %v", round, err)
			}
		}
		if ok != 1 || refused != pods-1 {
			t.Fatalf("round %d: %d evictions allowed, %d refused, want 1 and %d", round, ok, refused, pods-1)
		}
		terminating := 0
		for i := range pods {
			p, err := client.For[api.Pod](env.Admin).Get(ctx, ns, fmt.Sprintf("web-%d", i))
			if err != nil {
				t.Fatal(err)
			}
			if p.DeletionTimestamp != nil {
				terminating++
			}
		}
		if terminating != 1 {
			t.Fatalf("round %d: %d pods terminating, want 1", round, terminating)
		}
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
	b := budget(t, env.Admin, "default", "good", 1)
	b.Status.DisruptionsAllowed = -1
	if _, err := client.For[api.PodDisruptionBudget](env.Admin).UpdateStatus(ctx, b); !client.IsInvalid(err) || !strings.Contains(err.Error(), "status.disruptionsAllowed") {
		t.Errorf("negative disruptionsAllowed: %v, want 422 naming status.disruptionsAllowed", err)
	}
	if got, err := client.For[api.PodDisruptionBudget](env.Admin).Get(ctx, "default", "good"); err != nil || got.Status.DisruptionsAllowed != 0 {
		t.Errorf("bad status stored: %+v %v", got.Status, err)
	}
}
