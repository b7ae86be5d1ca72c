package deployment_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/deployment"
	"github.com/cloudmgr/cloud/controllers/replicaset"
)

// startManager runs the ReplicaSet and Deployment controllers until stop
// is called or the test ends.
func startManager(t *testing.T, c *controllerstest.Cluster) (stop func()) {
	return controllerstest.RunManager(t, c.Admin, nil,
		func(m *controllers.Manager) error { return replicaset.Setup(m) },
		func(m *controllers.Manager) error { return deployment.Setup(m) })
}

// podWatch follows the pods of one app through a controllerstest.PodWatch:
// how many are Ready (and not terminating) and active, with the lowest and
// highest seen since the last reset.
type podWatch struct {
	w        *controllerstest.PodWatch
	minReady int
	maxTotal int
	mixed    bool // old and new template active at once
}

func watchPods(t *testing.T, c *client.Client, app string) *podWatch {
	pw := &podWatch{minReady: 1 << 30}
	pw.w = controllerstest.WatchPods(t, c, "default", "app="+app, func(pods map[string]*api.Pod) string {
		ready, total := controllerstest.CountPods(pods)
		pw.minReady, pw.maxTotal = min(pw.minReady, ready), max(pw.maxTotal, total)
		hashes := map[string]bool{}
		for _, q := range pods {
			if controllers.IsPodActive(q) {
				hashes[q.Labels[api.LabelPodTemplateHash]] = true
			}
		}
		pw.mixed = pw.mixed || len(hashes) > 1
		return ""
	})
	return pw
}

func (pw *podWatch) ready() (r int) {
	pw.w.Inspect(func(pods map[string]*api.Pod) { r, _ = controllerstest.CountPods(pods) })
	return r
}

// reset starts the lowest/highest from now.
func (pw *podWatch) reset() {
	pw.w.Inspect(func(pods map[string]*api.Pod) {
		pw.minReady, pw.maxTotal = controllerstest.CountPods(pods)
		pw.mixed = false
	})
}

func (pw *podWatch) extremes() (minReady, maxTotal int, mixed bool) {
	pw.w.Inspect(func(map[string]*api.Pod) { minReady, maxTotal, mixed = pw.minReady, pw.maxTotal, pw.mixed })
	return minReady, maxTotal, mixed
}

func newDeployment(name string, replicas int32, image string) *api.Deployment {
	labels := map[string]string{"app": name}
	return &api.Deployment{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: api.DeploymentSpec{
		Replicas: &replicas, Selector: &api.LabelSelector{MatchLabels: labels},
		Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: image}}}}}}
}

// update applies f to the stored Deployment, retrying conflicts.
func update(t *testing.T, c *client.Client, name string, f func(d *api.Deployment)) {
	t.Helper()
	deps := client.For[api.Deployment](c)
	for {
		d, err := deps.Get(context.Background(), "default", name)
		if err != nil {
			t.Fatal(err)
		}
		f(d)
		if _, err = deps.Update(context.Background(), d); err == nil {
			return
		} else if !client.IsConflict(err) {
			t.Fatal(err)
		}
	}
}

// complete reports whether the rollout of name is done with image.
func complete(c *client.Client, name, image string) func() bool {
	return func() bool {
		d, err := client.For[api.Deployment](c).Get(context.Background(), "default", name)
		if err != nil || d.Status.ObservedGeneration != d.Generation || d.Spec.Template.Spec.Containers[0].Image != image {
			return false
		}
		n := *d.Spec.Replicas
		p := api.DeploymentConditionByType(&d.Status, api.DeploymentProgressing)
		return d.Status.UpdatedReplicas == n && d.Status.AvailableReplicas == n && d.Status.Replicas == n &&
			p != nil && p.Reason == api.ReasonNewRSAvailable
	}
}

