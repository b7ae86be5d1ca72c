package sim

import (
	"fmt"
	"time"

	"github.com/cloudmgr/cloud/iaas"
)

// Guest is a machine that ANOTHER provider made, in which a simulated node
// agent is to run: a test double's server (the OpenStack double's, say)
// whose "guest OS" is simulated, so that a machine of a real provider
// against a double joins the cluster as a node.
type Guest struct {
	// Name names the guest, for Detach; its node joins with the name of
	// its bootstrap data.
	Name string
	// Bootstrap is the content of the guest's bootstrap.json
	// (api.NodeBootstrapFile): server, CA, single-use join token, node
	// name, labels.
	Bootstrap []byte
	// CPUs and MemoryMiB are the machine's size, which its node reports
	// (Config.NodeCPUs and NodeMemoryMiB win when set, as for the
	// simulator's own machines).
	CPUs      int32
	MemoryMiB int64
	// Pool is the guest's NodePool, whose CPU usage SetPoolCPUUsage sets.
	Pool string
	// Host is where it runs and Address its IP, as the node reports them
	// (Address defaults to one of 10.128.0.0/10).
	Host, Address string
}

// Attach runs a simulated node agent for a guest: it joins through the
// API server with the bootstrap's join token, then heartbeats and runs its
// pods as the simulator's own nodes do, until Detach or Close. The guest
// is not a machine of this provider: List, the quota and the hosts' room
// do not count it. A name attached already is refused.
func (p *Provider) Attach(g Guest) error {
	if g.Name == "" {
		return fmt.Errorf("sim attach: the guest's name is empty")
	}
	boot, err := parseBootstrap(g.Bootstrap)
	if err != nil {
		return fmt.Errorf("sim attach %s: %w", g.Name, err)
	}
	if (g.CPUs <= 0 && p.cfg.NodeCPUs <= 0) || (g.MemoryMiB <= 0 && p.cfg.NodeMemoryMiB <= 0) {
		return fmt.Errorf("sim attach %s: no size (cpus and memory)", g.Name)
	}
	p.mu.Lock()
	if _, ok := p.guests[g.Name]; ok {
		p.mu.Unlock()
		return fmt.Errorf("sim attach: a guest named %q is attached already", g.Name)
	}
	p.seq++
	addr := g.Address
	if addr == "" {
		addr = fmt.Sprintf("10.%d.%d.%d", 128+(p.seq>>16)%64, (p.seq>>8)%256, p.seq%256)
	}
	m := &machine{guest: true, pool: g.Pool, m: iaas.Machine{ID: "sim://guest/" + g.Name, Name: g.Name, Provider: p.cfg.Name,
		Host: g.Host, State: iaas.StateRunning, CPUs: g.CPUs, MemoryMiB: g.MemoryMiB, Created: time.Now(), Addresses: []string{addr}}}
	p.guests[g.Name] = m
	p.mu.Unlock()
	p.agents.start(m, boot)
	return nil
}

// Detach stops the simulated node agent of a guest (its server is gone):
// its Node stays and goes NotReady when its lease runs out, unless the
// control plane deletes it first. It reports whether such a guest was
// attached.
func (p *Provider) Detach(name string) bool {
	p.mu.Lock()
	m, ok := p.guests[name]
	var n *node
	if ok {
		delete(p.guests, name)
		n, m.node = m.node, nil
	}
	p.mu.Unlock()
	if n != nil {
		p.agents.stop(n)
	}
	return ok
}

// live reports whether m is still the simulator's machine or attached
// guest. p.mu is held.
func (p *Provider) live(m *machine) bool {
	if m.guest {
		return p.guests[m.m.Name] == m
	}
	return p.machines[m.m.ID] == m
}
