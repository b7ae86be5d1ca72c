package hpa_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/deployment"
	"github.com/cloudmgr/cloud/controllers/hpa"
	"github.com/cloudmgr/cloud/controllers/replicaset"
)

// TestAutoscalerScalesDeployment runs the autoscaler with the ReplicaSet
// and Deployment controllers against the real API server with simulated
// nodes, as the controller-manager role, with a fake metrics source: a
// tenant's Deployment under load grows up to max and no further, and
// shrinks to min once the scale-down window has passed.
func TestAutoscalerScalesDeployment(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2})
	ctx := context.Background()
	tenant := c.Env.Tenant(t, "team-a")
	ns := "team-a"
	clock := controllerstest.NewFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	metrics := &hpa.FakeMetrics{}
	metrics.SetAll(500) // 100% of the 500m request
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	controllerstest.RunManager(t, c.Env.ControllerManager(t), log,
		func(m *controllers.Manager) error { return replicaset.Setup(m) },
		func(m *controllers.Manager) error { return deployment.Setup(m) },
		func(m *controllers.Manager) error {
			return hpa.Setup(m, hpa.Options{Now: clock.Now, Interval: 50 * time.Millisecond, Metrics: metrics})
		},
	)

	two := int32(2)
	labels := map[string]string{"app": "web"}
	dAPI := client.For[api.Deployment](tenant)
	if _, err := dAPI.Create(ctx, &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: ns},
		Spec: api.DeploymentSpec{Replicas: &two, Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox",
					Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("500m")}}}}}}}}); err != nil {
		t.Fatal(err)
	}
	// Never above max: every version of the Deployment is watched.
	var highest atomic.Int32
	w, err := client.For[api.Deployment](c.Admin).Watch(ctx, ns, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	go func() {
		for ev := range w.Events() {
			if d, ok := ev.Object.(*api.Deployment); ok && d.Spec.Replicas != nil && *d.Spec.Replicas > highest.Load() {
				highest.Store(*d.Spec.Replicas)
			}
		}
	}()

	target := int32(50)
	hAPI := client.For[api.HorizontalPodAutoscaler](tenant)
	if _, err := hAPI.Create(ctx, &api.HorizontalPodAutoscaler{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: ns},
		Spec: api.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: api.CrossVersionObjectReference{Kind: api.KindDeployment, Name: "web"},
			MinReplicas:    &two, MaxReplicas: 6,
			Metrics: []api.MetricSpec{{Type: api.ResourceMetricSourceType, Resource: &api.ResourceMetricSource{
				Name: api.ResourceCPU, Target: api.MetricTarget{Type: api.UtilizationMetricType, AverageUtilization: &target}}}},
		}}); err != nil {
		t.Fatal(err)
	}
	replicas := func() int32 {
		d, err := dAPI.Get(ctx, ns, "web")
		if err != nil {
			t.Fatal(err)
		}
		return *d.Spec.Replicas
	}
	cond := func(typ api.HorizontalPodAutoscalerConditionType) string {
		h, err := hAPI.Get(ctx, ns, "web")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range h.Status.Conditions {
			if c.Type == typ {
				return string(c.Status) + "/" + c.Reason
			}
		}
		return ""
	}
	start := time.Now()
	// 100% against 50%: 2 -> 4 -> 8, clamped to 6.
	controllerstest.WaitFor(t, func() bool { return replicas() == 6 && cond(api.ScalingLimited) == "True/TooManyReplicas" }, "scale-up to max")
	t.Logf("load above target: 2 -> 6 replicas in %v", time.Since(start))
	controllerstest.WaitFor(t, func() bool {
		d, err := dAPI.Get(ctx, ns, "web")
		return err == nil && d.Status.ReadyReplicas == 6
	}, "6 ready pods")
	h, err := hAPI.Get(ctx, ns, "web")
	if err != nil {
		t.Fatal(err)
	}
	if u, ok := h.CurrentCPUUtilization(); !ok || u != 100 || h.Status.LastScaleTime == nil || h.Status.DesiredReplicas != 6 {
		t.Errorf("status after scale-up: %+v", h.Status)
	}
	wantEvent(t, c.Admin, ns, "New size: 4; reason: "+hpa.RescaleAbove)

	// 10% against 50%: the recommendation is 2, held at 6 for the window.
	metrics.SetAll(50)
	controllerstest.WaitFor(t, func() bool { return cond(api.AbleToScale) == "True/"+hpa.ReasonStabilized }, "scale-down held by the window")
	if n := replicas(); n != 6 {
		t.Fatalf("scaled down to %d inside the stabilization window", n)
	}
	clock.Advance(301 * time.Second)
	controllerstest.WaitFor(t, func() bool { return replicas() == 2 }, "scale-down after the window")
	wantEvent(t, c.Admin, ns, "New size: 2; reason: "+hpa.RescaleBelow)
	if got := highest.Load(); got > 6 {
		t.Errorf("the Deployment reached %d replicas, above max 6", got)
	}

	// A metrics failure stops scaling and says why, once nothing else of
	// the status changes (only the condition does).
	controllerstest.WaitFor(t, func() bool {
		h, err := hAPI.Get(ctx, ns, "web")
		return err == nil && h.Status.CurrentReplicas == 2 && h.Status.DesiredReplicas == 2
	}, "status settled at 2 replicas")
	// A metrics failure stops scaling and says why.
	metrics.SetErr(errors.New("metrics unavailable"))
	controllerstest.WaitFor(t, func() bool { return cond(api.ScalingActive) == "False/"+hpa.ReasonFailedGetMetric }, "ScalingActive False")
	metrics.SetErr(nil)

	// Another tenant may not read it.
	other := c.Env.Tenant(t, "team-b")
	if _, err := client.For[api.HorizontalPodAutoscaler](other).Get(ctx, ns, "web"); client.Code(err) != http.StatusForbidden {
		t.Errorf("another tenant reading the autoscaler: %v, want 403", err)
	}
}

