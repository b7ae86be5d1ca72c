// Package placement chooses the hypervisor a new VM goes on, with the
// scheduler's filter and score machinery (scheduler/framework): the
// candidates are Hypervisor objects with what the Machines and
// VirtualMachines on them already take; filters keep those of the right
// provider, schedulable, reachable, allowed and selected, with room after
// overcommit; scores spread a pool across hypervisors, then prefer the
// least allocated.
package placement

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/scheduler/framework"
)

// Placer implements iaas.Placer over caches of Hypervisors, Machines and
// VirtualMachines.
type Placer struct {
	hypervisors, machines, vms Lister
	fw                         *framework.Framework[*item, *candidate]
	now                        func() time.Time

	mu sync.Mutex
	// assumed are placements made but perhaps not yet in the caches, so
	// that machines placed in a burst spread as if each saw the last.
	assumed map[string]assumption
}

// assumption is a placement the caches may not show yet.
type assumption struct {
	hypervisor, group string
	milliCPU, memory  int64
	at                time.Time
}

// assumeFor is how long a placement is assumed without the cache showing
// it: longer than a Machine takes to be written after placement.
const assumeFor = time.Minute

var _ iaas.Placer = (*Placer)(nil)

// New returns a placer reading hypervisors, machines and vms (caches of
// Hypervisors, Machines and VirtualMachines; machines and vms may be nil).
func New(hypervisors, machines, vms Lister) *Placer {
	return &Placer{
		hypervisors: hypervisors, machines: machines, vms: vms,
		fw:      framework.New(profile()),
		now:     time.Now,
		assumed: map[string]assumption{},
	}
}

// profile is the placement pipeline, in one place: filters, then scores
// with their weights. Spreading a group outweighs allocation, so that a
// pool lands on as many hypervisors as it can before any is preferred for
// being emptier.
func profile() framework.Profile[*item, *candidate] {
	return framework.Profile[*item, *candidate]{
		Filters: []framework.FilterPlugin[*item, *candidate]{
			providerFilter{}, unschedulableFilter{}, reachableFilter{}, allowedFilter{}, selectorFilter{}, resourcesFilter{},
		},
		Scores: []framework.WeightedScore[*item, *candidate]{
			{Plugin: groupSpread{}, Weight: 10},
			{Plugin: leastAllocated{}, Weight: 1},
		},
		PercentageToScore: 100,
	}
}

// Place chooses a hypervisor for req, or returns an error wrapping
// iaas.ErrInsufficientCapacity and a *framework.FitError saying why each
// hypervisor was rejected.
func (p *Placer) Place(ctx context.Context, req iaas.PlacementRequest) (string, error) {
	it := newItem(req)
	cands, err := p.candidates(req.Name)
	if err != nil {
		return "", err
	}
	res, err := p.fw.Schedule(ctx, framework.NewCycleState(), it, cands)
	if fe, ok := err.(*framework.FitError); ok {
		fe.Noun = "hypervisors"
		return "", fmt.Errorf("place %s: %w: %w", req.Name, iaas.ErrInsufficientCapacity, fe)
	}
	if err != nil {
		return "", fmt.Errorf("place %s: %w", req.Name, err)
	}
	if req.Name != "" {
		p.mu.Lock()
		p.assumed[req.Name] = assumption{hypervisor: res.Selected, group: req.Group,
			milliCPU: it.milliCPU, memory: it.memory, at: p.now()}
		p.mu.Unlock()
	}
	return res.Selected, nil
}

// Forget drops the assumed placement of a machine whose create failed or
// was given up, so that its room is free again before the assumption
// expires.
func (p *Placer) Forget(name string) {
	p.mu.Lock()
	delete(p.assumed, name)
	p.mu.Unlock()
}

