package nodelifecycle_test

import (
	"context"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/job"
	"github.com/cloudmgr/cloud/controllers/nodelifecycle"
)

// renewer SIMULATES THE NODE AGENTS' lease renewals: controllerstest nodes
// renew no lease, so the test creates one per node and renews it every
// 500ms, except for stopped nodes.
type renewer struct {
	mu      sync.Mutex
	stopped map[string]bool
}

func (r *renewer) stop(node string, s bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped[node] = s
}

func (r *renewer) run(ctx context.Context, t *testing.T, c *client.Client, nodes []string) {
	leases := client.For[api.Lease](c)
	for ctx.Err() == nil {
		for _, n := range nodes {
			r.mu.Lock()
			stopped := r.stopped[n]
			r.mu.Unlock()
			if stopped {
				continue
			}
			now := api.Now()
			l, err := leases.Get(ctx, api.NamespaceNodeLease, n)
			if client.IsNotFound(err) {
				_, err = leases.Create(ctx, &api.Lease{ObjectMeta: api.ObjectMeta{Name: n, Namespace: api.NamespaceNodeLease},
					Spec: api.LeaseSpec{HolderIdentity: n, LeaseDurationSeconds: 2, RenewTime: &now}})
			} else if err == nil {
				l.Spec.RenewTime = &now
				_, err = leases.Update(ctx, l)
			}
			if err != nil && ctx.Err() == nil && !client.IsConflict(err) {
				t.Errorf("renew lease of %s: %v", n, err)
			}
		}
		select {
		case <-ctx.Done():
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func hasTaint(n *api.Node, key string) bool {
	for _, t := range n.Spec.Taints {
		if t.Key == key && t.Effect == api.TaintEffectNoExecute {
			return true
		}
	}
	return false
}

func TestNodeLostAndBack(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 3})
	ctx, cancel := context.WithCancel(context.Background())
	ren := &renewer{stopped: map[string]bool{}}
	var wg sync.WaitGroup
	wg.Go(func() { ren.run(ctx, t, c.Admin, c.Nodes) })
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	m := controllers.NewManager(c.Env.ControllerManager(t), log)
	if err := nodelifecycle.Setup(m, nodelifecycle.Options{GracePeriod: 3 * time.Second, EvictionTimeout: 2 * time.Second}); err != nil {
		t.Fatal(err)
	}
	if err := job.Setup(m, nil); err != nil {
		t.Fatal(err)
	}
	wg.Go(func() { _ = m.Run(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })

	pods := client.For[api.Pod](c.Admin)
	nodes := client.For[api.Node](c.Admin)
	six := int32(6)
	j := &api.Job{ObjectMeta: api.ObjectMeta{Name: "work", Namespace: "default"},
		Spec: api.JobSpec{Parallelism: &six, Completions: &six,
			Template: api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}
	if _, err := client.For[api.Job](c.Admin).Create(ctx, j); err != nil {
		t.Fatal(err)
	}
	// Bare pods on the node to lose: one without tolerations (evicted, not
	// replaced), one tolerating the unreachable taint forever (kept).
	for _, p := range []*api.Pod{
		{ObjectMeta: api.ObjectMeta{Name: "plain", Namespace: "default"},
			Spec: api.PodSpec{NodeName: "sim-0", Containers: []api.Container{{Name: "c", Image: "busybox"}}}},
		{ObjectMeta: api.ObjectMeta{Name: "tolerant", Namespace: "default"},
			Spec: api.PodSpec{NodeName: "sim-0", Containers: []api.Container{{Name: "c", Image: "busybox"}},
				Tolerations: []api.Toleration{{Key: nodelifecycle.TaintUnreachable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute}}}},
	} {
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	running := func(node string) (job, all int) {
		ps, _, err := pods.List(ctx, "default", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil && (node == "" || p.Spec.NodeName == node) {
				all++
				if len(p.OwnerReferences) > 0 {
					job++
				}
			}
		}
		return job, all
	}
	controllerstest.WaitFor(t, func() bool { n, _ := running(""); return n == 6 }, "6 running job pods")
	onLost, _ := running("sim-0")
	t.Logf("%d job pods on sim-0", onLost)

	// sim-0 dies: its agent stops renewing and acting.
	c.PauseNode("sim-0", true)
	ren.stop("sim-0", true)
	lost := time.Now()
	controllerstest.WaitFor(t, func() bool {
		n, err := nodes.Get(ctx, "", "sim-0")
		if err != nil {
			t.Fatal(err)
		}
		for _, cond := range n.Status.Conditions {
			if cond.Type == api.NodeReady && cond.Status == api.ConditionUnknown && cond.Reason == nodelifecycle.ReasonNodeStatusUnknown {
				return hasTaint(n, nodelifecycle.TaintUnreachable)
			}
		}
		return false
	}, "sim-0 Unknown and tainted unreachable")
	if d := time.Since(lost); d < 2*time.Second {
		t.Errorf("node marked unknown %v after it stopped, before the grace period", d)
	}
	for _, other := range []string{"sim-1", "sim-2"} {
		n, _ := nodes.Get(ctx, "", other)
		if hasTaint(n, nodelifecycle.TaintUnreachable) {
			t.Errorf("%s tainted though it renews its lease", other)
		}
	}
	// After the eviction timeout the job's pods are replaced elsewhere and
	// the plain pod is gone; the tolerant one stays.
	controllerstest.WaitFor(t, func() bool {
		_, err := pods.Get(ctx, "default", "plain")
		jobOn0, _ := running("sim-0")
		total, _ := running("")
		return client.IsNotFound(err) && jobOn0 == 0 && total == 6
	}, "pods evicted from sim-0 and replaced elsewhere")
	if _, err := pods.Get(ctx, "default", "tolerant"); err != nil {
		t.Errorf("tolerant pod: %v", err)
	}
	controllerstest.WaitFor(t, func() bool {
		evs, _, _ := client.For[api.Event](c.Admin).List(ctx, "default", client.ListOptions{})
		for _, e := range evs {
			if e.Reason == nodelifecycle.ReasonEviction && e.InvolvedObject.Name == "plain" {
				return true
			}
		}
		return false
	}, "eviction event for the plain pod")

	// sim-0 comes back: the taint goes; the job keeps 6 pods.
	ren.stop("sim-0", false)
	c.PauseNode("sim-0", false)
	controllerstest.WaitFor(t, func() bool {
		n, _ := nodes.Get(ctx, "", "sim-0")
		return !hasTaint(n, nodelifecycle.TaintUnreachable)
	}, "unreachable taint removed from sim-0")
	time.Sleep(time.Second)
	if n, _ := running(""); n != 6 {
		t.Errorf("%d job pods running after the node came back, want 6", n)
	}
}
