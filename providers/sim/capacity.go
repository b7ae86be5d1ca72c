package sim

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudmgr/cloud/iaas"
)

// CheckCapacity reports whether n more machines of spec could be made now
// (iaas.CapacityChecker): an injected create failure of capacity or quota
// answers for them, then the quota, then the room on the hosts (the named
// hypervisor's, or any).
func (p *Provider) CheckCapacity(_ context.Context, spec iaas.MachineSpec, n int) error {
	if n <= 0 {
		return nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.faults.always; errors.Is(f, iaas.ErrInsufficientCapacity) || errors.Is(f, iaas.ErrQuota) {
		return fmt.Errorf("sim capacity for %d machines: %w", n, f)
	}
	cpus, mem := spec.CPUs, spec.MemoryMiB
	if spec.Flavor != "" {
		f, ok := p.flavor(spec.Flavor)
		if !ok {
			return fmt.Errorf("sim capacity: no flavor %q", spec.Flavor)
		}
		cpus, mem = f.CPUs, f.MemoryMiB
	}
	if cpus <= 0 || mem <= 0 {
		return fmt.Errorf("sim capacity: no size (flavor, or cpus and memory)")
	}
	var count int
	var usedCPUs, usedMiB int64
	for _, m := range p.machines {
		count++
		usedCPUs += int64(m.m.CPUs)
		usedMiB += m.m.MemoryMiB
	}
	q := p.cfg.Quota
	switch {
	case q.Instances > 0 && count+n > q.Instances:
		return fmt.Errorf("sim capacity: %d of %d instances in use, %d more asked: %w", count, q.Instances, n, iaas.ErrQuota)
	case q.CPUs > 0 && usedCPUs+int64(n)*int64(cpus) > q.CPUs:
		return fmt.Errorf("sim capacity: %d of %d CPUs in use, %d more asked: %w", usedCPUs, q.CPUs, int64(n)*int64(cpus), iaas.ErrQuota)
	case q.MemoryMiB > 0 && usedMiB+int64(n)*mem > q.MemoryMiB:
		return fmt.Errorf("sim capacity: %d of %d MiB in use, %d more asked: %w", usedMiB, q.MemoryMiB, int64(n)*mem, iaas.ErrQuota)
	}
	room := 0
	for _, h := range p.hosts {
		if spec.Hypervisor != "" && h.name != p.hostOf(spec.Hypervisor) {
			continue
		}
		room += int(min(int64(h.cpus-h.usedCPUs)/int64(cpus), (h.memMiB-h.usedMiB)/mem))
		if room >= n {
			return nil
		}
	}
	return fmt.Errorf("sim capacity: room for %d of %d machines of %d CPUs and %d MiB: %w", room, n, cpus, mem, iaas.ErrInsufficientCapacity)
}

// hostOf is the simulated host behind a Hypervisor object. p.mu is held.
func (p *Provider) hostOf(hypervisor string) string {
	if name, ok := p.hvs[hypervisor]; ok {
		return name
	}
	return hypervisor
}
