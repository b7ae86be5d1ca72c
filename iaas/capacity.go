package iaas

import "context"

// CapacityChecker is the optional ability to say, without making
// anything, whether n more machines of spec could be made now: nil, or an
// error wrapping ErrInsufficientCapacity or ErrQuota. The node autoscaler
// asks it before growing a pool, so that a full private cloud sends the
// growth to the next pool in the same loop. The simulator has it; libvirt
// and OpenStack do not yet (their pools learn of a full cloud from a
// failed create).
type CapacityChecker interface {
	CheckCapacity(ctx context.Context, spec MachineSpec, n int) error
}
