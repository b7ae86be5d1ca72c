// Package controllerstest runs a cluster for controller integration tests:
// the real API server over real etcd, the real scheduler, and simulated
// nodes whose agent is SIMULATED: it runs no container. It marks the pods
// bound to its nodes Running and Ready (after an optional delay), and
// confirms their deletion the way cloudlet does once their containers
// would have stopped. Tests that need real containers use cloudlet and
// containerd (test/e2e).
package controllerstest

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/scheduler"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

// Options shape a simulated cluster.
type Options struct {
	// Nodes is the number of simulated nodes (named sim-0, sim-1, ...).
	Nodes int
	// Hypervisors spreads the nodes round-robin over hv-0..hv-(n-1) (default 1).
	Hypervisors int
	// CPU and Memory are each node's allocatable (default "32" and "128Gi").
	CPU, Memory string
	// StartDelay is how long a simulated pod takes from bound to Running.
	StartDelay time.Duration
	// NotReadyPods keeps pods whose name starts with this prefix Running but
	// not Ready (for readiness-gated rollouts); "" for none.
	NotReadyPods string
}

// Cluster is a running simulated cluster.
type Cluster struct {
	Env   *apiservertest.Env
	Admin *client.Client
	Nodes []string

	opts Options
	mu   sync.Mutex
	// paused nodes neither start nor confirm deletion of pods (a node that
	// stopped answering).
	paused map[string]bool
}

// Start runs a cluster until the test ends.
func Start(t testing.TB, opts Options) *Cluster {
	t.Helper()
	if opts.Hypervisors <= 0 {
		opts.Hypervisors = 1
	}
	if opts.CPU == "" {
		opts.CPU = "32"
	}
	if opts.Memory == "" {
		opts.Memory = "128Gi"
	}
	env := apiservertest.Start(t, apiservertest.Options{})
	c := &Cluster{Env: env, Admin: env.Admin, opts: opts, paused: map[string]bool{}}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait()
	})
	for i := range opts.Nodes {
		name := fmt.Sprintf("sim-%d", i)
		if err := c.AddNode(ctx, name, fmt.Sprintf("hv-%d", i%opts.Hypervisors)); err != nil {
			t.Fatalf("simulated node %s: %v", name, err)
		}
	}
	s, err := scheduler.New(scheduler.Config{Client: env.Scheduler, Profile: plugins.NewPodProfile(plugins.Options{}), Workers: 16})
	if err != nil {
		t.Fatal(err)
	}
	wg.Go(func() {
		if err := s.Run(ctx); err != nil {
			t.Errorf("scheduler: %v", err)
		}
	})
	pods := client.NewCache(env.Admin, client.For[api.Pod](env.Admin).Kind(), "", client.ListOptions{}, nil)
	pods.AddHandler(client.Handler{
		OnAdd:    func(o api.Object) { c.observe(ctx, &wg, o.(*api.Pod)) },
		OnUpdate: func(_, o api.Object) { c.observe(ctx, &wg, o.(*api.Pod)) },
	})
	wg.Go(func() { _ = pods.Run(ctx) })
	if !pods.WaitForSync(ctx) {
		t.Fatal("simulated agent: pod cache did not sync")
	}
	return c
}

// AddNode registers a Ready simulated node on a hypervisor.
func (c *Cluster) AddNode(ctx context.Context, name, hypervisor string) error {
	q := func(s string) api.Quantity { return api.MustParseQuantity(s) }
	alloc := api.ResourceList{api.ResourceCPU: q(c.opts.CPU), api.ResourceMemory: q(c.opts.Memory), api.ResourcePods: q("110")}
	n := &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{
			api.LabelHypervisor: hypervisor, api.LabelHostname: name, api.LabelZone: "zone-a", "cloudmgr.dev/simulated": "true"}},
		Status: api.NodeStatus{Capacity: alloc, Allocatable: alloc,
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, LastHeartbeatTime: api.Now(), Reason: "SimulatedAgentReady"}}},
	}
	if _, err := client.For[api.Node](c.Admin).Create(ctx, n); err != nil {
		return err
	}
	c.mu.Lock()
	c.Nodes = append(c.Nodes, name)
	c.mu.Unlock()
	return nil
}

// PauseNode makes a node's simulated agent stop acting (as if it died).
func (c *Cluster) PauseNode(name string, paused bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.paused[name] = paused
}

func (c *Cluster) isPaused(node string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused[node]
}

// observe acts on a pod as the node agent would, asynchronously.
func (c *Cluster) observe(ctx context.Context, wg *sync.WaitGroup, p *api.Pod) {
	if p.Spec.NodeName == "" || !strings.HasPrefix(p.Spec.NodeName, "sim-") || c.isPaused(p.Spec.NodeName) {
		return
	}
	switch {
	case p.DeletionTimestamp != nil:
		wg.Go(func() {
			zero := int64(0)
			_ = client.For[api.Pod](c.Admin).Delete(ctx, p.Namespace, p.Name, client.DeleteOptions{GracePeriodSeconds: &zero})
		})
	case p.Status.Phase == api.PodPending && p.Status.StartTime == nil:
		wg.Go(func() {
			if c.opts.StartDelay > 0 {
				select {
				case <-time.After(c.opts.StartDelay):
				case <-ctx.Done():
					return
				}
			}
			c.markRunning(ctx, p.Namespace, p.Name, p.UID)
		})
	}
}

func (c *Cluster) markRunning(ctx context.Context, ns, name, uid string) {
	pods := client.For[api.Pod](c.Admin)
	for ctx.Err() == nil {
		p, err := pods.Get(ctx, ns, name)
		if err != nil && !client.IsNotFound(err) && ctx.Err() == nil {
			time.Sleep(50 * time.Millisecond)
			continue
		}
		if err != nil || p.UID != uid || p.DeletionTimestamp != nil {
			return
		}
		ready := c.opts.NotReadyPods == "" || !strings.HasPrefix(name, c.opts.NotReadyPods)
		now := api.Now()
		p.Status.Phase = api.PodRunning
		p.Status.StartTime = &now
		p.Status.ContainerStatuses = nil
		for _, ctr := range p.Spec.Containers {
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, api.ContainerStatus{Name: ctr.Name, Image: ctr.Image,
				ImageID: "simulated", Ready: ready, State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: now}}})
		}
		st := api.ConditionFalse
		if ready {
			st = api.ConditionTrue
		}
		for _, t := range []api.PodConditionType{api.PodInitialized, api.ContainersReady, api.PodReady} {
			s := st
			if t == api.PodInitialized {
				s = api.ConditionTrue
			}
			api.SetPodCondition(&p.Status, api.PodCondition{Type: t, Status: s, Reason: "SimulatedAgent"})
		}
		_, err = pods.UpdateStatus(ctx, p)
		switch {
		case err == nil || client.IsNotFound(err):
			return
		case !client.IsConflict(err):
			// Throttled (429) or a transient failure under load: a real
			// agent retries its status report, and so does this one.
			select {
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
				return
			}
		}
	}
}
