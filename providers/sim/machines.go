package sim

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
)

// host is a simulated hypervisor and what its machines take.
type host struct {
	name     string
	cpus     int32
	memMiB   int64
	machines int
	usedCPUs int32
	usedMiB  int64
	groups   map[string]int // machines per MachineSpec.Group
}

func (h *host) fits(cpus int32, mem int64) bool {
	return h.usedCPUs+cpus <= h.cpus && h.usedMiB+mem <= h.memMiB
}

func (h *host) take(cpus int32, mem int64, group string, sign int) {
	h.machines += sign
	h.usedCPUs += int32(sign) * cpus
	h.usedMiB += int64(sign) * mem
	if group != "" {
		if h.groups == nil {
			h.groups = map[string]int{}
		}
		h.groups[group] += sign
		if h.groups[group] <= 0 {
			delete(h.groups, group)
		}
	}
}

// machine is a simulated VM.
type machine struct {
	m     iaas.Machine
	group string
	pool  string
	// node is its simulated node (nil while it runs none).
	node *node
	// guest: another provider's machine (Attach), not one of this
	// provider's.
	guest bool
}

// InspectHost answers for a Hypervisor object whose URI is sim://HOST
// (or, with no URI, which is named as a host): the host's size. A
// simulated cloud (Config.Cloud) has no hypervisors to add.
func (p *Provider) InspectHost(ctx context.Context, hypervisor, uri string) (iaas.HostInfo, error) {
	if p.cfg.Cloud {
		return iaas.HostInfo{}, fmt.Errorf("sim: provider %s is a simulated cloud that places machines itself: it has no hypervisors to add", p.cfg.Name)
	}
	name := hypervisor
	if uri != "" {
		u, err := url.Parse(uri)
		if err != nil || u.Scheme != "sim" || u.Host == "" {
			return iaas.HostInfo{}, fmt.Errorf("sim: hypervisor %s: URI %q: want sim://HOST", hypervisor, uri)
		}
		name = u.Host
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.hosts[name]
	if !ok {
		return iaas.HostInfo{}, fmt.Errorf("sim: hypervisor %s: no simulated host %q (hosts: %s): %w",
			hypervisor, name, strings.Join(slices.Sorted(maps.Keys(p.hosts)), ", "), iaas.ErrUnreachable)
	}
	p.hvs[hypervisor] = name
	return iaas.HostInfo{Hostname: h.name, CPUs: h.cpus, MemoryMiB: h.memMiB, DomainType: Simulated}, nil
}

// Create makes a simulated machine: after the create delay it is Running
// and its simulated node starts joining with the bootstrap data of the
// config drive (unless a fault says it never joins).
func (p *Provider) Create(ctx context.Context, spec iaas.MachineSpec) (iaas.Machine, error) {
	p.mu.Lock()
	fail := p.faults.nextCreate()
	p.mu.Unlock()
	if errors.Is(fail, ErrHang) {
		<-ctx.Done()
		return iaas.Machine{}, fmt.Errorf("sim create %s: %w", spec.Name, ctx.Err())
	}
	if fail != nil {
		return iaas.Machine{}, fmt.Errorf("sim create %s: %w", spec.Name, fail)
	}
	var boot *api.NodeBootstrap
	var err error
	if data, ok := spec.ConfigDrive[api.NodeBootstrapFile]; ok {
		if boot, err = parseBootstrap(data); err != nil {
			return iaas.Machine{}, fmt.Errorf("sim create %s: %w", spec.Name, err)
		}
	}
	p.mu.Lock()
	m, delay, err := p.reserve(spec)
	p.mu.Unlock()
	if err != nil {
		return iaas.Machine{}, err
	}
	if !sleep(ctx, delay) {
		p.mu.Lock()
		p.release(m)
		p.mu.Unlock()
		return iaas.Machine{}, fmt.Errorf("sim create %s: %w", spec.Name, ctx.Err())
	}
	p.mu.Lock()
	if _, ok := p.machines[m.m.ID]; !ok {
		p.mu.Unlock()
		return iaas.Machine{}, fmt.Errorf("sim create %s: deleted while it was being created", spec.Name)
	}
	m.m.State = iaas.StateRunning
	join := boot != nil && !p.faults.takeNeverJoin()
	out := m.copy()
	p.mu.Unlock()
	if join {
		p.agents.start(m, boot)
	}
	return out, nil
}

// reserve checks the size, quota and room of a new machine and records it
// Pending on a host. It returns the create delay. p.mu is held.
func (p *Provider) reserve(spec iaas.MachineSpec) (*machine, time.Duration, error) {
	cpus, mem := spec.CPUs, spec.MemoryMiB
	if spec.Flavor != "" {
		f, ok := p.flavor(spec.Flavor)
		if !ok {
			return nil, 0, fmt.Errorf("sim create %s: no flavor %q", spec.Name, spec.Flavor)
		}
		cpus, mem = f.CPUs, f.MemoryMiB
	}
	if cpus <= 0 || mem <= 0 {
		return nil, 0, fmt.Errorf("sim create %s: no size (flavor, or cpus and memory)", spec.Name)
	}
	if spec.Name == "" {
		return nil, 0, fmt.Errorf("sim create: machine name is empty")
	}
	var n int
	var usedCPUs, usedMiB int64
	for _, m := range p.machines {
		if m.m.Name == spec.Name {
			return nil, 0, fmt.Errorf("sim create: a machine named %q exists (%s)", spec.Name, m.m.ID)
		}
		n++
		usedCPUs += int64(m.m.CPUs)
		usedMiB += m.m.MemoryMiB
	}
	q := p.cfg.Quota
	switch {
	case q.Instances > 0 && n+1 > q.Instances:
		return nil, 0, fmt.Errorf("sim create %s: %d of %d instances in use: %w", spec.Name, n, q.Instances, iaas.ErrQuota)
	case q.CPUs > 0 && usedCPUs+int64(cpus) > q.CPUs:
		return nil, 0, fmt.Errorf("sim create %s: %d of %d CPUs in use, %d more asked: %w", spec.Name, usedCPUs, q.CPUs, cpus, iaas.ErrQuota)
	case q.MemoryMiB > 0 && usedMiB+mem > q.MemoryMiB:
		return nil, 0, fmt.Errorf("sim create %s: %d of %d MiB in use, %d more asked: %w", spec.Name, usedMiB, q.MemoryMiB, mem, iaas.ErrQuota)
	}
	h, err := p.place(spec, cpus, mem)
	if err != nil {
		return nil, 0, err
	}
	h.take(cpus, mem, spec.Group, 1)
	p.seq++
	id := fmt.Sprintf("sim://%s/%s-%d", h.name, spec.Name, p.seq)
	m := &machine{group: spec.Group, pool: spec.Labels[api.LabelNodePool], m: iaas.Machine{
		ID: id, Name: spec.Name, Provider: p.cfg.Name, Hypervisor: spec.Hypervisor, Host: h.name,
		State: iaas.StatePending, CPUs: cpus, MemoryMiB: mem, Labels: maps.Clone(spec.Labels), Created: time.Now(),
		Addresses: []string{fmt.Sprintf("10.%d.%d.%d", 64+(p.seq>>16)%64, (p.seq>>8)%256, p.seq%256)},
	}}
	p.machines[id] = m
	delay := p.cfg.CreateDelay
	if p.cfg.CreateJitter > 0 {
		delay += time.Duration(p.rand.Int64N(int64(p.cfg.CreateJitter)))
	}
	return m, delay, nil
}

// place chooses the host: the named hypervisor's, or (a simulated cloud)
// the one with the fewest machines of the spec's group, then the most
// free CPUs, then the name. p.mu is held.
func (p *Provider) place(spec iaas.MachineSpec, cpus int32, mem int64) (*host, error) {
	if !p.cfg.Cloud {
		if spec.Hypervisor == "" {
			return nil, fmt.Errorf("sim create %s: no hypervisor given (provider %s places machines on Hypervisor objects)", spec.Name, p.cfg.Name)
		}
		name, ok := p.hvs[spec.Hypervisor]
		if !ok {
			name = spec.Hypervisor
		}
		h, ok := p.hosts[name]
		if !ok {
			return nil, fmt.Errorf("sim create %s: hypervisor %s: no simulated host %q: %w", spec.Name, spec.Hypervisor, name, iaas.ErrUnreachable)
		}
		if !h.fits(cpus, mem) {
			return nil, fmt.Errorf("sim create %s: host %s has %d CPUs and %d MiB free, %d and %d asked: %w",
				spec.Name, h.name, h.cpus-h.usedCPUs, h.memMiB-h.usedMiB, cpus, mem, iaas.ErrInsufficientCapacity)
		}
		return h, nil
	}
	var best *host
	for _, h := range p.hosts {
		if !h.fits(cpus, mem) {
			continue
		}
		if best == nil || better(h, best, spec.Group) {
			best = h
		}
	}
	if best == nil {
		return nil, fmt.Errorf("sim create %s: no host has %d CPUs and %d MiB free: %w", spec.Name, cpus, mem, iaas.ErrInsufficientCapacity)
	}
	return best, nil
}

func better(a, b *host, group string) bool {
	if ga, gb := a.groups[group], b.groups[group]; group != "" && ga != gb {
		return ga < gb
	}
	if fa, fb := a.cpus-a.usedCPUs, b.cpus-b.usedCPUs; fa != fb {
		return fa > fb
	}
	return a.name < b.name
}

// release forgets a machine and frees its room. p.mu is held.
func (p *Provider) release(m *machine) {
	if _, ok := p.machines[m.m.ID]; !ok {
		return
	}
	delete(p.machines, m.m.ID)
	if h := p.hosts[m.m.Host]; h != nil {
		h.take(m.m.CPUs, m.m.MemoryMiB, m.group, -1)
	}
}

func (m *machine) copy() iaas.Machine {
	out := m.m
	out.Labels = maps.Clone(m.m.Labels)
	out.Addresses = slices.Clone(m.m.Addresses)
	return out
}

// Delete stops the machine's simulated node and, after the delete delay,
// removes the machine. ErrNotFound once it is gone.
func (p *Provider) Delete(ctx context.Context, id string) error {
	p.mu.Lock()
	m, ok := p.machines[id]
	var n *node
	if ok {
		n, m.node = m.node, nil
	}
	p.mu.Unlock()
	if !ok {
		return fmt.Errorf("sim delete %s: %w", id, iaas.ErrNotFound)
	}
	if n != nil {
		p.agents.stop(n)
	}
	if !sleep(ctx, p.cfg.DeleteDelay) {
		return fmt.Errorf("sim delete %s: %w", id, ctx.Err())
	}
	p.mu.Lock()
	p.release(m)
	p.mu.Unlock()
	return nil
}

// Get returns a machine. ErrNotFound.
func (p *Provider) Get(_ context.Context, id string) (iaas.Machine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m, ok := p.machines[id]
	if !ok {
		return iaas.Machine{}, fmt.Errorf("sim get %s: %w", id, iaas.ErrNotFound)
	}
	return m.copy(), nil
}

// List returns the machines, sorted by name.
func (p *Provider) List(context.Context) ([]iaas.Machine, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]iaas.Machine, 0, len(p.machines))
	for _, m := range p.machines {
		out = append(out, m.copy())
	}
	slices.SortFunc(out, func(a, b iaas.Machine) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// Disappear removes a machine behind the system's back (a VM destroyed by
// hand, a host lost): its simulated node stops at once, its Node stays and
// goes NotReady when its lease runs out. It reports whether there was a
// machine with that ID or name.
func (p *Provider) Disappear(idOrName string) bool {
	p.mu.Lock()
	var found *machine
	for id, m := range p.machines {
		if id == idOrName || m.m.Name == idOrName {
			found = m
			break
		}
	}
	var n *node
	if found != nil {
		n, found.node = found.node, nil
		p.release(found)
	}
	p.mu.Unlock()
	if n != nil {
		p.agents.stop(n)
	}
	return found != nil
}

func sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
