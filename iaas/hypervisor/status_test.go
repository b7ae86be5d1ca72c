package hypervisor

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/placement"
)

var t0 = api.NewTime(time.Date(2026, 11, 27, 6, 0, 0, 0, time.UTC))

func TestDesiredStatus(t *testing.T) {
	h := &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: "hv-1"}}
	up := observation{reason: ReasonReachable, info: iaas.HostInfo{Hostname: "host-1", CPUs: 8, MemoryMiB: 16384}}
	u := &placement.Usage{MilliCPU: 3000, MemoryBytes: 1536 << 20, Machines: 2}
	st := desiredStatus(h, up, u, t0)
	if got := st.Capacity[api.ResourceCPU]; got.Value() != 8 {
		t.Errorf("cpu capacity %v", got)
	}
	if got := st.Capacity[api.ResourceMemory]; got.Value() != 16384<<20 {
		t.Errorf("memory capacity %v", got)
	}
	if got := st.Allocated[api.ResourceCPU]; got.MilliValue() != 3000 {
		t.Errorf("cpu allocated %v", got)
	}
	if got := st.Allocated[api.ResourceMemory]; got.String() != "1536Mi" {
		t.Errorf("memory allocated %v", got)
	}
	if st.Hostname != "host-1" || st.Machines != 2 {
		t.Errorf("hostname %q machines %d", st.Hostname, st.Machines)
	}
	c := placement.Condition(st.Conditions, api.ConditionReachable)
	if c == nil || c.Status != api.ConditionTrue || !c.LastTransitionTime.Equal(t0.Time) {
		t.Fatalf("condition %+v", c)
	}

	// Unreachable: capacity and hostname kept, condition False with the
	// error, transition time moved.
	h.Status = st
	later := api.NewTime(t0.Add(time.Minute))
	down := observation{reason: ReasonUnreachable, message: "dial tcp 10.0.0.5:16509: connection refused"}
	st2 := desiredStatus(h, down, u, later)
	if st2.Hostname != "host-1" || st2.Capacity[api.ResourceCPU].Value() != 8 {
		t.Errorf("capacity or hostname lost while unreachable: %+v", st2)
	}
	c = placement.Condition(st2.Conditions, api.ConditionReachable)
	if c.Status != api.ConditionFalse || c.Reason != ReasonUnreachable || c.Message != down.message || !c.LastTransitionTime.Equal(later.Time) {
		t.Fatalf("condition %+v", c)
	}
	// Still unreachable later: the transition time stays.
	h.Status = st2
	c = placement.Condition(desiredStatus(h, down, nil, api.NewTime(later.Add(time.Minute))).Conditions, api.ConditionReachable)
	if !c.LastTransitionTime.Equal(later.Time) {
		t.Fatalf("transition time moved: %v", c.LastTransitionTime)
	}
}

func TestMarkMachine(t *testing.T) {
	down := observation{reason: ReasonUnreachable, message: "connection refused"}
	up := observation{reason: ReasonReachable}
	for _, tc := range []struct {
		phase     api.MachinePhase
		obs       observation
		wantPhase api.MachinePhase
		wantCond  api.ConditionStatus // "" for no change
	}{
		{api.MachineJoined, down, api.MachineUnknown, api.ConditionFalse},
		{api.MachineRunning, down, api.MachineUnknown, api.ConditionFalse},
		{api.MachineProvisioning, down, api.MachineUnknown, api.ConditionFalse},
		{api.MachinePending, down, api.MachinePending, ""},
		{api.MachineFailed, down, api.MachineFailed, ""},
		{api.MachineDeleting, down, api.MachineDeleting, ""},
		{api.MachineJoined, up, api.MachineJoined, ""},
	} {
		m := &api.Machine{Status: api.MachineStatus{Phase: tc.phase}}
		st, changed := markMachine(m, tc.obs, t0)
		if st.Phase != tc.wantPhase || changed != (tc.wantCond != "") {
			t.Errorf("%s/%s: phase %s changed %v", tc.phase, tc.obs.reason, st.Phase, changed)
			continue
		}
		if tc.wantCond != "" {
			c := placement.Condition(st.Conditions, api.ConditionReachable)
			if c == nil || c.Status != tc.wantCond || c.Message != tc.obs.message {
				t.Errorf("%s: condition %+v", tc.phase, c)
			}
		}
	}
	// Back: Reachable True, phase left for the Machine controller; then
	// no further change.
	m := &api.Machine{Status: api.MachineStatus{Phase: api.MachineJoined}}
	m.Status, _ = markMachine(m, down, t0)
	if _, changed := markMachine(m, down, t0); changed {
		t.Error("second unreachable pass changed the machine again")
	}
	m.Status, _ = markMachine(m, up, t0)
	c := placement.Condition(m.Status.Conditions, api.ConditionReachable)
	if m.Status.Phase != api.MachineUnknown || c.Status != api.ConditionTrue || c.Reason != ReasonHypervisorReachable {
		t.Fatalf("after the host came back: phase %s condition %+v", m.Status.Phase, c)
	}
	if _, changed := markMachine(m, up, t0); changed {
		t.Error("reachable pass changed a reachable machine")
	}
}

