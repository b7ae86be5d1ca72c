package sim

import (
	"fmt"
	"slices"
	"strings"
)

// usageSettings are the CPU fractions set at run time. Guarded by the
// provider's mutex.
type usageSettings struct {
	nodes map[string]float64
	pools map[string]float64
}

// cpuUsage is the fraction of its CPUs node (of pool) reports busy: the
// node's own setting, else its pool's, else Config.CPUUsage.
func (p *Provider) cpuUsage(node, pool string) float64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f, ok := p.usage.nodes[node]; ok {
		return f
	}
	if f, ok := p.usage.pools[pool]; ok && pool != "" {
		return f
	}
	return p.cfg.CPUUsage
}

func checkFraction(f float64) error {
	if f < 0 || f > 1 {
		return fmt.Errorf("sim: CPU usage %v: want a fraction between 0 and 1", f)
	}
	return nil
}

// SetNodeCPUUsage sets the fraction (0..1) of its CPUs a simulated node
// reports busy; the node writes it at its next heartbeat.
func (p *Provider) SetNodeCPUUsage(node string, fraction float64) error {
	if err := checkFraction(fraction); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.usage.nodes[node] = fraction
	return nil
}

// SetPoolCPUUsage sets the fraction (0..1) of their CPUs the simulated
// nodes of a NodePool report busy, now and later ones, unless a node has
// its own setting.
func (p *Provider) SetPoolCPUUsage(pool string, fraction float64) error {
	if err := checkFraction(fraction); err != nil {
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.usage.pools[pool] = fraction
	return nil
}

// PauseNode stops a simulated node's agent (no heartbeats, no pod
// actions: a node that stopped answering), or resumes it. It reports
// whether there is such a node.
func (p *Provider) PauseNode(name string, paused bool) bool {
	n := p.agents.node(name)
	if n == nil {
		return false
	}
	n.setPaused(paused)
	return true
}

// NodeState is what a simulated node agent has done.
type NodeState struct {
	Name string
	// Joined: it holds a node credential; Registered: its Node, status
	// and lease are written and it heartbeats.
	Joined, Registered bool
	Paused             bool
	// Heartbeats counts the lease renewals after registration.
	Heartbeats int
}

// Nodes returns the running simulated nodes, sorted by name.
func (p *Provider) Nodes() []NodeState {
	var out []NodeState
	for _, n := range p.agents.list() {
		n.mu.Lock()
		out = append(out, NodeState{Name: n.name, Joined: n.c != nil, Registered: n.phase == phaseRun, Paused: n.paused, Heartbeats: n.heartbeats})
		n.mu.Unlock()
	}
	slices.SortFunc(out, func(a, b NodeState) int { return strings.Compare(a.Name, b.Name) })
	return out
}
