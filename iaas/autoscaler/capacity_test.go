package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/iaasfake"
)

// recordingPlacer answers capacity checks with err and records them.
type recordingPlacer struct {
	reqs []iaas.PlacementRequest
	ns   []int
	err  error
}

func (r *recordingPlacer) CheckCapacity(_ context.Context, req iaas.PlacementRequest, n int) error {
	r.reqs, r.ns = append(r.reqs, req), append(r.ns, n)
	return r.err
}

// checkingProvider is a provider with its own capacity check.
type checkingProvider struct {
	iaas.Provider
	err error
}

func (c checkingProvider) CheckCapacity(context.Context, iaas.MachineSpec, int) error { return c.err }

// TestCheckCapacityAsksPlacement: a pool of a provider with no capacity
// check of its own that does not place machines itself (libvirt) is
// checked against the placement of its hypervisors, with the pool's size,
// hypervisors and selector; a provider with its own check is asked
// instead.
func TestCheckCapacityAsksPlacement(t *testing.T) {
	full := fmt.Errorf("2 of 3 more machines fit: %w", iaas.ErrInsufficientCapacity)
	placer := &recordingPlacer{err: full}
	c := &Controller{o: Options{Placer: placer, Providers: iaas.Providers{
		"libvirt": iaasfake.New("libvirt"),
		"cloud":   checkingProvider{Provider: iaasfake.New("cloud"), err: iaas.ErrQuota},
	}}}
	pool := &api.NodePool{ObjectMeta: api.ObjectMeta{Name: "private"}, Spec: api.NodePoolSpec{Provider: "libvirt", VCPUs: 2,
		Memory: api.MustParseQuantity("1Gi"), Hypervisors: []string{"hv-1"}, HypervisorSelector: map[string]string{"rack": "r1"}}}
	if err := c.checkCapacity(context.Background(), pool, 3); !errors.Is(err, iaas.ErrInsufficientCapacity) {
		t.Fatalf("libvirt pool: %v, want the placement's answer", err)
	}
	if len(placer.reqs) != 1 || placer.ns[0] != 3 {
		t.Fatalf("placement asked %v for %v", placer.reqs, placer.ns)
	}
	if r := placer.reqs[0]; r.Provider != "libvirt" || r.Group != "private" || r.CPUs != 2 || r.MemoryMiB != 1024 ||
		len(r.Hypervisors) != 1 || r.Selector["rack"] != "r1" {
		t.Fatalf("placement request %+v", r)
	}
	cloud := &api.NodePool{ObjectMeta: api.ObjectMeta{Name: "public"}, Spec: api.NodePoolSpec{Provider: "cloud", VCPUs: 2}}
	if err := c.checkCapacity(context.Background(), cloud, 1); !errors.Is(err, iaas.ErrQuota) {
		t.Fatalf("a provider with its own check: %v, want its ErrQuota", err)
	}
	if len(placer.reqs) != 1 {
		t.Fatalf("placement asked for a provider with its own check")
	}
}
