package placement

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/scheduler/framework"
)

// objects is a hand-written Lister.
type objects []api.Object

func (o objects) List() []api.Object { return o }

// hv is a reachable libvirt hypervisor with cpus and memMiB.
func hv(name string, cpus int64, memMiB int64, edit ...func(*api.Hypervisor)) *api.Hypervisor {
	h := &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.HypervisorSpec{URI: "qemu:///system"},
		Status: api.HypervisorStatus{
			Capacity: api.ResourceList{api.ResourceCPU: api.NewQuantity(cpus, api.DecimalSI),
				api.ResourceMemory: api.NewQuantity(memMiB<<20, api.BinarySI)},
			Conditions: []api.Condition{{Type: api.ConditionReachable, Status: api.ConditionTrue}},
		}}
	for _, e := range edit {
		e(h)
	}
	return h
}

func machine(name, pool, hypervisor string, cpus int32, mem string) *api.Machine {
	return &api.Machine{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.MachineSpec{
		Provider: "libvirt", Pool: pool, Hypervisor: hypervisor, VCPUs: cpus, Memory: api.MustParseQuantity(mem)},
		Status: api.MachineStatus{Phase: api.MachineRunning}}
}

func unreachable(h *api.Hypervisor) {
	h.Status.Conditions = []api.Condition{{Type: api.ConditionReachable, Status: api.ConditionFalse, Reason: "Unreachable"}}
}

