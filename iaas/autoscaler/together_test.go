package autoscaler_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/deployment"
	"github.com/cloudmgr/cloud/controllers/disruption"
	"github.com/cloudmgr/cloud/controllers/hpa"
	"github.com/cloudmgr/cloud/controllers/replicaset"
)

// Figures of the scenario: 2-CPU nodes, pods requesting half a CPU (four
// to a node), the workload autoscaler aiming at 80% of the request.
const (
	webRequest = "500m"
	busyMilli  = 1000 // 200% of the request: the HPA wants max
	idleMilli  = 100  // 20%: the HPA wants min
	hpaMin     = 2
	hpaMax     = 8
)

// availability follows, from a watch, how many of the app's pods are
// available (Running, Ready, not deleted), and the fewest seen once armed.
type availability struct {
	mu     sync.Mutex
	pods   map[string]bool
	armed  bool
	fewest int
}

func watchAvailability(t *testing.T, c *client.Client, ns, selector string) *availability {
	t.Helper()
	w, err := client.For[api.Pod](c).Watch(context.Background(), ns, client.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Stop)
	a := &availability{pods: map[string]bool{}}
	go func() {
		for ev := range w.Events() {
			p, ok := ev.Object.(*api.Pod)
			if !ok {
				continue
			}
			a.mu.Lock()
			if ev.Type == client.Deleted {
				delete(a.pods, p.Name)
			} else {
				a.pods[p.Name] = available(p)
			}
			if a.armed {
				a.fewest = min(a.fewest, a.count())
			}
			a.mu.Unlock()
		}
	}()
	return a
}

func available(p *api.Pod) bool {
	c := api.PodConditionByType(&p.Status, api.PodReady)
	return p.DeletionTimestamp == nil && p.Status.Phase == api.PodRunning && c != nil && c.Status == api.ConditionTrue
}

// count is the available pods; a.mu held.
func (a *availability) count() int {
	n := 0
	for _, ok := range a.pods {
		if ok {
			n++
		}
	}
	return n
}

// arm starts counting the fewest available pods from now.
func (a *availability) arm() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.armed, a.fewest = true, a.count()
}

func (a *availability) fewestSeen() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.fewest
}

// webPodsRunning reports whether the app has want pods, no more and none
// terminating, each Running and Ready on a Ready node.
func (c *cluster) webPodsRunning(t *testing.T, want int) bool {
	t.Helper()
	ctx := context.Background()
	pods, _, err := client.For[api.Pod](c.env.Admin).List(ctx, "default", client.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		return false
	}
	nodes, _, err := client.For[api.Node](c.env.Admin).List(ctx, "", client.ListOptions{})
	if err != nil {
		return false
	}
	ready := map[string]bool{}
	for _, n := range nodes {
		for _, cd := range n.Status.Conditions {
			if cd.Type == api.NodeReady && cd.Status == api.ConditionTrue && n.DeletionTimestamp == nil {
				ready[n.Name] = true
			}
		}
	}
	running := 0
	for _, p := range pods {
		if !available(p) || !ready[p.Spec.NodeName] {
			return false
		}
		running++
	}
	return running == want
}

// nodesReport reports whether every Ready node of the pool reports in its
// status the use of the app's pods running on it, each using milli (at
// most the node's CPUs).
func (c *cluster) nodesReport(t *testing.T, milli int64) bool {
	t.Helper()
	ctx := context.Background()
	pods, _, err := client.For[api.Pod](c.env.Admin).List(ctx, "default", client.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		return false
	}
	perNode := map[string]int64{}
	for _, p := range pods {
		if available(p) {
			perNode[p.Spec.NodeName] += milli
		}
	}
	nodes, _, err := client.For[api.Node](c.env.Admin).List(ctx, "", client.ListOptions{LabelSelector: api.LabelNodePool + "=private"})
	if err != nil || len(nodes) == 0 {
		return false
	}
	for _, n := range nodes {
		if n.Status.Usage == nil {
			return false
		}
		want := min(perNode[n.Name], n.Status.Allocatable.Cpu().MilliValue())
		if n.Status.Usage.Pods.Cpu().MilliValue() != want {
			return false
		}
	}
	return true
}