func wantEvent(t *testing.T, c *client.Client, ns, message string) {
	t.Helper()
	controllerstest.WaitFor(t, func() bool {
		evs, _, err := client.For[api.Event](c).List(context.Background(), ns, client.ListOptions{})
		if err != nil {
			return false
		}
		for _, e := range evs {
			if e.Reason == hpa.ReasonSuccessfulRescale && e.Message == message && e.InvolvedObject.Kind == api.KindHorizontalPodAutoscaler {
				return true
			}
		}
		return false
	}, fmt.Sprintf("event %q", message))
}

// TestAutoscalerValidation: bad autoscalers are refused with 422 naming
// the field, and nothing is stored.
func TestAutoscalerValidation(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{})
	ctx := context.Background()
	hAPI := client.For[api.HorizontalPodAutoscaler](c.Admin)
	for _, tc := range []struct {
		name  string
		spec  api.HorizontalPodAutoscalerSpec
		field string
	}{
		{"max below min", api.HorizontalPodAutoscalerSpec{ScaleTargetRef: api.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MinReplicas: ptr(int32(5)), MaxReplicas: 2}, "spec.maxReplicas"},
		{"job target", api.HorizontalPodAutoscalerSpec{ScaleTargetRef: api.CrossVersionObjectReference{Kind: "Job", Name: "web"},
			MaxReplicas: 2}, "spec.scaleTargetRef.kind"},
		{"memory metric", api.HorizontalPodAutoscalerSpec{ScaleTargetRef: api.CrossVersionObjectReference{Kind: "Deployment", Name: "web"},
			MaxReplicas: 2, Metrics: []api.MetricSpec{{Type: api.ResourceMetricSourceType, Resource: &api.ResourceMetricSource{Name: "memory"}}}},
			"spec.metrics[0].resource.name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := hAPI.Create(ctx, &api.HorizontalPodAutoscaler{ObjectMeta: api.ObjectMeta{Name: "bad", Namespace: "default"}, Spec: tc.spec})
			if client.Code(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), tc.field) {
				t.Fatalf("create: %v, want 422 on %s", err, tc.field)
			}
			if _, err := hAPI.Get(ctx, "default", "bad"); !client.IsNotFound(err) {
				t.Errorf("the refused autoscaler was stored: %v", err)
			}
		})
	}
	// Defaults are applied and visible.
	h, err := hAPI.Create(ctx, &api.HorizontalPodAutoscaler{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.HorizontalPodAutoscalerSpec{ScaleTargetRef: api.CrossVersionObjectReference{Kind: "ReplicaSet", Name: "web"}, MaxReplicas: 3}})
	if err != nil {
		t.Fatal(err)
	}
	if h.MinReplicasOrDefault() != 1 || h.CPUTargetUtilization() != 80 || h.ScaleDownWindow() != 5*time.Minute || h.Spec.ScaleTargetRef.APIVersion != "apps/v1" {
		t.Errorf("defaults not applied: %+v", h.Spec)
	}
}