func TestPlace(t *testing.T) {
	req := iaas.PlacementRequest{Name: "new", Provider: "libvirt", Group: "web", CPUs: 2, MemoryMiB: 1024}
	for _, tc := range []struct {
		name     string
		hvs      objects
		machines objects
		vms      objects
		req      func(*iaas.PlacementRequest)
		want     string // the hypervisor, or the start of the error
	}{
		{name: "the only fit", hvs: objects{hv("a", 1, 4096), hv("b", 4, 4096)}, want: "b"},
		{name: "cpu overcommit makes room", hvs: objects{hv("a", 1, 4096, func(h *api.Hypervisor) { h.Spec.CPUAllocationRatio = "2" })}, want: "a"},
		{name: "memory overcommit makes room", hvs: objects{hv("a", 4, 512, func(h *api.Hypervisor) { h.Spec.MemoryAllocationRatio = "2" })}, want: "a"},
		{name: "machines and VMs take room",
			hvs:      objects{hv("a", 4, 4096), hv("b", 4, 4096)},
			machines: objects{machine("m1", "other", "a", 2, "1Gi")},
			vms: objects{&api.VirtualMachine{ObjectMeta: api.ObjectMeta{Namespace: "t", Name: "v"},
				Spec: api.VirtualMachineSpec{CPUs: 2, Memory: api.MustParseQuantity("3Gi")}, Status: api.VirtualMachineStatus{Phase: api.VMRunning, Hypervisor: "b"}}},
			want: "a"},
		{name: "failed machines take none",
			hvs: objects{hv("a", 2, 4096)},
			machines: objects{func() api.Object {
				m := machine("m1", "web", "a", 2, "1Gi")
				m.Status.Phase = api.MachineFailed
				return m
			}()},
			want: "a"},
		{name: "spread the group", hvs: objects{hv("a", 8, 8192), hv("b", 8, 8192)},
			// b is emptier but already holds the pool's machine.
			machines: objects{machine("m1", "web", "b", 1, "512Mi"), machine("m2", "other", "a", 4, "4Gi")}, want: "a"},
		{name: "least allocated", hvs: objects{hv("a", 8, 8192), hv("b", 8, 8192)},
			machines: objects{machine("m2", "other", "a", 4, "4Gi")}, want: "b"},
		{name: "allowed names", hvs: objects{hv("a", 8, 8192), hv("b", 8, 8192)},
			req: func(r *iaas.PlacementRequest) { r.Hypervisors = []string{"a"} }, want: "a"},
		{name: "selector", hvs: objects{hv("a", 8, 8192), hv("b", 8, 8192, func(h *api.Hypervisor) { h.Spec.Labels = map[string]string{"rack": "r2"} })},
			req: func(r *iaas.PlacementRequest) { r.Selector = map[string]string{"rack": "r2"} }, want: "b"},
		{name: "provider", hvs: objects{hv("a", 8, 8192, func(h *api.Hypervisor) { h.Spec.Provider = "sim" }), hv("b", 8, 8192)}, want: "b"},
		{name: "unschedulable", hvs: objects{hv("a", 8, 8192, func(h *api.Hypervisor) { h.Spec.Unschedulable = true }), hv("b", 1, 8192)},
			want: "0/2 hypervisors are available: 1 Insufficient cpu, 1 hypervisor(s) were unschedulable."},
		{name: "being removed", hvs: objects{hv("a", 8, 8192, func(h *api.Hypervisor) { now := api.Now(); h.DeletionTimestamp = &now })},
			want: "0/1 hypervisors are available: 1 hypervisor(s) were unschedulable."},
		{name: "summary", hvs: objects{hv("a", 1, 8192), hv("b", 1, 8192), hv("c", 8, 8192, unreachable)},
			want: "0/3 hypervisors are available: 2 Insufficient cpu, 1 hypervisor(s) unreachable."},
		{name: "no capacity reported yet", hvs: objects{&api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: "a"}}},
			want: "0/1 hypervisors are available: 1 hypervisor(s) unreachable."},
		{name: "none", hvs: objects{}, want: "0/0 hypervisors are available"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := req
			if tc.req != nil {
				tc.req(&r)
			}
			got, err := New(tc.hvs, tc.machines, tc.vms).Place(context.Background(), r)
			if strings.HasPrefix(tc.want, "0/") {
				var fe *framework.FitError
				if !errors.Is(err, iaas.ErrInsufficientCapacity) || !errors.As(err, &fe) {
					t.Fatalf("Place = %q, %v; want ErrInsufficientCapacity with a FitError", got, err)
				}
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %q does not say %q", err, tc.want)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("Place = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// TestPlaceSpreadsAGroup: machines of one group placed one after another
// on equal hypervisors land evenly, whether the caches already show the
// earlier placements or not (the placer assumes its own).
func TestPlaceSpreadsAGroup(t *testing.T) {
	for _, cacheKeepsUp := range []bool{true, false} {
		t.Run(fmt.Sprintf("cache keeps up=%v", cacheKeepsUp), func(t *testing.T) {
			for run := 0; run < 20; run++ {
				hvs := objects{hv("a", 16, 16384), hv("b", 16, 16384), hv("c", 16, 16384)}
				var machines objects
				p := New(hvs, &machines, nil)
				count := map[string]int{}
				for i := range 6 {
					name := fmt.Sprintf("web-%d", i)
					got, err := p.Place(context.Background(), iaas.PlacementRequest{Name: name, Provider: "libvirt", Group: "web", CPUs: 1, MemoryMiB: 512})
					if err != nil {
						t.Fatal(err)
					}
					count[got]++
					if cacheKeepsUp {
						machines = append(machines, machine(name, "web", got, 1, "512Mi"))
					}
				}
				if count["a"] != 2 || count["b"] != 2 || count["c"] != 2 {
					t.Fatalf("run %d: placements %v, want 2/2/2", run, count)
				}
			}
		})
	}
}

// TestAssumptionsExpire: a placement the caches never show stops counting.
func TestAssumptionsExpire(t *testing.T) {
	p := New(objects{hv("a", 1, 1024)}, nil, nil)
	now := time.Now()
	p.now = func() time.Time { return now }
	req := iaas.PlacementRequest{Name: "m1", CPUs: 1, MemoryMiB: 512}
	if _, err := p.Place(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	req.Name = "m2"
	if _, err := p.Place(context.Background(), req); !errors.Is(err, iaas.ErrInsufficientCapacity) {
		t.Fatalf("second machine on a full hypervisor: %v", err)
	}
	p.Forget("m1")
	if _, err := p.Place(context.Background(), req); err != nil {
		t.Fatalf("after Forget: %v", err)
	}
	now = now.Add(2 * assumeFor)
	req.Name = "m3"
	if _, err := p.Place(context.Background(), req); err != nil {
		t.Fatalf("after the assumption expired: %v", err)
	}
}

// TestCheckCapacity: n more machines fit when they can be placed one after
// another (each taking its room); the answer names how many fit, and
// nothing is assumed by asking.
func TestCheckCapacity(t *testing.T) {
	hvs := objects{hv("a", 4, 4096), hv("b", 2, 4096, unreachable)}
	machines := objects{machine("m1", "web", "a", 1, "1Gi")}
	p := New(hvs, machines, nil)
	req := iaas.PlacementRequest{Provider: "libvirt", Group: "web", CPUs: 1, MemoryMiB: 1024}
	ctx := context.Background()
	if err := p.CheckCapacity(ctx, req, 3); err != nil {
		t.Fatalf("3 more on a 4-CPU hypervisor holding 1: %v", err)
	}
	err := p.CheckCapacity(ctx, req, 4)
	if !errors.Is(err, iaas.ErrInsufficientCapacity) || !strings.Contains(err.Error(), "3 of 4 more machines") {
		t.Fatalf("4 more: %v, want ErrInsufficientCapacity saying 3 of 4 fit", err)
	}
	// Asking assumed nothing: the room is still there.
	if err := p.CheckCapacity(ctx, req, 3); err != nil {
		t.Fatalf("asked again: %v", err)
	}
	// A pool restricted to the unreachable hypervisor has no room.
	req.Hypervisors = []string{"b"}
	if err := p.CheckCapacity(ctx, req, 1); !errors.Is(err, iaas.ErrInsufficientCapacity) {
		t.Fatalf("on the unreachable hypervisor: %v", err)
	}
}