func TestMarkVM(t *testing.T) {
	down := observation{reason: ReasonUnreachable, message: "connection refused"}
	vm := &api.VirtualMachine{Status: api.VirtualMachineStatus{Phase: api.VMStopped}}
	st, changed := markVM(vm, down, t0)
	if !changed || st.Phase != api.VMUnknown {
		t.Fatalf("stopped VM on an unreachable host: %s %v", st.Phase, changed)
	}
	vm.Status = st
	st, changed = markVM(vm, observation{reason: ReasonReachable}, t0)
	if !changed || placement.Condition(st.Conditions, api.ConditionReachable).Status != api.ConditionTrue {
		t.Fatalf("VM after the host came back: %+v", st)
	}
	if _, changed := markVM(&api.VirtualMachine{Status: api.VirtualMachineStatus{Phase: api.VMPending}}, down, t0); changed {
		t.Fatal("pending VM marked")
	}
}

func TestInspect(t *testing.T) {
	fake := &fakeHost{info: iaas.HostInfo{Hostname: "host-1", CPUs: 2, MemoryMiB: 4096}}
	now := t0.Time
	r := &Reconciler{Providers: iaas.Providers{"libvirt": fake, "sim": noInspect{}}, Resync: 30 * time.Second,
		Timeout: time.Second, Now: func() time.Time { return now }, Log: slog.New(slog.DiscardHandler), last: map[string]inspection{}}
	h := &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: "hv-1"}, Spec: api.HypervisorSpec{URI: "qemu:///system"}}
	ctx := context.Background()
	if ins := r.inspect(ctx, h); !ins.obs.reachable() || ins.obs.info.CPUs != 2 {
		t.Fatalf("first inspection: %+v", ins)
	}
	r.inspect(ctx, h)
	if fake.callCount() != 1 {
		t.Fatalf("inspected %d times within the resync period", fake.callCount())
	}
	fake.set(iaas.HostInfo{}, errors.New("connection refused"))
	now = now.Add(31 * time.Second)
	ins := r.inspect(ctx, h)
	if ins.obs.reason != ReasonUnreachable || ins.obs.message != "connection refused" || fake.callCount() != 2 {
		t.Fatalf("after the resync period: %+v (%d calls)", ins, fake.callCount())
	}
	h.Spec.URI = "qemu+tcp://10.0.0.5/system"
	r.inspect(ctx, h)
	if fake.callCount() != 3 {
		t.Fatal("a new URI was not inspected at once")
	}
	h.Spec.Provider = "sim"
	if ins := r.inspect(ctx, h); ins.obs.reason != ReasonNoProvider {
		t.Fatalf("provider without the ability: %+v", ins)
	}
	h.Spec.Provider = "openstack"
	if ins := r.inspect(ctx, h); ins.obs.reason != ReasonNoProvider {
		t.Fatalf("provider not configured: %+v", ins)
	}
}
