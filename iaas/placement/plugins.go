package placement

import (
	"context"

	"github.com/cloudmgr/cloud/scheduler/framework"
)

// Rejection reasons, as the FitError summary counts them.
const (
	ReasonProvider      = "hypervisor(s) of another provider"
	ReasonUnschedulable = "hypervisor(s) were unschedulable"
	ReasonUnreachable   = "hypervisor(s) unreachable"
	ReasonNotAllowed    = "hypervisor(s) not in the allowed list"
	ReasonSelector      = "hypervisor(s) didn't match the hypervisor selector"
	ReasonCPU           = "Insufficient cpu"
	ReasonMemory        = "Insufficient memory"
)

func unresolvable(reason string) *framework.Status {
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, reason)
}

// providerFilter keeps hypervisors of the requested provider.
type providerFilter struct{}

func (providerFilter) Name() string { return "Provider" }
func (providerFilter) Filter(_ context.Context, _ *framework.CycleState, it *item, c *candidate) *framework.Status {
	if it.req.Provider != "" && ProviderOf(c.h) != it.req.Provider {
		return unresolvable(ReasonProvider)
	}
	return nil
}

// unschedulableFilter drops hypervisors an operator closed to new VMs or
// is removing.
type unschedulableFilter struct{}

func (unschedulableFilter) Name() string { return "HypervisorUnschedulable" }
func (unschedulableFilter) Filter(_ context.Context, _ *framework.CycleState, _ *item, c *candidate) *framework.Status {
	if c.h.Spec.Unschedulable || c.h.DeletionTimestamp != nil {
		return unresolvable(ReasonUnschedulable)
	}
	return nil
}

// reachableFilter keeps hypervisors whose Reachable condition is True.
type reachableFilter struct{}

func (reachableFilter) Name() string { return "HypervisorReachable" }
func (reachableFilter) Filter(_ context.Context, _ *framework.CycleState, _ *item, c *candidate) *framework.Status {
	if !Reachable(c.h) {
		return unresolvable(ReasonUnreachable)
	}
	return nil
}

// allowedFilter keeps the hypervisors a request names, when it names any.
type allowedFilter struct{}

func (allowedFilter) Name() string { return "HypervisorName" }
func (allowedFilter) Filter(_ context.Context, _ *framework.CycleState, it *item, c *candidate) *framework.Status {
	if it.allowed != nil && !it.allowed[c.h.Name] {
		return unresolvable(ReasonNotAllowed)
	}
	return nil
}

// selectorFilter keeps hypervisors whose labels match the selector.
type selectorFilter struct{}

func (selectorFilter) Name() string { return "HypervisorSelector" }
func (selectorFilter) Filter(_ context.Context, _ *framework.CycleState, it *item, c *candidate) *framework.Status {
	for k, v := range it.req.Selector {
		if got, ok := c.h.Spec.Labels[k]; !ok || got != v {
			return unresolvable(ReasonSelector)
		}
	}
	return nil
}

// resourcesFilter keeps hypervisors with room for the VM after overcommit.
type resourcesFilter struct{}

func (resourcesFilter) Name() string { return "HypervisorResources" }
func (resourcesFilter) Filter(_ context.Context, _ *framework.CycleState, it *item, c *candidate) *framework.Status {
	var reasons []string
	if c.milliCPU-c.used.MilliCPU < it.milliCPU {
		reasons = append(reasons, ReasonCPU)
	}
	if c.memory-c.used.MemoryBytes < it.memory {
		reasons = append(reasons, ReasonMemory)
	}
	if len(reasons) > 0 {
		return framework.NewStatus(framework.Unschedulable, reasons...)
	}
	return nil
}

// groupSpread prefers hypervisors with the fewest machines of the
// request's group, so a pool spreads across hypervisors.
type groupSpread struct{}

func (groupSpread) Name() string { return "GroupSpread" }
func (groupSpread) Score(_ context.Context, _ *framework.CycleState, it *item, c *candidate) (int64, *framework.Status) {
	if it.req.Group == "" {
		return 0, nil
	}
	return int64(c.used.Groups[it.req.Group]), nil
}
func (groupSpread) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *item, s []framework.CandidateScore) *framework.Status {
	framework.DefaultNormalizeScore(framework.MaxScore, true, s)
	return nil
}

// leastAllocated prefers hypervisors with the largest share of their
// (overcommitted) CPU and memory free after the VM, averaged.
type leastAllocated struct{}

func (leastAllocated) Name() string { return "LeastAllocated" }
func (leastAllocated) Score(_ context.Context, _ *framework.CycleState, it *item, c *candidate) (int64, *framework.Status) {
	free := func(capacity, used int64) int64 {
		if capacity <= 0 {
			return 0
		}
		return max(capacity-used, 0) * framework.MaxScore / capacity
	}
	return (free(c.milliCPU, c.used.MilliCPU+it.milliCPU) + free(c.memory, c.used.MemoryBytes+it.memory)) / 2, nil
}
