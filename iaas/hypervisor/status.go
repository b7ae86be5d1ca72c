package hypervisor

import (
	"fmt"
	"slices"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/placement"
)

// Reasons of the Reachable condition.
const (
	// ReasonReachable: the provider answered for the hypervisor.
	ReasonReachable = "HostReachable"
	// ReasonUnreachable: the provider could not reach the hypervisor.
	ReasonUnreachable = "Unreachable"
	// ReasonNoProvider: no configured provider can inspect the hypervisor.
	ReasonNoProvider = "ProviderNotConfigured"
	// ReasonHypervisorUnreachable marks a Machine or VirtualMachine whose
	// hypervisor cannot be reached.
	ReasonHypervisorUnreachable = "HypervisorUnreachable"
	// ReasonHypervisorReachable marks it again once the hypervisor
	// answers; its controller re-reads the VM from the provider.
	ReasonHypervisorReachable = "HypervisorReachable"
)

// observation is what one inspection found.
type observation struct {
	info iaas.HostInfo
	// reason is ReasonReachable, ReasonUnreachable or ReasonNoProvider;
	// message says why it is not reachable.
	reason, message string
}

func (o observation) reachable() bool { return o.reason == ReasonReachable }

// desiredStatus is the hypervisor's status after obs, with usage u (nil:
// nothing placed there). Capacity and hostname are kept from the last
// inspection while the host cannot be reached.
func desiredStatus(h *api.Hypervisor, obs observation, u *placement.Usage, now api.Time) api.HypervisorStatus {
	st := api.HypervisorStatus{Capacity: h.Status.Capacity, Hostname: h.Status.Hostname}
	if obs.reachable() {
		st.Capacity = api.ResourceList{
			api.ResourceCPU:    api.NewQuantity(int64(obs.info.CPUs), api.DecimalSI),
			api.ResourceMemory: api.NewQuantity(obs.info.MemoryMiB<<20, api.BinarySI),
		}
		st.Hostname = obs.info.Hostname
	}
	if u == nil {
		u = &placement.Usage{}
	}
	st.Allocated = u.ResourceList()
	st.Machines = u.Machines
	cond := api.Condition{Type: api.ConditionReachable, Status: api.ConditionFalse, Reason: obs.reason, Message: obs.message}
	if obs.reachable() {
		cond.Status = api.ConditionTrue
	}
	st.Conditions = setCondition(h.Status.Conditions, cond, now)
	return st
}

// setCondition returns conds with c in place of the condition of its type,
// keeping the transition time when the status did not change.
func setCondition(conds []api.Condition, c api.Condition, now api.Time) []api.Condition {
	out := make([]api.Condition, 0, len(conds)+1)
	found := false
	for _, old := range conds {
		if old.Type != c.Type {
			out = append(out, old)
			continue
		}
		found = true
		c.LastTransitionTime = old.LastTransitionTime
		if old.Status != c.Status || c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
		}
		out = append(out, c)
	}
	if !found {
		c.LastTransitionTime = now
		out = append(out, c)
	}
	return out
}

// markMachine returns m's status with its hypervisor's reachability
// applied, and whether it changed. Unreachable: phase Unknown and
// Reachable False, for a machine that has (or had) a VM there; reachable
// again: Reachable True, the phase left for the Machine controller to
// re-read from the provider.
func markMachine(m *api.Machine, obs observation, now api.Time) (api.MachineStatus, bool) {
	st := m.Status
	// Not on the host yet, failed, or going away: not onHost.
	onHost := st.Phase == api.MachineProvisioning || st.Phase == api.MachineRunning || st.Phase == api.MachineJoined || st.Phase == api.MachineUnknown
	return st, markPlacedObject(&st.Phase, &st.Conditions, onHost, api.MachineUnknown, obs, now)
}

// markVM is markMachine for a tenant VM.
func markVM(vm *api.VirtualMachine, obs observation, now api.Time) (api.VirtualMachineStatus, bool) {
	st := vm.Status
	onHost := st.Phase == api.VMCreating || st.Phase == api.VMRunning || st.Phase == api.VMStopped || st.Phase == api.VMUnknown
	return st, markPlacedObject(&st.Phase, &st.Conditions, onHost, api.VMUnknown, obs, now)
}

// markPlacedObject applies obs to the phase and Reachable condition of
// a Machine's or VM's status, and reports whether they changed: while the
// host cannot be reached, an object on it (onHost) turns unknown with
// Reachable False; once it answers, Reachable turns True again.
func markPlacedObject[P comparable](phase *P, conds *[]api.Condition, onHost bool, unknown P, obs observation, now api.Time) bool {
	prev := placement.Condition(*conds, api.ConditionReachable)
	switch {
	case obs.reason == ReasonUnreachable:
		if !onHost || *phase == unknown && prev != nil && prev.Status == api.ConditionFalse && prev.Message == obs.message {
			return false
		}
		*phase = unknown
		*conds = setCondition(*conds, api.Condition{Type: api.ConditionReachable, Status: api.ConditionFalse,
			Reason: ReasonHypervisorUnreachable, Message: obs.message}, now)
		return true
	case obs.reachable() && prev != nil && prev.Status != api.ConditionTrue:
		*conds = setCondition(*conds, api.Condition{Type: api.ConditionReachable, Status: api.ConditionTrue,
			Reason: ReasonHypervisorReachable}, now)
		return true
	}
	return false
}

// markNode is the status of node n of a Machine on hypervisor hv after
// observation obs: condition HypervisorReachable Unknown (reason
// HypervisorUnreachable) while hv cannot be reached, True once it answers
// again; changed is false when nothing is to be written.
func markNode(n *api.Node, hv string, obs observation, now api.Time) (api.NodeStatus, bool) {
	st := n.Status
	i := slices.IndexFunc(st.Conditions, func(c api.NodeCondition) bool { return c.Type == api.NodeHypervisorReachable })
	want := api.NodeCondition{Type: api.NodeHypervisorReachable, LastHeartbeatTime: now, LastTransitionTime: now}
	switch {
	case obs.reason == ReasonUnreachable:
		want.Status, want.Reason = api.ConditionUnknown, ReasonHypervisorUnreachable
		want.Message = fmt.Sprintf("hypervisor %s cannot be reached (%s): the state of this node's VM is unknown", hv, obs.message)
	case obs.reachable() && i >= 0:
		want.Status, want.Reason = api.ConditionTrue, ReasonHypervisorReachable
		want.Message = fmt.Sprintf("hypervisor %s is reachable", hv)
	default:
		return st, false
	}
	st.Conditions = slices.Clone(st.Conditions)
	if i < 0 {
		st.Conditions = append(st.Conditions, want)
		return st, true
	}
	old := st.Conditions[i]
	if old.Status == want.Status && old.Reason == want.Reason && old.Message == want.Message {
		return st, false
	}
	if old.Status == want.Status {
		want.LastTransitionTime = old.LastTransitionTime
	}
	st.Conditions[i] = want
	return st, true
}