// TestTogetherHPAAndNodeAutoscaler is issue 8's "together" case through
// the real control plane: under load the workload autoscaler (HPA) adds
// pods, those that fit no node are marked unschedulable by the scheduler,
// and the node autoscaler grows the pool until every pod runs; once the
// load drops the HPA scales the Deployment down and the node autoscaler
// removes the idle nodes, draining them through the eviction API under a
// disruption budget, so the app never loses its last available pod.
func TestTogetherHPAAndNodeAutoscaler(t *testing.T) {
	c := start(t)
	c.runScheduler(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	// Each pod of the app uses load millicores, as its simulated node
	// reports (status.usage) and as the HPA reads (the provider stands in
	// for the pod metrics API, which simulated nodes do not serve).
	var load atomic.Int64
	load.Store(idleMilli)
	c.private.SetPodCPUUsage(func(p *api.Pod) (int64, bool) {
		if p.Labels["app"] != "web" {
			return 0, false
		}
		return load.Load(), true
	})
	controllerstest.RunManager(t, c.env.ControllerManager(t), log,
		func(m *controllers.Manager) error { return replicaset.Setup(m) },
		func(m *controllers.Manager) error { return deployment.Setup(m) },
		func(m *controllers.Manager) error { return disruption.Setup(m, disruption.Options{}) },
		func(m *controllers.Manager) error {
			return hpa.Setup(m, hpa.Options{Interval: 200 * time.Millisecond, Metrics: c.private})
		},
	)
	c.createPool(t, "private", "private-sim", 0, 1, 5)
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "private") == 1 }, "the pool's first node")
	avail := watchAvailability(t, c.env.Admin, "default", "app=web")

	labels := map[string]string{"app": "web"}
	two, zero := int32(hpaMin), int32(0)
	dAPI := client.For[api.Deployment](c.env.Admin)
	if _, err := dAPI.Create(ctx, &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.DeploymentSpec{Replicas: &two, Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox",
					Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity(webRequest)}}}}}}}}); err != nil {
		t.Fatal(err)
	}
	one := api.FromInt(1)
	if _, err := client.For[api.PodDisruptionBudget](c.env.Admin).Create(ctx, &api.PodDisruptionBudget{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec:       api.PodDisruptionBudgetSpec{Selector: &api.LabelSelector{MatchLabels: labels}, MinAvailable: &one}}); err != nil {
		t.Fatal(err)
	}
	target := int32(80)
	hAPI := client.For[api.HorizontalPodAutoscaler](c.env.Admin)
	if _, err := hAPI.Create(ctx, &api.HorizontalPodAutoscaler{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: api.CrossVersionObjectReference{Kind: api.KindDeployment, Name: "web"},
			MinReplicas:    &two, MaxReplicas: hpaMax,
			Metrics: []api.MetricSpec{{Type: api.ResourceMetricSourceType, Resource: &api.ResourceMetricSource{
				Name: api.ResourceCPU, Target: api.MetricTarget{Type: api.UtilizationMetricType, AverageUtilization: &target}}}},
			// No scale-down stabilization: the test does not wait 5 min.
			Behavior: &api.HorizontalPodAutoscalerBehavior{ScaleDown: &api.HPAScalingRules{StabilizationWindowSeconds: &zero}},
		}}); err != nil {
		t.Fatal(err)
	}
	hpaStatus := func() api.HorizontalPodAutoscalerStatus {
		h, err := hAPI.Get(ctx, "default", "web")
		if err != nil {
			t.Fatal(err)
		}
		return h.Status
	}
	controllerstest.WaitFor(t, func() bool {
		st := hpaStatus()
		u, ok := (&api.HorizontalPodAutoscaler{Status: st}).CurrentCPUUtilization()
		return c.webPodsRunning(t, hpaMin) && st.CurrentReplicas == hpaMin && st.DesiredReplicas == hpaMin && ok && u == 20
	}, "2 idle pods running, the HPA at 20% and 2 replicas")
	if got := c.replicas(t, "private"); got != 1 {
		t.Fatalf("the pool at %d replicas before any load, want 1", got)
	}
	avail.arm()

	// Load: every pod at 200% of its request.
	hot := time.Now()
	load.Store(busyMilli)
	controllerstest.WaitFor(t, func() bool { return hpaStatus().DesiredReplicas > hpaMin }, "the HPA to scale up")
	hpaUp := time.Since(hot)
	controllerstest.WaitFor(t, func() bool { return c.replicas(t, "private") > 1 }, "the pool to grow")
	poolUp := time.Since(hot)
	controllerstest.WaitFor(t, func() bool {
		d, err := dAPI.Get(ctx, "default", "web")
		return err == nil && *d.Spec.Replicas == hpaMax && c.webPodsRunning(t, hpaMax)
	}, "all 8 pods running")
	allRunning := time.Since(hot)
	// The nodes report the load too (the node autoscaler's utilization).
	controllerstest.WaitFor(t, func() bool { return c.nodesReport(t, busyMilli) }, "the nodes to report their pods' use")
	reported := time.Since(hot)
	st := hpaStatus()
	if st.DesiredReplicas != hpaMax {
		t.Fatalf("HPA status %+v, want %d desired", st, hpaMax)
	}
	grown := c.replicas(t, "private")
	if grown < 2 || c.ready(t, "private") < 2 {
		t.Fatalf("the pool at %d replicas, %d ready; 8 pods of half a CPU need 2 nodes of 2", grown, c.ready(t, "private"))
	}
	up := c.find(t, func(d *api.ScaleDecision) bool {
		return d.Spec.Outcome.Type == api.OutcomeScaledUp && d.Spec.Outcome.Pool == "private"
	})
	if up == nil || (up.Spec.Trigger.Type != api.TriggerPendingPods && up.Spec.Trigger.Type != api.TriggerUtilization) {
		t.Fatalf("no scale-up decision of the pool on pending pods or utilization: %+v", up)
	}
	t.Logf("load on: HPA scaled up after %v, pool grew after %v (first decision: trigger %s, +%d), all %d pods Running after %v, reported by their nodes after %v; pool at %d nodes",
		hpaUp.Round(time.Millisecond), poolUp.Round(time.Millisecond), up.Spec.Trigger.Type, up.Spec.Outcome.Delta, hpaMax,
		allRunning.Round(time.Millisecond), reported.Round(time.Millisecond), grown)

	// Load off: the HPA scales down to min, then the idle nodes go.
	cool := time.Now()
	load.Store(idleMilli)
	controllerstest.WaitFor(t, func() bool {
		d, err := dAPI.Get(ctx, "default", "web")
		return err == nil && *d.Spec.Replicas == hpaMin && hpaStatus().DesiredReplicas == hpaMin
	}, "the HPA to scale down to 2")
	hpaDown := time.Since(cool)
	controllerstest.WaitFor(t, func() bool {
		ms, _, err := client.For[api.Machine](c.env.Admin).List(ctx, "", client.ListOptions{})
		return err == nil && len(ms) == 1 && c.replicas(t, "private") == 1 && c.ready(t, "private") == 1
	}, "the pool back to one machine")
	poolDown := time.Since(cool)
	controllerstest.WaitFor(t, func() bool { return c.webPodsRunning(t, hpaMin) }, "the 2 remaining pods running")
	settled := time.Since(cool)
	// From 1 node back to 1: as many nodes removed, one a decision, as
	// were added (the pool may have grown again on utilization after the
	// pods ran).
	var added, downs int
	for _, d := range c.decisions(t) {
		if d.Spec.Outcome.Pool != "private" {
			continue
		}
		switch d.Spec.Outcome.Type {
		case api.OutcomeScaledUp:
			added += int(d.Spec.Outcome.Delta)
		case api.OutcomeScaledDown:
			if d.Spec.Trigger.Type != api.TriggerUnderutilized {
				t.Errorf("scale-down on trigger %s, want %s", d.Spec.Trigger.Type, api.TriggerUnderutilized)
			}
			downs++
		}
	}
	if downs != added || downs < 1 {
		t.Errorf("%d scale-down decisions, %d nodes added: want as many, at least 1", downs, added)
	}
	if got := avail.fewestSeen(); got < 1 {
		t.Errorf("the app had %d available pods at some point once running: a pod was lost", got)
	}
	t.Logf("load off: HPA scaled down after %v, pool back to 1 node after %v (%d scale-downs), 2 pods Running after %v; fewest available pods %d",
		hpaDown.Round(time.Millisecond), poolDown.Round(time.Millisecond), downs, settled.Round(time.Millisecond), avail.fewestSeen())
}
