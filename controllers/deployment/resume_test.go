package deployment_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/deployment"
)

// TestRolloutResumesAfterCrash: a 10-replica Deployment with maxSurge 2
// and maxUnavailable 1 rolls to a new template while its controllers
// crash twice mid-rollout (the Manager is cancelled: caches, queues,
// ReplicaSet expectations and everything else in memory are dropped, and
// pods keep becoming Ready while no controller runs). Each time a fresh
// Manager starts from what the API server stores. The rollout completes:
// one new ReplicaSet (no duplicate from a forgotten hash), all 10 pods of
// its hash, the old ReplicaSet at 0, exactly 10 new pods ever created
// (nothing redone), and a watch over every pod event proves active pods
// never exceeded 12 nor Ready pods fell below 9.
func TestRolloutResumesAfterCrash(t *testing.T) {
	const replicas, maxSurge, maxUnavailable = 10, 2, 1
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 4, StartDelay: 400 * time.Millisecond})
	ctx := context.Background()

	armed := false // once the first template's 10 pods are Ready
	newPods := map[string]bool{}
	var newHash string // set before the template changes
	pw := controllerstest.WatchPods(t, c.Admin, "default", "app=resume", func(pods map[string]*api.Pod) string {
		ready, active := controllerstest.CountPods(pods)
		for _, p := range pods {
			if newHash != "" && p.Labels[api.LabelPodTemplateHash] == newHash {
				newPods[p.Name] = true
			}
		}
		if !armed {
			armed = ready == replicas
		}
		if active > replicas+maxSurge || (armed && ready < replicas-maxUnavailable) {
			return fmt.Sprintf("%d Ready (min %d), %d active (max %d):%s",
				ready, replicas-maxUnavailable, active, replicas+maxSurge, controllerstest.PodSummary(pods))
		}
		return ""
	})

	stop := startManager(t, c)
	d := newDeployment("resume", replicas, "busybox:1")
	surge, unavail := api.FromInt(maxSurge), api.FromInt(maxUnavailable)
	d.Spec.Strategy.RollingUpdate = &api.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavail}
	if _, err := client.For[api.Deployment](c.Admin).Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, complete(c.Admin, "resume", "busybox:1"), "first rollout")
	controllerstest.WaitFor(t, func() bool {
		var ok bool
		pw.Inspect(func(map[string]*api.Pod) { ok = armed })
		return ok
	}, "the watch to see 10 Ready pods")

	// The new template's hash is known before any of its pods exists, so
	// the watch counts every pod of it ever created.
	stop()
	update(t, c.Admin, "resume", func(d *api.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "busybox:2" })
	got, err := client.For[api.Deployment](c.Admin).Get(ctx, "default", "resume")
	if err != nil {
		t.Fatal(err)
	}
	pw.Inspect(func(map[string]*api.Pod) { newHash = deployment.TemplateHash(&got.Spec.Template) })
	stop = startManager(t, c)

	// Crash when the new ReplicaSet has some pods, and again when about
	// half of them are Ready; the pods keep starting while nothing runs.
	for _, atReady := range []int32{0, 5} {
		controllerstest.WaitFor(t, func() bool {
			h := history(t, c.Admin, "resume")
			return len(h) == 2 && h[1].Status.Replicas > 0 && h[1].Status.ReadyReplicas >= atReady && h[1].Status.ReadyReplicas < replicas
		}, fmt.Sprintf("the new ReplicaSet to have pods, %d of them Ready", atReady))
		stop()
		time.Sleep(600 * time.Millisecond)
		stop = startManager(t, c)
	}
	controllerstest.WaitFor(t, complete(c.Admin, "resume", "busybox:2"), "the rollout after the crashes")

	h := history(t, c.Admin, "resume")
	if len(h) != 2 {
		t.Fatalf("%d ReplicaSets after the rollout, want 2 (the old and one new)", len(h))
	}
	old, cur := h[0], h[1]
	if cur.Labels[api.LabelPodTemplateHash] != newHash {
		t.Fatalf("the new ReplicaSet has hash %q, want %q", cur.Labels[api.LabelPodTemplateHash], newHash)
	}
	controllerstest.WaitFor(t, func() bool {
		rs, err := client.For[api.ReplicaSet](c.Admin).Get(ctx, "default", old.Name)
		return err == nil && *rs.Spec.Replicas == 0 && rs.Status.Replicas == 0
	}, "the old ReplicaSet at 0")
	controllerstest.WaitFor(t, func() bool {
		pods, _, err := client.For[api.Pod](c.Admin).List(ctx, "default", client.ListOptions{LabelSelector: "app=resume"})
		if err != nil || len(pods) != replicas {
			return false
		}
		for _, p := range pods {
			if p.Labels[api.LabelPodTemplateHash] != newHash || !controllers.IsPodReady(p) {
				return false
			}
		}
		return true
	}, "10 Ready pods, all of the new template")
	violation, events := pw.Result()
	if violation != "" {
		t.Fatalf("the rollout across the crashes broke maxSurge/maxUnavailable: %s", violation)
	}
	if len(newPods) != replicas {
		t.Fatalf("%d pods of the new template were ever created, want %d (the restarted controllers redid work)", len(newPods), replicas)
	}
	t.Logf("the watch checked %d pod events", events)
}
