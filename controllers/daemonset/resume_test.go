package daemonset_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/daemonset"
)

// startManager runs a fresh manager (its own caches and queues) with the
// DaemonSet controller until stop is called or the test ends.
func startManager(t *testing.T, c *controllerstest.Cluster) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	m := controllers.NewManager(c.Env.ControllerManager(t), nil)
	if err := daemonset.Setup(m); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

// TestDaemonSetRollingUpdateResumesAfterCrash: a DaemonSet on 4 nodes
// rolls to a new image (maxUnavailable 1) while its controller crashes
// mid-rollout and a fresh Manager takes over from the stored state. A
// watch over every pod event proves no node ever ran two active pods and
// at most one node lacked a Ready pod; the rollout ends with one pod of
// the new image per node, exactly 4 of them ever created.
func TestDaemonSetRollingUpdateResumesAfterCrash(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 4, StartDelay: 300 * time.Millisecond})
	ctx := context.Background()
	armed := false
	newPods := map[string]bool{}
	pw := controllerstest.WatchPods(t, c.Admin, "default", "app=agent", func(pods map[string]*api.Pod) string {
		perNode, readyOn := map[string]int{}, map[string]bool{}
		for _, p := range pods {
			if p.Spec.Containers[0].Image == "busybox:2" {
				newPods[p.Name] = true
			}
			if controllers.IsPodActive(p) {
				perNode[daemonset.NodeOf(p)]++
				readyOn[daemonset.NodeOf(p)] = readyOn[daemonset.NodeOf(p)] || controllers.IsPodReady(p)
			}
		}
		if !armed {
			armed = len(readyOn) == 4 && !anyFalse(readyOn)
			return ""
		}
		unready := 0
		for _, n := range c.Nodes {
			if !readyOn[n] {
				unready++
			}
		}
		for n, k := range perNode {
			if k > 1 {
				return fmt.Sprintf("%d active pods on %s:%s", k, n, controllerstest.PodSummary(pods))
			}
		}
		if unready > 1 {
			return fmt.Sprintf("%d nodes without a Ready pod (maxUnavailable 1):%s", unready, controllerstest.PodSummary(pods))
		}
		return ""
	})
	stop := startManager(t, c)
	dsAPI := client.For[api.DaemonSet](c.Admin)
	ds, err := dsAPI.Create(ctx, &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: api.DaemonSetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox:1"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		var ok bool
		pw.Inspect(func(map[string]*api.Pod) { ok = armed })
		return ok
	}, "a Ready pod on each of the 4 nodes")

	for {
		ds, _ = dsAPI.Get(ctx, "default", "agent")
		ds.Spec.Template.Spec.Containers[0].Image = "busybox:2"
		if ds, err = dsAPI.Update(ctx, ds); err == nil {
			break
		} else if !client.IsConflict(err) {
			t.Fatal(err)
		}
	}
	status := func() api.DaemonSetStatus {
		d, err := dsAPI.Get(ctx, "default", "agent")
		if err != nil {
			t.Fatal(err)
		}
		return d.Status
	}
	controllerstest.WaitFor(t, func() bool {
		var n int
		pw.Inspect(func(map[string]*api.Pod) { n = len(newPods) })
		return n >= 1 && n < 4
	}, "the rollout under way")
	stop()
	time.Sleep(500 * time.Millisecond) // the new pod starts while nothing runs
	startManager(t, c)
	controllerstest.WaitFor(t, func() bool {
		s := status()
		return s.ObservedGeneration >= ds.Generation && s.UpdatedNumberScheduled == 4 && s.NumberReady == 4 && s.DesiredNumberScheduled == 4
	}, "all 4 pods updated and Ready after the restart")
	controllerstest.WaitFor(t, func() bool {
		ps, _, err := client.For[api.Pod](c.Admin).List(ctx, "default", client.ListOptions{LabelSelector: "app=agent"})
		if err != nil || len(ps) != 4 {
			return false
		}
		for _, p := range ps {
			if p.Spec.Containers[0].Image != "busybox:2" {
				return false
			}
		}
		return true
	}, "4 pods, all of the new image")
	violation, _ := pw.Result()
	if violation != "" {
		t.Fatalf("the rolling update across the crash: %s", violation)
	}
	if len(newPods) != 4 {
		t.Fatalf("%d pods of the new image ever created, want 4", len(newPods))
	}
}

// anyFalse reports whether some value of m is false.
func anyFalse(m map[string]bool) bool {
	for _, v := range m {
		if !v {
			return true
		}
	}
	return false
}