func history(t *testing.T, c *client.Client, name string) []*api.ReplicaSet {
	d, err := client.For[api.Deployment](c).Get(context.Background(), "default", name)
	if err != nil {
		t.Fatal(err)
	}
	h, err := deployment.History(context.Background(), c, d)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// scalingEvents returns the messages of the ScalingReplicaSet Events the
// deployment-controller recorded about d.
func scalingEvents(t *testing.T, c *client.Client, d *api.Deployment) []string {
	t.Helper()
	evs, _, err := client.For[api.Event](c).List(context.Background(), d.Namespace, client.ListOptions{FieldSelector: "involvedObject.name=" + d.Name})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, e := range evs {
		ref := e.InvolvedObject
		if ref.Kind == api.KindDeployment && ref.UID == d.UID && e.Source.Component == "deployment-controller" &&
			e.Reason == deployment.ReasonScalingReplicaSet && e.Type == api.EventTypeNormal {
			out = append(out, e.Message)
		}
	}
	return out
}

// TestRollingUpdate: 10 replicas roll to a new template, with the
// controllers restarted mid-rollout, and never fewer than
// replicas-maxUnavailable Ready pods nor more than replicas+maxSurge
// active, as seen from a watch; then roll back with Rollback, pause and
// resume.
func TestRollingUpdate(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 4, Hypervisors: 2, StartDelay: 100 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pw := watchPods(t, c.Admin, "web")
	stop := startManager(t, c)
	d := newDeployment("web", 10, "busybox:1")
	two, three := api.FromInt(2), api.FromString("30%")
	d.Spec.Strategy.RollingUpdate = &api.RollingUpdateDeployment{MaxUnavailable: &two, MaxSurge: &three}
	if _, err := client.For[api.Deployment](c.Admin).Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, complete(c.Admin, "web", "busybox:1"), "first rollout")
	controllerstest.WaitFor(t, func() bool { return pw.ready() == 10 }, "the watch to see 10 ready pods")
	pw.reset()

	update(t, c.Admin, "web", func(d *api.Deployment) {
		d.Spec.Template.Spec.Containers[0].Image = "busybox:2"
		d.Annotations = map[string]string{api.AnnotationChangeCause: "image busybox:2"}
	})
	// Restart the controllers once the new ReplicaSet has pods.
	controllerstest.WaitFor(t, func() bool {
		h := history(t, c.Admin, "web")
		return len(h) == 2 && h[1].Status.Replicas > 0
	}, "the new ReplicaSet to start")
	stop()
	startManager(t, c)
	controllerstest.WaitFor(t, complete(c.Admin, "web", "busybox:2"), "rolling update")
	minReady, maxTotal, _ := pw.extremes()
	if minReady < 8 || maxTotal > 13 {
		t.Fatalf("during the rollout: as few as %d Ready pods (want >= 8), as many as %d active (want <= 13)", minReady, maxTotal)
	}
	h := history(t, c.Admin, "web")
	if len(h) != 2 || deployment.Revision(h[0]) != 1 || deployment.Revision(h[1]) != 2 || *h[0].Spec.Replicas != 0 ||
		h[1].Annotations[api.AnnotationChangeCause] != "image busybox:2" || h[1].Labels[api.LabelPodTemplateHash] == "" {
		t.Fatalf("history after the update: %+v", h)
	}
	got, _ := client.For[api.Deployment](c.Admin).Get(ctx, "default", "web")
	if got.Annotations[api.AnnotationRevision] != "2" {
		t.Fatalf("deployment revision %q, want 2", got.Annotations[api.AnnotationRevision])
	}
	// The scalings are Events on the Deployment, worded as in Kubernetes,
	// each step its own Event.
	first := "Scaled up replica set " + h[0].Name + " from 0 to 10"
	down := "Scaled down replica set " + h[0].Name + " from "
	controllerstest.WaitFor(t, func() bool {
		msgs := scalingEvents(t, c.Admin, got)
		return slices.Contains(msgs, first) && slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, down) })
	}, "ScalingReplicaSet events: "+first+"; "+down+"...")

	// Roll back to revision 1: its ReplicaSet becomes revision 3.
	pw.reset()
	if rev, err := deployment.Rollback(ctx, c.Admin, "default", "web", 0); err != nil || rev != 1 {
		t.Fatalf("rollback: %d, %v", rev, err)
	}
	controllerstest.WaitFor(t, complete(c.Admin, "web", "busybox:1"), "rollback")
	h = history(t, c.Admin, "web")
	if len(h) != 2 || h[1].Spec.Template.Spec.Containers[0].Image != "busybox:1" || deployment.Revision(h[1]) != 3 {
		t.Fatalf("history after the rollback: %v %v", deployment.Revision(h[0]), deployment.Revision(h[1]))
	}
	if minReady, _, _ := pw.extremes(); minReady < 8 {
		t.Fatalf("as few as %d Ready pods during the rollback", minReady)
	}

	// Pause: a template change makes no ReplicaSet until resumed.
	update(t, c.Admin, "web", func(d *api.Deployment) { d.Spec.Paused = true })
	update(t, c.Admin, "web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:3" })
	controllerstest.WaitFor(t, func() bool {
		d, _ := client.For[api.Deployment](c.Admin).Get(ctx, "default", "web")
		p := api.DeploymentConditionByType(&d.Status, api.DeploymentProgressing)
		return d.Status.ObservedGeneration == d.Generation && p != nil && p.Reason == api.ReasonDeploymentPaused
	}, "paused condition")
	time.Sleep(300 * time.Millisecond)
	if h := history(t, c.Admin, "web"); len(h) != 2 {
		t.Fatalf("a paused deployment made a ReplicaSet: %d", len(h))
	}
	update(t, c.Admin, "web", func(d *api.Deployment) { d.Spec.Paused = false })
	controllerstest.WaitFor(t, complete(c.Admin, "web", "busybox:3"), "rollout after resume")
}

