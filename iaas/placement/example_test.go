package placement_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/placement"
)

type list []api.Object

func (l list) List() []api.Object { return l }

func reachableHV(name string, cpus int64) *api.Hypervisor {
	return &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.HypervisorSpec{URI: "qemu:///system"},
		Status: api.HypervisorStatus{
			Capacity:   api.ResourceList{api.ResourceCPU: api.NewQuantity(cpus, api.DecimalSI), api.ResourceMemory: api.MustParseQuantity("8Gi")},
			Conditions: []api.Condition{{Type: api.ConditionReachable, Status: api.ConditionTrue}},
		}}
}

// A Placer reads the caches of Hypervisors, Machines and VirtualMachines
// (a *client.Cache each in a controller) and says where a VM goes, or why
// it goes nowhere.
func ExamplePlacer() {
	hvs := list{reachableHV("hv-1", 2), reachableHV("hv-2", 8)}
	p := placement.New(hvs, nil, nil)
	hv, err := p.Place(context.Background(), iaas.PlacementRequest{Name: "web-1", Provider: "libvirt", Group: "web", CPUs: 4, MemoryMiB: 1024})
	fmt.Println(hv, err)

	_, err = p.Place(context.Background(), iaas.PlacementRequest{Name: "big", Provider: "libvirt", CPUs: 16, MemoryMiB: 1024})
	fmt.Println(errors.Is(err, iaas.ErrInsufficientCapacity))
	fmt.Println(err)
	// Output:
	// hv-2 <nil>
	// true
	// place big: insufficient capacity: 0/2 hypervisors are available: 2 Insufficient cpu.
}
