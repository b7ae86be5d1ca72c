package daemonset_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/daemonset"
)

func TestDaemonSet(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2})
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	controllerstest.RunManager(t, c.Env.ControllerManager(t), log, daemonset.Setup)

	dsAPI := client.For[api.DaemonSet](c.Admin)
	pods := client.For[api.Pod](c.Admin)
	nodes := client.For[api.Node](c.Admin)
	ds, err := dsAPI.Create(ctx, &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "agent", Namespace: "default"},
		Spec: api.DaemonSetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "agent"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	// placement is "node:hash" of each running pod, sorted.
	placement := func() string {
		ps, _, err := pods.List(ctx, "default", client.ListOptions{LabelSelector: "app=agent"})
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, p := range ps {
			if p.DeletionTimestamp == nil && p.Status.Phase == api.PodRunning {
				out = append(out, p.Spec.NodeName)
			}
		}
		sort.Strings(out)
		return strings.Join(out, " ")
	}
	status := func() api.DaemonSetStatus {
		d, err := dsAPI.Get(ctx, "default", "agent")
		if err != nil {
			t.Fatal(err)
		}
		return d.Status
	}
	controllerstest.WaitFor(t, func() bool { return placement() == "sim-0 sim-1" }, "one pod on each node")
	controllerstest.WaitFor(t, func() bool { s := status(); return s.DesiredNumberScheduled == 2 && s.NumberReady == 2 }, "status 2 desired, 2 ready")

	// The scheduler placed them: the pods carry the pinning affinity.
	ps, _, _ := pods.List(ctx, "default", client.ListOptions{LabelSelector: "app=agent"})
	for _, p := range ps {
		if daemonset.NodeOf(p) != p.Spec.NodeName || p.Labels[api.LabelControllerRevHash] == "" {
			t.Errorf("pod %s: pinned to %q, bound to %q, hash %q", p.Name, daemonset.NodeOf(p), p.Spec.NodeName, p.Labels[api.LabelControllerRevHash])
		}
	}

	// A node joins: it gets a pod. A cordoned node keeps its pod.
	if err := c.AddNode(ctx, "sim-2", "hv-0"); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return placement() == "sim-0 sim-1 sim-2" }, "a pod on the new node")
	// A node with a taint the template does not tolerate stops matching.
	n, _ := nodes.Get(ctx, "", "sim-2")
	n.Spec.Taints = append(n.Spec.Taints, api.Taint{Key: "dedicated", Value: "db", Effect: api.TaintEffectNoSchedule})
	if _, err := nodes.Update(ctx, n); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return placement() == "sim-0 sim-1" }, "the pod on the tainted node removed")
	// A node that leaves loses its pod.
	if err := nodes.Delete(ctx, "", "sim-1", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return placement() == "sim-0" }, "the pod of the deleted node removed")
	controllerstest.WaitFor(t, func() bool { s := status(); return s.DesiredNumberScheduled == 1 && s.CurrentNumberScheduled == 1 }, "status 1 desired")

	// Rolling update across two more nodes, one node at a time.
	for i := 3; i < 5; i++ {
		if err := c.AddNode(ctx, fmt.Sprintf("sim-%d", i), "hv-0"); err != nil {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool { return placement() == "sim-0 sim-3 sim-4" }, "pods on 3 nodes")
	for {
		// The controller writes the status meanwhile: retry conflicts.
		if ds, err = dsAPI.Get(ctx, "default", "agent"); err != nil {
			t.Fatal(err)
		}
		ds.Spec.Template.Spec.Containers[0].Image = "busybox:2"
		if ds, err = dsAPI.Update(ctx, ds); err == nil {
			break
		} else if !client.IsConflict(err) {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool {
		s := status()
		return s.ObservedGeneration >= ds.Generation && s.UpdatedNumberScheduled == 3 && s.NumberReady == 3 && s.DesiredNumberScheduled == 3
	}, "all pods updated and ready")
	ps, _, _ = pods.List(ctx, "default", client.ListOptions{LabelSelector: "app=agent"})
	for _, p := range ps {
		if p.DeletionTimestamp == nil && p.Spec.Containers[0].Image != "busybox:2" {
			t.Errorf("pod %s still runs %s", p.Name, p.Spec.Containers[0].Image)
		}
	}
}

// TestDaemonSetMinReadySeconds: pods count as available only after being
// Ready for minReadySeconds; nothing changes on the cluster by then, so
// the status reaching every node available shows that the controller
// looked again after the remaining time.
func TestDaemonSetMinReadySeconds(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2})
	ctx := context.Background()
	controllerstest.RunManager(t, c.Env.ControllerManager(t), nil, daemonset.Setup)

	dsAPI := client.For[api.DaemonSet](c.Admin)
	if _, err := dsAPI.Create(ctx, &api.DaemonSet{ObjectMeta: api.ObjectMeta{Name: "slow", Namespace: "default"},
		Spec: api.DaemonSetSpec{MinReadySeconds: 2, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "slow"}},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "slow"}},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}); err != nil {
		t.Fatal(err)
	}
	status := func() api.DaemonSetStatus {
		d, err := dsAPI.Get(ctx, "default", "slow")
		if err != nil {
			t.Fatal(err)
		}
		return d.Status
	}
	controllerstest.WaitFor(t, func() bool { return status().NumberReady == 2 }, "2 pods ready")
	controllerstest.WaitFor(t, func() bool { s := status(); return s.NumberAvailable == 2 && s.NumberUnavailable == 0 }, "2 pods available")
	ps, _, err := client.For[api.Pod](c.Admin).List(ctx, "default", client.ListOptions{LabelSelector: "app=slow"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if since := controllers.PodReadySince(p); since.IsZero() || time.Since(since) < 2*time.Second {
			t.Errorf("pod %s counted available, Ready since %v", p.Name, since)
		}
	}
}
