package sim_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/providers/sim"
)

// With a per-pod usage set, a simulated node reports its running pods'
// sum (at most its CPUs), PodCPU answers the pods' figures, a node's own
// setting still wins, and unsetting it brings back Config.CPUUsage.
func TestPodCPUUsage(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	p, err := sim.New(sim.Config{Cloud: true, HeartbeatInterval: 200 * time.Millisecond, CPUUsage: 0.25,
		Watch: env.Scheduler, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	createNodes(t, env, p, "use", 3) // 4 CPUs each
	controllerstest.WaitFor(t, func() bool { return len(readyNodes(t, env.Admin)) == 3 }, "3 Ready nodes")
	p.SetPodCPUUsage(func(pod *api.Pod) (int64, bool) {
		switch pod.Labels["load"] {
		case "busy":
			return 700, true
		case "huge":
			return 5000, true
		}
		return 0, false
	})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	for _, pp := range []struct{ name, node, load string }{
		{"a", "use-0", "busy"}, {"b", "use-0", "busy"}, {"c", "use-0", ""}, {"d", "use-1", "huge"}, {"e", "use-2", "busy"},
	} {
		pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: pp.name, Namespace: "default", Labels: map[string]string{"load": pp.load}},
			Spec: api.PodSpec{NodeName: pp.node, Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
		if _, err := pods.Create(ctx, pod); err != nil {
			t.Fatal(err)
		}
	}
	if err := p.SetNodeCPUUsage("use-2", 0.5); err != nil {
		t.Fatal(err)
	}
	// A pod bound to no node of this provider has no figure.
	stranger := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "x", Namespace: "default", Labels: map[string]string{"load": "busy"}},
		Spec: api.PodSpec{NodeName: "elsewhere"}, Status: api.PodStatus{Phase: api.PodRunning}}
	used := func(node string) int64 {
		n, err := client.For[api.Node](env.Admin).Get(ctx, "", node)
		if err != nil || n.Status.Usage == nil {
			return -1
		}
		return n.Status.Usage.Pods.Cpu().MilliValue()
	}
	controllerstest.WaitFor(t, func() bool {
		return used("use-0") == 1400 && used("use-1") == 4000 && used("use-2") == 2000
	}, "nodes to report their pods' use (1400m, capped 4000m, own 2000m)")
	list, _, err := pods.List(ctx, "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	got, err := p.PodCPU(ctx, "default", append(list, stranger))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 4 || got["a"] != 700 || got["b"] != 700 || got["d"] != 5000 || got["e"] != 700 {
		t.Fatalf("PodCPU = %v, want a, b, e 700 and d 5000 (c has no figure, x is elsewhere)", got)
	}
	p.SetPodCPUUsage(nil)
	controllerstest.WaitFor(t, func() bool { return used("use-0") == 1000 && used("use-1") == 1000 }, "Config.CPUUsage back")
	if got, _ := p.PodCPU(ctx, "default", list); len(got) != 0 {
		t.Fatalf("PodCPU with no usage set = %v", got)
	}
}
