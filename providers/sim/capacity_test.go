package sim

import (
	"context"
	"errors"
	"testing"

	"github.com/cloudmgr/cloud/iaas"
)

// TestCheckCapacity: the room on the hosts and the quota answer for n
// machines, injected faults answer for all, and nothing is made.
func TestCheckCapacity(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, Config{Cloud: true, Hosts: []Host{{Name: "h", CPUs: 4, MemoryMiB: 8192, Count: 2}}, Quota: Quota{Instances: 3}})
	var _ iaas.CapacityChecker = p
	if c, ok := iaas.Ability[iaas.CapacityChecker](iaas.Instrument(p, nil)); !ok || c == nil {
		t.Fatal("the ability is not found through the metrics decorator")
	}
	two := spec("", "", 2, 1024)
	for _, tc := range []struct {
		n    int
		want error
	}{{0, nil}, {3, nil}, {4, iaas.ErrQuota}} {
		if err := p.CheckCapacity(ctx, two, tc.n); !errors.Is(err, tc.want) || (tc.want == nil) != (err == nil) {
			t.Errorf("%d machines of 2 CPUs: %v, want %v", tc.n, err, tc.want)
		}
	}
	big := spec("", "", 3, 1024)
	if err := p.CheckCapacity(ctx, big, 3); !errors.Is(err, iaas.ErrInsufficientCapacity) {
		t.Errorf("3 machines of 3 CPUs on two 4-CPU hosts: %v", err)
	}
	if ms, _ := p.List(ctx); len(ms) != 0 {
		t.Fatalf("a check made machines: %v", ms)
	}
	if _, err := p.Create(ctx, spec("a", "", 3, 1024)); err != nil {
		t.Fatal(err)
	}
	if err := p.CheckCapacity(ctx, big, 2); !errors.Is(err, iaas.ErrInsufficientCapacity) {
		t.Errorf("after one create: %v", err)
	}
	if err := p.CheckCapacity(ctx, big, 1); err != nil {
		t.Errorf("room for one more: %v", err)
	}
	p.FailCreates(iaas.ErrInsufficientCapacity)
	if err := p.CheckCapacity(ctx, two, 1); !errors.Is(err, iaas.ErrInsufficientCapacity) {
		t.Errorf("with the fault: %v", err)
	}
	p.ClearFaults()
	if err := p.CheckCapacity(ctx, two, 1); err != nil {
		t.Errorf("fault cleared: %v", err)
	}
}