func ptr[T any](v T) *T { return &v }

// TestAutoscalerReplicaSetBounds: a ReplicaSet below min is raised to min,
// one set above max by hand is brought back to max, and a low load does
// not take it under min (ScalingLimited says so).
func TestAutoscalerReplicaSetBounds(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 1})
	ctx := context.Background()
	metrics := &hpa.FakeMetrics{}
	metrics.SetAll(100) // 50% of the 200m request, under the 80% default
	controllerstest.RunManager(t, c.Env.ControllerManager(t), nil,
		func(m *controllers.Manager) error { return replicaset.Setup(m) },
		func(m *controllers.Manager) error {
			return hpa.Setup(m, hpa.Options{Interval: 50 * time.Millisecond, Metrics: metrics})
		},
	)
	one := int32(1)
	labels := map[string]string{"app": "worker"}
	rsAPI := client.For[api.ReplicaSet](c.Admin)
	if _, err := rsAPI.Create(ctx, &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "worker", Namespace: "default"},
		Spec: api.ReplicaSetSpec{Replicas: &one, Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox",
					Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("200m")}}}}}}}}); err != nil {
		t.Fatal(err)
	}
	three, zero := int32(3), int32(0)
	hAPI := client.For[api.HorizontalPodAutoscaler](c.Admin)
	if _, err := hAPI.Create(ctx, &api.HorizontalPodAutoscaler{ObjectMeta: api.ObjectMeta{Name: "worker", Namespace: "default"},
		Spec: api.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: api.CrossVersionObjectReference{Kind: api.KindReplicaSet, Name: "worker"},
			MinReplicas:    &three, MaxReplicas: 4,
			Behavior: &api.HorizontalPodAutoscalerBehavior{ScaleDown: &api.HPAScalingRules{StabilizationWindowSeconds: &zero}},
		}}); err != nil {
		t.Fatal(err)
	}
	replicas := func() int32 {
		rs, err := rsAPI.Get(ctx, "default", "worker")
		if err != nil {
			t.Fatal(err)
		}
		return *rs.Spec.Replicas
	}
	controllerstest.WaitFor(t, func() bool { return replicas() == 3 }, "raised to min")
	wantEvent(t, c.Admin, "default", "New size: 3; reason: Current number of replicas below Spec.MinReplicas")
	controllerstest.WaitFor(t, func() bool {
		h, err := hAPI.Get(ctx, "default", "worker")
		if err != nil {
			return false
		}
		u, ok := h.CurrentCPUUtilization()
		lim := ""
		for _, c := range h.Status.Conditions {
			if c.Type == api.ScalingLimited {
				lim = string(c.Status) + "/" + c.Reason
			}
		}
		return ok && u == 50 && lim == "True/"+hpa.ReasonTooFew && h.Status.DesiredReplicas == 3
	}, "held at min under low load")
	if n := replicas(); n != 3 {
		t.Fatalf("%d replicas under low load, want min 3", n)
	}

	rs, err := rsAPI.Get(ctx, "default", "worker")
	if err != nil {
		t.Fatal(err)
	}
	nine := int32(9)
	rs.Spec.Replicas = &nine
	if _, err := rsAPI.Update(ctx, rs); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return replicas() == 4 }, "brought back to max")
	wantEvent(t, c.Admin, "default", "New size: 4; reason: Current number of replicas above Spec.MaxReplicas")
}
