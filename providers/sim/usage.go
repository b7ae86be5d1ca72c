package sim

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/cloudmgr/cloud/api"
)

// usageSettings are the CPU fractions set at run time. Guarded by the
// provider's mutex.
type usageSettings struct {
	nodes map[string]float64
	pools map[string]float64
	pod   PodCPUFunc
}

// PodCPUFunc gives the CPU a pod uses, in millicores; ok false: no figure.
type PodCPUFunc func(p *api.Pod) (milli int64, ok bool)

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

// SetPodCPUUsage sets the CPU the pods running on the simulated nodes use
// (nil: unset). While it is set, a node without its own SetNodeCPUUsage
// setting reports in status.usage the sum of its running pods' figures
// (at most its CPUs) instead of its pool's fraction or Config.CPUUsage,
// and PodCPU answers the pods' figures. The nodes write the new figures
// at their next heartbeat.
func (p *Provider) SetPodCPUUsage(f PodCPUFunc) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.usage.pod = f
}

// PodCPU returns, by pod name, the CPU in millicores of those of pods that
// run on this provider's simulated nodes and that the SetPodCPUUsage
// function gives a figure for. Simulated nodes serve no pod metrics to
// the API server, so this stands in for the pod metrics API: it is a
// MetricsSource of the workload autoscaler (controllers/hpa).
func (p *Provider) PodCPU(_ context.Context, _ string, pods []*api.Pod) (map[string]int64, error) {
	p.mu.Lock()
	f := p.usage.pod
	p.mu.Unlock()
	out := map[string]int64{}
	if f == nil {
		return out, nil
	}
	for _, pod := range pods {
		if !running(pod) || p.agents.node(pod.Spec.NodeName) == nil {
			continue
		}
		if m, ok := f(pod); ok {
			out[pod.Name] = m
		}
	}
	return out, nil
}

// running reports whether a pod is bound and running.
func running(pod *api.Pod) bool {
	return pod.Spec.NodeName != "" && pod.DeletionTimestamp == nil && pod.Status.Phase == api.PodRunning
}

// usedMilli is the CPU, in millicores, node n reports busy: its own
// fraction if set, else its running pods' sum if SetPodCPUUsage is set,
// else its pool's fraction or Config.CPUUsage.
func (n *node) usedMilli() int64 {
	p := n.a.p
	total := int64(n.cpus) * 1000
	p.mu.Lock()
	_, own := p.usage.nodes[n.name]
	f := p.usage.pod
	p.mu.Unlock()
	if own || f == nil {
		return int64(p.cpuUsage(n.name, n.pool) * float64(total))
	}
	var sum int64
	for _, pod := range n.pods() {
		if !running(pod) {
			continue
		}
		if m, ok := f(pod); ok {
			sum += m
		}
	}
	return min(sum, total)
}

// pods are the pods bound to the node, as its pod agent last saw them.
func (n *node) pods() []*api.Pod {
	n.mu.Lock()
	own := n.ownPods
	n.mu.Unlock()
	if own != nil {
		return own.Pods(n.name)
	}
	n.a.mu.Lock()
	shared := n.a.pods
	n.a.mu.Unlock()
	if shared == nil {
		return nil
	}
	return shared.Pods(n.name)
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
