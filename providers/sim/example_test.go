package sim_test

import (
	"context"
	"fmt"
	"time"

	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/providers/sim"
)

// A simulated cloud of two hosts that places machines itself, with a
// quota, and a capacity failure injected at run time.
func ExampleNew() {
	p, err := sim.New(sim.Config{
		Cloud:             true,
		Hosts:             []sim.Host{{Name: "rack", CPUs: 32, MemoryMiB: 131072, Count: 2}},
		Quota:             sim.Quota{Instances: 100},
		HeartbeatInterval: 10 * time.Second,
		CPUUsage:          0.2,
	})
	if err != nil {
		panic(err)
	}
	defer p.Close()
	ctx := context.Background()
	m, _ := p.Create(ctx, iaas.MachineSpec{Name: "web-1", Flavor: "medium"})
	fmt.Println(m.Provider, m.Host, m.State, m.CPUs)
	p.FailNextCreates(iaas.ErrInsufficientCapacity, 1)
	_, err = p.Create(ctx, iaas.MachineSpec{Name: "web-2", Flavor: "medium"})
	fmt.Println(err)
	// Output:
	// sim rack-0 Running 2
	// sim create web-2: insufficient capacity
}
