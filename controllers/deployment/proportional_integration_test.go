package deployment_test

import (
	"context"
	"sync"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
)

// TestScaleMidRollout: a Deployment of 10 (25%/25%) is rolled to a new
// template whose pods never start (the simulated nodes are paused), so
// the rollout stops at 8 old and 5 new (13 = replicas+maxSurge). Scaled
// to 20 there, the 12 more replicas are shared in proportion: old 15, new
// 10 (25 = 20+maxSurge), which keeps replicas-maxUnavailable pods of the
// old template. Putting the whole change on the new ReplicaSet instead
// would give it 17 pods, none of them available, and leave 8 old ones.
func TestScaleMidRollout(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	startManager(t, c)
	if _, err := client.For[api.Deployment](c.Admin).Create(ctx, newDeployment("web", 10, "busybox:1")); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, complete(c.Admin, "web", "busybox:1"), "first rollout")
	for _, n := range c.Nodes {
		c.PauseNode(n, true)
	}
	// Follow the new ReplicaSet's replicas from a watch.
	var mu sync.Mutex
	maxNew := int32(0)
	w, err := client.For[api.ReplicaSet](c.Admin).Watch(ctx, "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	go func() {
		for ev := range w.Events() {
			if rs, ok := ev.Object.(*api.ReplicaSet); ok && rs.Spec.Template.Spec.Containers[0].Image == "busybox:2" {
				mu.Lock()
				maxNew = max(maxNew, *rs.Spec.Replicas)
				mu.Unlock()
			}
		}
	}()
	sizes := func() (old, cur int32) {
		for _, rs := range history(t, c.Admin, "web") {
			if rs.Spec.Template.Spec.Containers[0].Image == "busybox:2" {
				cur = *rs.Spec.Replicas
			} else {
				old += *rs.Spec.Replicas
			}
		}
		return old, cur
	}
	update(t, c.Admin, "web", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	controllerstest.WaitFor(t, func() bool { o, n := sizes(); return o == 8 && n == 5 }, "the rollout to stop at 8 old and 5 new")
	update(t, c.Admin, "web", func(d *api.Deployment) { d.Spec.Replicas = ptr(int32(20)) })
	controllerstest.WaitFor(t, func() bool { o, n := sizes(); return o == 15 && n == 10 }, "the rollout to settle at 15 old and 10 new")
	mu.Lock()
	defer mu.Unlock()
	if maxNew > 10 {
		t.Fatalf("the new ReplicaSet was scaled to %d: the scale-up was not shared", maxNew)
	}
	for _, rs := range history(t, c.Admin, "web") {
		if rs.Annotations[api.AnnotationDesiredReplicas] != "20" && *rs.Spec.Replicas > 0 {
			t.Errorf("replicaset %s annotated desired %q, want 20", rs.Name, rs.Annotations[api.AnnotationDesiredReplicas])
		}
		if rs.Annotations[api.AnnotationMaxReplicas] != "25" && *rs.Spec.Replicas > 0 {
			t.Errorf("replicaset %s annotated max %q, want 25", rs.Name, rs.Annotations[api.AnnotationMaxReplicas])
		}
	}
}

func ptr[T any](v T) *T { return &v }
