package disruption_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/deployment"
	"github.com/cloudmgr/cloud/controllers/disruption"
	"github.com/cloudmgr/cloud/controllers/replicaset"
)

// TestDisruptionController runs the controller with the ReplicaSet and
// Deployment controllers against the real API server with simulated
// nodes, as the controller-manager role: a budget's status follows the
// Deployment's declared scale and its pods' readiness, evictions spend it
// and the controller gives it back once the replacement is ready.
func TestDisruptionController(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2})
	ctx, cancel := context.WithCancel(context.Background())
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := controllers.NewManager(c.Env.ControllerManager(t), log)
	for _, setup := range []func(*controllers.Manager) error{
		func(m *controllers.Manager) error { return replicaset.Setup(m) },
		func(m *controllers.Manager) error { return deployment.Setup(m) },
		func(m *controllers.Manager) error { return disruption.Setup(m, disruption.Options{}) },
	} {
		if err := setup(m); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	three := int32(3)
	labels := map[string]string{"app": "web"}
	dAPI := client.For[api.Deployment](c.Admin)
	if _, err := dAPI.Create(ctx, &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.DeploymentSpec{Replicas: &three, Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}); err != nil {
		t.Fatal(err)
	}
	one := api.FromInt(1)
	pdbAPI := client.For[api.PodDisruptionBudget](c.Admin)
	if _, err := pdbAPI.Create(ctx, &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.PodDisruptionBudgetSpec{Selector: &api.LabelSelector{MatchLabels: labels}, MaxUnavailable: &one}}); err != nil {
		t.Fatal(err)
	}
	// status waits for the budget's status to read want (observedGeneration,
	// expected, healthy, desired, allowed, number of disrupted pods, and
	// the condition's reason).
	status := func(name, want string) *api.PodDisruptionBudget {
		t.Helper()
		var got string
		var b *api.PodDisruptionBudget
		for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
			var err error
			if b, err = pdbAPI.Get(ctx, "default", name); err != nil {
				t.Fatal(err)
			}
			s := b.Status
			reason := ""
			for _, c := range s.Conditions {
				reason = string(c.Status) + "/" + c.Reason
			}
			got = fmt.Sprintf("gen=%d expected=%d healthy=%d desired=%d allowed=%d disrupted=%d %s",
				s.ObservedGeneration, s.ExpectedPods, s.CurrentHealthy, s.DesiredHealthy, s.DisruptionsAllowed, len(s.DisruptedPods), reason)
			if got == want {
				return b
			}
		}
		t.Fatalf("budget %s status: %s, want %s", name, got, want)
		return nil
	}
	status("web", "gen=1 expected=3 healthy=3 desired=2 allowed=1 disrupted=0 True/SufficientPods")

	pods, _, err := client.For[api.Pod](c.Admin).List(ctx, "default", client.ListOptions{LabelSelector: "app=web"})
	if err != nil || len(pods) != 3 {
		t.Fatalf("pods: %d %v", len(pods), err)
	}
	if err := c.Admin.EvictPod(ctx, "default", pods[0].Name, nil); err != nil {
		t.Fatalf("first eviction: %v", err)
	}
	err = c.Admin.EvictPod(ctx, "default", pods[1].Name, nil)
	if !client.IsTooManyRequests(err) || !strings.Contains(err.Error(), "disruption budget web: needs 2 healthy") {
		t.Fatalf("second eviction: %v, want 429 naming the budget", err)
	}
	// The replacement comes up Ready: one disruption is allowed again.
	status("web", "gen=1 expected=3 healthy=3 desired=2 allowed=1 disrupted=0 True/SufficientPods")

	// The declared scale counts, not the pods that exist.
	d, err := dAPI.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	five := int32(5)
	d.Spec.Replicas = &five
	if _, err := dAPI.Update(ctx, d); err != nil {
		t.Fatal(err)
	}
	status("web", "gen=1 expected=5 healthy=5 desired=4 allowed=1 disrupted=0 True/SufficientPods")

	b, err := pdbAPI.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	all := api.FromString("100%")
	b.Spec.MaxUnavailable, b.Spec.MinAvailable = nil, &all
	if _, err := pdbAPI.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	status("web", "gen=2 expected=5 healthy=5 desired=5 allowed=0 disrupted=0 False/InsufficientPods")

	// A bare pod has no scale: maxUnavailable cannot be evaluated.
	bare := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "bare", Namespace: "default", Labels: map[string]string{"app": "bare"}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := client.For[api.Pod](c.Admin).Create(ctx, bare); err != nil {
		t.Fatal(err)
	}
	if _, err := pdbAPI.Create(ctx, &api.PodDisruptionBudget{ObjectMeta: api.ObjectMeta{Name: "bare", Namespace: "default"},
		Spec: api.PodDisruptionBudgetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "bare"}}, MaxUnavailable: &one}}); err != nil {
		t.Fatal(err)
	}
	status("bare", "gen=1 expected=0 healthy=0 desired=0 allowed=0 disrupted=0 False/SyncFailed")
}
