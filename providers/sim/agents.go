package sim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime/pprof"
	"sync"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/caas/simpods"
	"github.com/cloudmgr/cloud/client"
)

// agents runs the simulated nodes: their shared transports, the bound on
// requests in flight, the shared pod watch.
type agents struct {
	p   *Provider
	sem chan struct{}

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup

	mu     sync.Mutex
	closed bool
	// bases are clients without a token, one per server and CA: every
	// node of that server uses its transport (WithToken).
	bases map[string]*client.Client
	nodes map[string]*node // by node name
	pods  *simpods.Agent   // the shared pod agent (Config.Watch)
	// watching: the shared pod and node watches run.
	watching bool
}

func newAgents(p *Provider) *agents {
	ctx, cancel := context.WithCancel(context.Background())
	return &agents{p: p, sem: make(chan struct{}, p.cfg.MaxInFlight), ctx: ctx, cancel: cancel,
		bases: map[string]*client.Client{}, nodes: map[string]*node{}}
}

// parseBootstrap reads a config drive's bootstrap.json. The error names
// no part of the content (it holds a join token).
func parseBootstrap(data []byte) (*api.NodeBootstrap, error) {
	var b api.NodeBootstrap
	if err := json.Unmarshal(data, &b); err != nil {
		var se *json.SyntaxError
		if errors.As(err, &se) {
			return nil, fmt.Errorf("%s: invalid JSON at offset %d", api.NodeBootstrapFile, se.Offset)
		}
		return nil, fmt.Errorf("%s: not a node bootstrap", api.NodeBootstrapFile)
	}
	if b.Server == "" || b.JoinToken == "" || b.NodeName == "" {
		return nil, fmt.Errorf("%s: server, joinToken and nodeName are required", api.NodeBootstrapFile)
	}
	return &b, nil
}

// base returns the shared token-less client of a server.
func (a *agents) base(server string, ca []byte) (*client.Client, error) {
	key := server + "\x00" + string(ca)
	a.mu.Lock()
	defer a.mu.Unlock()
	if c, ok := a.bases[key]; ok {
		return c, nil
	}
	c, err := client.New(client.Config{Server: server, CAData: ca, UserAgent: "cloudmgr-sim/" + a.p.cfg.Name}, api.NewScheme())
	if err != nil {
		return nil, err
	}
	a.bases[key] = c
	return c, nil
}

// start runs the simulated node of m, which joins with boot.
func (a *agents) start(m *machine, boot *api.NodeBootstrap) {
	if a.p.cfg.ServerURL != "" {
		boot.Server = a.p.cfg.ServerURL
	}
	base, err := a.base(boot.Server, []byte(boot.CA))
	if err != nil {
		a.p.log.Warn("simulated node cannot reach its server: it will not join", "node", boot.NodeName, "err", err)
		return
	}
	n := newNode(a, m, boot, base)
	a.p.mu.Lock()
	if !a.p.live(m) {
		a.p.mu.Unlock()
		return // deleted or detached meanwhile
	}
	m.node = n
	a.p.mu.Unlock()
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	if old := a.nodes[n.name]; old != nil {
		defer a.stop(old)
	}
	a.nodes[n.name] = n
	if a.p.cfg.Watch != nil && !a.watching {
		a.watching = true
		a.pods = simpods.New(simpods.Options{Watch: a.p.cfg.Watch, Node: a.podClient, StartDelay: a.p.cfg.PodStartDelay, Log: a.p.log})
		a.wg.Go(func() { pprof.Do(a.ctx, profileLabels, func(ctx context.Context) { _ = a.pods.Run(ctx) }) })
		nodes := client.NewCache(a.p.cfg.Watch, client.For[api.Node](a.p.cfg.Watch).Kind(), "",
			client.ListOptions{LabelSelector: LabelSimulated + "=true"}, a.p.log)
		nodes.AddHandler(client.Handler{OnUpdate: func(_, obj api.Object) { a.nodeChanged(obj.(*api.Node)) }})
		a.wg.Go(func() { pprof.Do(a.ctx, profileLabels, func(ctx context.Context) { _ = nodes.Run(ctx) }) })
	}
	a.mu.Unlock()
	n.schedule(0)
}

// podClient is the client of a simulated node that acts on its pods now.
func (a *agents) podClient(name string) (*client.Client, bool) {
	a.mu.Lock()
	n := a.nodes[name]
	a.mu.Unlock()
	if n == nil {
		return nil, false
	}
	return n.podClient()
}

// nodeChanged has a simulated node that another writer marked not Ready
// (the node lifecycle controller, on a lease it saw late) write its
// status at its next heartbeat.
func (a *agents) nodeChanged(obj *api.Node) {
	for _, c := range obj.Status.Conditions {
		if c.Type == api.NodeReady && c.Status != api.ConditionTrue {
			if n := a.node(obj.Name); n != nil {
				n.statusDue()
			}
			return
		}
	}
}

// kick has the pod agent act on the pods of a node that became able to.
func (a *agents) kick(name string) {
	a.mu.Lock()
	pods := a.pods
	a.mu.Unlock()
	if pods != nil {
		pods.Kick(name)
	}
}

// stop ends a simulated node.
func (a *agents) stop(n *node) {
	a.mu.Lock()
	if a.nodes[n.name] == n {
		delete(a.nodes, n.name)
	}
	a.mu.Unlock()
	n.stop()
}

func (a *agents) node(name string) *node {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.nodes[name]
}

func (a *agents) list() []*node {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make([]*node, 0, len(a.nodes))
	for _, n := range a.nodes {
		out = append(out, n)
	}
	return out
}

// enter counts a step of a node under way, false once closed.
func (a *agents) enter() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return false
	}
	a.wg.Add(1)
	return true
}

func (a *agents) close() {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return
	}
	a.closed = true
	nodes := a.nodes
	a.nodes = map[string]*node{}
	a.mu.Unlock()
	a.cancel()
	for _, n := range nodes {
		n.stop()
	}
	a.wg.Wait()
}

// acquire takes a slot of the requests in flight.
func (a *agents) acquire(ctx context.Context) bool {
	select {
	case a.sem <- struct{}{}:
		return true
	case <-ctx.Done():
		return false
	}
}

func (a *agents) releaseSlot() { <-a.sem }
