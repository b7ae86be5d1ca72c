package iaas

import "context"

// CapacityChecker is the optional ability to say, without making
// anything, whether n more machines of spec could be made now: nil, or an
// error wrapping ErrInsufficientCapacity or ErrQuota. The node autoscaler
// asks it before growing a pool, so that a full private cloud sends the
// growth to the next pool in the same loop. The simulator and OpenStack
// (the project's limits) have it; for libvirt pools the autoscaler asks
// the placement of its hypervisors instead.
type CapacityChecker interface {
	CheckCapacity(ctx context.Context, spec MachineSpec, n int) error
}