// candidates builds one candidate per Hypervisor with its usage, the
// assumed placements added (except that of the machine being placed).
func (p *Placer) candidates(placing string) ([]*candidate, error) {
	usage := UsageByHypervisor(p.machines, p.vms)
	placed := map[string]bool{}
	if p.machines != nil {
		for _, o := range p.machines.List() {
			if m, ok := o.(*api.Machine); ok && m.Spec.Hypervisor != "" {
				placed[m.Name] = true
			}
		}
	}
	p.mu.Lock()
	now := p.now()
	for name, a := range p.assumed {
		if placed[name] || now.Sub(a.at) > assumeFor {
			delete(p.assumed, name)
			continue
		}
		if name == placing {
			continue
		}
		u := usage[a.hypervisor]
		if u == nil {
			u = &Usage{}
			usage[a.hypervisor] = u
		}
		u.MilliCPU += a.milliCPU
		u.MemoryBytes += a.memory
		u.Machines++
		if a.group != "" {
			if u.Groups == nil {
				u.Groups = map[string]int32{}
			}
			u.Groups[a.group]++
		}
	}
	p.mu.Unlock()

	var out []*candidate
	for _, o := range p.hypervisors.List() {
		h, ok := o.(*api.Hypervisor)
		if !ok {
			continue
		}
		c, err := newCandidate(h, usage[h.Name])
		if err != nil {
			return nil, err
		}
		out = append(out, c)
	}
	return out, nil
}

// item is a VM to place, in the units the filters compare.
type item struct {
	req      iaas.PlacementRequest
	milliCPU int64
	memory   int64
	allowed  map[string]bool
}

func newItem(req iaas.PlacementRequest) *item {
	it := &item{req: req, milliCPU: int64(req.CPUs) * 1000, memory: req.MemoryMiB << 20}
	if len(req.Hypervisors) > 0 {
		it.allowed = make(map[string]bool, len(req.Hypervisors))
		for _, n := range req.Hypervisors {
			it.allowed[n] = true
		}
	}
	return it
}

// candidate is a hypervisor with its capacity after overcommit and what
// is already placed on it.
type candidate struct {
	h *api.Hypervisor
	// milliCPU and memory are the capacity after the allocation ratios.
	milliCPU, memory int64
	used             Usage
}

// CandidateName is the Hypervisor object's name.
func (c *candidate) CandidateName() string { return c.h.Name }

func newCandidate(h *api.Hypervisor, u *Usage) (*candidate, error) {
	cpuRatio, err := api.ParseAllocationRatio(h.Spec.CPUAllocationRatio)
	if err != nil {
		return nil, fmt.Errorf("hypervisor %s: spec.cpuAllocationRatio: %w", h.Name, err)
	}
	memRatio, err := api.ParseAllocationRatio(h.Spec.MemoryAllocationRatio)
	if err != nil {
		return nil, fmt.Errorf("hypervisor %s: spec.memoryAllocationRatio: %w", h.Name, err)
	}
	c := &candidate{h: h}
	if q, ok := h.Status.Capacity[api.ResourceCPU]; ok {
		c.milliCPU = int64(float64(q.MilliValue()) * cpuRatio)
	}
	if q, ok := h.Status.Capacity[api.ResourceMemory]; ok {
		c.memory = int64(float64(q.Value()) * memRatio)
	}
	if u != nil {
		c.used = *u
	}
	return c, nil
}

// CheckCapacity reports whether n machines of req could be placed now,
// one after another on the hypervisors as they are (with the placements
// assumed so far): nil, or an error wrapping iaas.ErrInsufficientCapacity
// that says how many fit. Nothing is assumed: it only looks. The node
// autoscaler asks it for pools of providers that do not place machines
// themselves (libvirt), so that a full private cloud sends the growth to
// the next pool in the same loop.
func (p *Placer) CheckCapacity(ctx context.Context, req iaas.PlacementRequest, n int) error {
	cands, err := p.candidates("")
	if err != nil {
		return err
	}
	byName := make(map[string]*candidate, len(cands))
	for _, c := range cands {
		byName[c.h.Name] = c
	}
	it := newItem(req)
	for i := range n {
		res, err := p.fw.Schedule(ctx, framework.NewCycleState(), it, cands)
		if fe, ok := err.(*framework.FitError); ok {
			fe.Noun = "hypervisors"
			return fmt.Errorf("%d of %d more machines of %d CPUs and %d MiB fit: %w: %w", i, n, req.CPUs, req.MemoryMiB, iaas.ErrInsufficientCapacity, fe)
		}
		if err != nil {
			return err
		}
		c := byName[res.Selected]
		c.used.MilliCPU += it.milliCPU
		c.used.MemoryBytes += it.memory
		c.used.Machines++
		if req.Group != "" {
			if c.used.Groups == nil {
				c.used.Groups = map[string]int32{}
			}
			c.used.Groups[req.Group]++
		}
	}
	return nil
}