// TestRecreateAndDeadline: Recreate never runs old and new pods at once; a
// rollout whose pods never become Ready fails its progress deadline, and a
// rollout with a revision history limit of 1 keeps one old ReplicaSet.
func TestRecreateAndDeadline(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2, NotReadyPods: "stuck-"})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pw := watchPods(t, c.Admin, "batch")
	startManager(t, c)
	d := newDeployment("batch", 3, "busybox:1")
	d.Spec.Strategy.Type = api.RecreateDeploymentStrategyType
	one := int32(1)
	d.Spec.RevisionHistoryLimit = &one
	if _, err := client.For[api.Deployment](c.Admin).Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, complete(c.Admin, "batch", "busybox:1"), "first rollout")
	for _, img := range []string{"busybox:2", "busybox:3"} {
		update(t, c.Admin, "batch", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = img })
		controllerstest.WaitFor(t, complete(c.Admin, "batch", img), "recreate to "+img)
	}
	if _, _, mixed := pw.extremes(); mixed {
		t.Fatal("Recreate ran old and new pods at once")
	}
	controllerstest.WaitFor(t, func() bool { return len(history(t, c.Admin, "batch")) == 2 }, "history trimmed to 1 old ReplicaSet")

	s := newDeployment("stuck", 2, "busybox:1")
	pd := int32(2)
	s.Spec.ProgressDeadlineSeconds = &pd
	if _, err := client.For[api.Deployment](c.Admin).Create(ctx, s); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		d, _ := client.For[api.Deployment](c.Admin).Get(ctx, "default", "stuck")
		p := api.DeploymentConditionByType(&d.Status, api.DeploymentProgressing)
		return p != nil && p.Status == api.ConditionFalse && p.Reason == api.ReasonProgressDeadlineExceeded &&
			strings.Contains(p.Message, "timed out")
	}, "Progressing=False ProgressDeadlineExceeded")
}
