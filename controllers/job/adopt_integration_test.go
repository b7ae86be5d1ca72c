package job_test

import (
	"context"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
)

func batchPods(ctx context.Context, t *testing.T, c *controllerstest.Cluster, sel string) []*api.Pod {
	t.Helper()
	ps, _, err := client.For[api.Pod](c.Admin).List(ctx, "default", client.ListOptions{LabelSelector: sel})
	if err != nil {
		t.Fatal(err)
	}
	return ps
}

// TestJobAdoptsAndReleases: a Job with a manual selector adopts a running
// orphan pod that matches it (and creates only the rest of its
// parallelism), and releases a pod relabelled out of its selector,
// replacing it.
func TestJobAdoptsAndReleases(t *testing.T) {
	c, ctx := start(t)
	pods := client.For[api.Pod](c.Admin)
	orphan := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "orphan", Namespace: "default", Labels: map[string]string{"app": "batch"}},
		Spec: api.PodSpec{RestartPolicy: api.RestartPolicyNever, Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := pods.Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	manual := true
	j, err := client.For[api.Job](c.Admin).Create(ctx, newJob("adopter", func(s *api.JobSpec) {
		s.ManualSelector = &manual
		s.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "batch"}}
		s.Template.Labels = map[string]string{"app": "batch"}
		s.Parallelism, s.Completions = i32(2), i32(4)
	}))
	if err != nil {
		t.Fatal(err)
	}
	ownedBy := func(p *api.Pod) bool {
		ref := controllers.ControllerRef(p)
		return ref != nil && ref.UID == j.UID && ref.Kind == api.KindJob
	}
	controllerstest.WaitFor(t, func() bool {
		ps := batchPods(ctx, t, c, "app=batch")
		n := 0
		for _, p := range ps {
			if ownedBy(p) {
				n++
			}
		}
		return n == 2 && countRunning(ps) == 2
	}, "the orphan adopted and one more pod running")
	ps := batchPods(ctx, t, c, "app=batch")
	if len(ps) != 2 {
		t.Fatalf("%d pods, want the adopted orphan and one new", len(ps))
	}
	got, err := pods.Get(ctx, "default", "orphan")
	if err != nil || !ownedBy(got) {
		t.Fatalf("orphan not adopted: %v %+v", err, got)
	}

	got.Labels["app"] = "elsewhere"
	if _, err := pods.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		p, err := pods.Get(ctx, "default", "orphan")
		return err == nil && controllers.ControllerRef(p) == nil
	}, "the relabelled pod released")
	controllerstest.WaitFor(t, func() bool {
		ps := batchPods(ctx, t, c, "app=batch")
		return len(ps) == 2 && countRunning(ps) == 2 && ownedBy(ps[0]) && ownedBy(ps[1])
	}, "a replacement for the released pod")
	if n := len(batchPods(ctx, t, c, "app=elsewhere")); n != 1 {
		t.Fatalf("%d released pods, want 1 (left running, not deleted)", n)
	}
}
