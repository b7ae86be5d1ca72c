// Package iaas is the infrastructure layer: the Provider contract that VM
// sources (libvirt hypervisors, OpenStack clouds, the simulator) implement,
// and the controllers that turn Hypervisors, NodePools, Machines and
// VirtualMachines into VMs through it.
//
// The contract is small, after Karpenter's CloudProvider: create, delete,
// get, list and flavors. Optional abilities (power, console, host
// inspection) are found by type assertion.
package iaas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// Typed errors every provider returns (wrapped, so test with errors.Is).
var (
	// ErrNotFound: no such machine (Delete returns it once it is gone).
	ErrNotFound = errors.New("machine not found")
	// ErrInsufficientCapacity: no host has room for the machine.
	ErrInsufficientCapacity = errors.New("insufficient capacity")
	// ErrQuota: the account's quota does not allow the machine.
	ErrQuota = errors.New("quota exceeded")
	// ErrUnreachable: the hypervisor or cloud cannot be reached now.
	ErrUnreachable = errors.New("provider unreachable")
)

// Provider is a source of VMs.
type Provider interface {
	// Name is the provider's name ("libvirt", "openstack", "sim").
	Name() string
	// Create makes and starts a machine. On failure nothing it made is
	// left behind. ErrInsufficientCapacity, ErrQuota, ErrUnreachable.
	Create(ctx context.Context, spec MachineSpec) (Machine, error)
	// Delete stops and removes a machine with its disks and config drive.
	// ErrNotFound once it is gone.
	Delete(ctx context.Context, id string) error
	// Get returns one machine. ErrNotFound.
	Get(ctx context.Context, id string) (Machine, error)
	// List returns the machines this system owns, and no others.
	List(ctx context.Context) ([]Machine, error)
	// Flavors lists the sizes the provider offers.
	Flavors(ctx context.Context) ([]Flavor, error)
}

// PowerManager is the optional ability to stop and start a machine without
// deleting it (tenant VMs' run strategy).
type PowerManager interface {
	Start(ctx context.Context, id string) error
	// Stop powers the machine off (force after the context's deadline).
	Stop(ctx context.Context, id string) error
	Reboot(ctx context.Context, id string) error
}

// ConsoleReader is the optional ability to read the tail of a machine's
// serial console log.
type ConsoleReader interface {
	ConsoleLog(ctx context.Context, id string, maxBytes int) ([]byte, error)
}

// Sweeper is the optional ability to remove what a machine left behind on
// its hypervisor once its VM is gone: the disks and config drive of a VM
// destroyed behind the system's back, or of a create whose rollback could
// not reach the hypervisor. A VM that still exists is left to Delete.
type Sweeper interface {
	SweepMachine(ctx context.Context, hypervisor, name string) error
}

// Ability returns p as T when p, or the provider a decorator of p wraps
// (one with an Unwrap() Provider method, like Instrument's), has it.
func Ability[T any](p Provider) (T, bool) {
	for p != nil {
		if t, ok := p.(T); ok {
			return t, true
		}
		u, ok := p.(interface{ Unwrap() Provider })
		if !ok {
			break
		}
		p = u.Unwrap()
	}
	var zero T
	return zero, false
}

// HostInspector is the optional ability to describe the hypervisor a
// provider reaches by URI: capacity and host name (libvirt).
type HostInspector interface {
	InspectHost(ctx context.Context, hypervisor, uri string) (HostInfo, error)
}

// HostInfo is what a hypervisor has.
type HostInfo struct {
	Hostname  string
	CPUs      int32
	MemoryMiB int64
	// DomainType is "kvm" where /dev/kvm exists, else "qemu".
	DomainType string
}

// MachineSpec is a machine to create.
type MachineSpec struct {
	// Name is unique within the system; it becomes the node's name.
	Name string
	// Hypervisor names the Hypervisor object placement chose (libvirt);
	// empty for clouds that place machines themselves.
	Hypervisor string
	// Group names the machines that should be spread apart (the NodePool),
	// e.g. a Nova server group.
	Group     string
	Flavor    string
	CPUs      int32
	MemoryMiB int64
	Image     string
	// Network: empty for user-mode networking, "network:NAME" or
	// "bridge:NAME".
	Network string
	// Labels are recorded on the machine (provider metadata).
	Labels map[string]string
	// ConfigDrive holds the files of the NoCloud-style config drive
	// (bootstrap data: API URL, CA, join token). They are secret: never
	// log them.
	ConfigDrive map[string][]byte
}

// LogValue keeps the config drive out of logs.
func (s MachineSpec) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", s.Name), slog.String("hypervisor", s.Hypervisor),
		slog.String("flavor", s.Flavor), slog.Int("cpus", int(s.CPUs)),
		slog.Int64("memoryMiB", s.MemoryMiB), slog.String("image", s.Image),
		slog.Int("configDriveFiles", len(s.ConfigDrive)))
}

// String keeps the config drive out of %v.
func (s MachineSpec) String() string {
	return fmt.Sprintf("machine %s (hypervisor %q, %d cpus, %d MiB, image %q, %d config drive files)",
		s.Name, s.Hypervisor, s.CPUs, s.MemoryMiB, s.Image, len(s.ConfigDrive))
}

// MachineState is what the provider says a machine is doing.
type MachineState string

// Machine states.
const (
	StatePending MachineState = "Pending"
	StateRunning MachineState = "Running"
	StateStopped MachineState = "Stopped"
	StateError   MachineState = "Error"
	StateUnknown MachineState = "Unknown"
)

// Machine is a VM as the provider sees it.
type Machine struct {
	// ID is the provider's ID, unique across its hypervisors
	// ("libvirt://HYPERVISOR/UUID").
	ID       string
	Name     string
	Provider string
	// Hypervisor is the Hypervisor object holding it (libvirt).
	Hypervisor string
	// Host is the physical host it runs on (libvirt host name or Nova
	// hostId).
	Host      string
	State     MachineState
	CPUs      int32
	MemoryMiB int64
	Addresses []string
	Labels    map[string]string
	Created   time.Time
	// Message says why the machine is in Error.
	Message string
}

// Flavor is a size a provider offers.
type Flavor struct {
	Name      string
	CPUs      int32
	MemoryMiB int64
}

// Providers are the configured providers by name.
type Providers map[string]Provider

// Get returns the provider called name, or an error naming the ones there are.
func (ps Providers) Get(name string) (Provider, error) {
	if p, ok := ps[name]; ok {
		return p, nil
	}
	names := make([]string, 0, len(ps))
	for n := range ps {
		names = append(names, n)
	}
	return nil, fmt.Errorf("no provider %q is configured (configured: %v)", name, names)
}

// Placer chooses the Hypervisor object a new machine goes on, with the
// scheduler's filter and score machinery. It returns an error wrapping
// ErrInsufficientCapacity, with the reasons per hypervisor, when none fits.
type Placer interface {
	Place(ctx context.Context, req PlacementRequest) (hypervisor string, err error)
}

// PlacementRequest is what placement needs to know of a machine.
type PlacementRequest struct {
	// Name is the machine's name (for messages).
	Name string
	// Provider: only hypervisors of this provider qualify.
	Provider string
	// Group: machines of one group (a NodePool) spread across hypervisors.
	Group     string
	CPUs      int32
	MemoryMiB int64
	// Hypervisors, when set, are the only names allowed.
	Hypervisors []string
	// Selector must match the hypervisor's labels.
	Selector map[string]string
}
