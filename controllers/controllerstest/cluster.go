// Package controllerstest runs a cluster for controller integration tests:
// the real API server over real etcd, the real scheduler, and simulated
// nodes whose agent is SIMULATED (caas/simpods): it runs no container. It
// marks the pods bound to its nodes Running and Ready (after an optional
// delay), and confirms their deletion the way cloudlet does once their
// containers would have stopped. Tests that need real containers use cloudlet and
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
	"github.com/cloudmgr/cloud/caas/simpods"
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
	pods   *simpods.Agent
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
	c.pods = simpods.New(simpods.Options{
		Watch: env.Admin,
		Node: func(node string) (*client.Client, bool) {
			return c.Admin, strings.HasPrefix(node, "sim-") && !c.isPaused(node)
		},
		StartDelay: opts.StartDelay,
		Ready: func(p *api.Pod) bool {
			return opts.NotReadyPods == "" || !strings.HasPrefix(p.Name, opts.NotReadyPods)
		},
	})
	wg.Go(func() { _ = c.pods.Run(ctx) })
	if !c.pods.WaitForSync(ctx) {
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
	c.paused[name] = paused
	c.mu.Unlock()
	if !paused {
		c.pods.Kick(name)
	}
}

func (c *Cluster) isPaused(node string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.paused[node]
}
