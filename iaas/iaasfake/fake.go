// Package iaasfake holds hand-written fakes of the iaas contracts for unit
// and integration tests of the IaaS controllers: a recording Provider (with
// the power and console abilities) that injects failures, and a Placer.
package iaasfake

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/iaas"
)

// ErrHang, given to FailNext, makes the call block until its context ends
// and then return the context's error (a provider that stopped answering).
var ErrHang = errors.New("iaasfake: hang until the context ends")

// Operation names, as recorded in Call.Op and given to FailNext.
const (
	OpCreate     = "Create"
	OpDelete     = "Delete"
	OpGet        = "Get"
	OpList       = "List"
	OpFlavors    = "Flavors"
	OpStart      = "Start"
	OpStop       = "Stop"
	OpReboot     = "Reboot"
	OpConsoleLog = "ConsoleLog"
)

// Call is one recorded call.
type Call struct {
	Op string
	// ID is the machine ID of Delete, Get, Start, Stop, Reboot and
	// ConsoleLog.
	ID string
	// Spec is Create's spec (with its config drive; String redacts it).
	Spec iaas.MachineSpec
}

// String describes the call without the config drive's contents.
func (c Call) String() string {
	if c.Op == OpCreate {
		return "Create(" + c.Spec.String() + ")"
	}
	return c.Op + "(" + c.ID + ")"
}

// Provider is a recording fake iaas.Provider that also implements
// iaas.PowerManager and iaas.ConsoleReader. Its zero value is not usable:
// call New. It is safe for concurrent use.
type Provider struct {
	name string
	// Now times the machines' Created (default time.Now).
	Now func() time.Time

	mu       sync.Mutex
	seq      int
	machines map[string]iaas.Machine
	consoles map[string][]byte
	calls    []Call
	fail     map[string][]error
	flavors  []iaas.Flavor
}

var (
	_ iaas.Provider      = (*Provider)(nil)
	_ iaas.PowerManager  = (*Provider)(nil)
	_ iaas.ConsoleReader = (*Provider)(nil)
)

// New returns an empty fake provider called name offering two flavors,
// "small" (1 CPU, 512 MiB) and "medium" (2 CPUs, 2048 MiB).
func New(name string) *Provider {
	return &Provider{name: name, Now: time.Now, machines: map[string]iaas.Machine{}, consoles: map[string][]byte{},
		fail:    map[string][]error{},
		flavors: []iaas.Flavor{{Name: "small", CPUs: 1, MemoryMiB: 512}, {Name: "medium", CPUs: 2, MemoryMiB: 2048}}}
}

// Name is the provider's name.
func (p *Provider) Name() string { return p.name }

// FailNext makes the next call of op fail with err (ErrHang: block until
// the context ends). Several calls queue up, one per call of op.
func (p *Provider) FailNext(op string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail[op] = append(p.fail[op], err)
}

// FailAlways makes every call of op fail with err until ClearFailures.
func (p *Provider) FailAlways(op string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail[op] = []error{&sticky{err}}
}

// ClearFailures drops every injected failure.
func (p *Provider) ClearFailures() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = map[string][]error{}
}

type sticky struct{ err error }

func (s *sticky) Error() string { return s.err.Error() }

// begin records a call and returns the failure injected for it, if any.
// It must be called with p.mu held.
func (p *Provider) begin(c Call) error {
	p.calls = append(p.calls, c)
	q := p.fail[c.Op]
	if len(q) == 0 {
		return nil
	}
	if s, ok := q[0].(*sticky); ok {
		return s.err
	}
	p.fail[c.Op] = q[1:]
	return q[0]
}

// injected turns an injected failure into the call's result: ErrHang
// blocks until ctx ends.
func injected(ctx context.Context, op string, err error) error {
	if errors.Is(err, ErrHang) {
		<-ctx.Done()
		return fmt.Errorf("fake %s: %w", op, ctx.Err())
	}
	return fmt.Errorf("fake %s: %w", op, err)
}

// Calls returns the calls recorded so far, in order.
func (p *Provider) Calls() []Call {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}

// CallsOf returns the recorded calls of op.
func (p *Provider) CallsOf(op string) []Call {
	var out []Call
	for _, c := range p.Calls() {
		if c.Op == op {
			out = append(out, c)
		}
	}
	return out
}

// Machines returns the machines that exist, sorted by name.
func (p *Provider) Machines() []iaas.Machine {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Collect(maps.Values(p.machines))
	slices.SortFunc(out, func(a, b iaas.Machine) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// MachineNamed returns the machine called name.
func (p *Provider) MachineNamed(name string) (iaas.Machine, bool) {
	for _, m := range p.Machines() {
		if m.Name == name {
			return m, true
		}
	}
	return iaas.Machine{}, false
}

// Disappear removes a machine behind the system's back (a domain
// destroyed by hand); it reports whether there was one with that ID or
// name.
func (p *Provider) Disappear(idOrName string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, m := range p.machines {
		if id == idOrName || m.Name == idOrName {
			delete(p.machines, id)
			delete(p.consoles, id)
			return true
		}
	}
	return false
}

// SetConsole sets the console log a machine shows.
func (p *Provider) SetConsole(id string, log string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.consoles[id] = []byte(log)
}

// Create makes a running machine with ID fake://HYPERVISOR/NAME-N on host
// "host-HYPERVISOR". It refuses a second machine of the same name, as
// libvirt refuses a second domain.
func (p *Provider) Create(ctx context.Context, spec iaas.MachineSpec) (iaas.Machine, error) {
	p.mu.Lock()
	spec.ConfigDrive = maps.Clone(spec.ConfigDrive)
	spec.Labels = maps.Clone(spec.Labels)
	if err := p.begin(Call{Op: OpCreate, Spec: spec}); err != nil {
		p.mu.Unlock()
		return iaas.Machine{}, injected(ctx, OpCreate, err)
	}
	defer p.mu.Unlock()
	for _, m := range p.machines {
		if m.Name == spec.Name {
			return iaas.Machine{}, fmt.Errorf("fake create: a machine named %q exists", spec.Name)
		}
	}
	cpus, mem := spec.CPUs, spec.MemoryMiB
	if spec.Flavor != "" {
		i := slices.IndexFunc(p.flavors, func(f iaas.Flavor) bool { return f.Name == spec.Flavor })
		if i < 0 {
			return iaas.Machine{}, fmt.Errorf("fake create: no flavor %q", spec.Flavor)
		}
		cpus, mem = p.flavors[i].CPUs, p.flavors[i].MemoryMiB
	}
	p.seq++
	hv := spec.Hypervisor
	if hv == "" {
		hv = "cloud"
	}
	m := iaas.Machine{
		ID: fmt.Sprintf("fake://%s/%s-%d", hv, spec.Name, p.seq), Name: spec.Name, Provider: p.name,
		Hypervisor: spec.Hypervisor, Host: "host-" + hv, State: iaas.StateRunning, CPUs: cpus, MemoryMiB: mem,
		Addresses: []string{fmt.Sprintf("10.0.0.%d", p.seq%250+2)}, Labels: spec.Labels, Created: p.Now(),
	}
	p.machines[m.ID] = m
	return m, nil
}

// Delete removes a machine; ErrNotFound when there is none.
func (p *Provider) Delete(ctx context.Context, id string) error {
	p.mu.Lock()
	if err := p.begin(Call{Op: OpDelete, ID: id}); err != nil {
		p.mu.Unlock()
		return injected(ctx, OpDelete, err)
	}
	defer p.mu.Unlock()
	if _, ok := p.machines[id]; !ok {
		return fmt.Errorf("fake delete %s: %w", id, iaas.ErrNotFound)
	}
	delete(p.machines, id)
	delete(p.consoles, id)
	return nil
}

// Get returns a machine; ErrNotFound when there is none.
func (p *Provider) Get(ctx context.Context, id string) (iaas.Machine, error) {
	p.mu.Lock()
	if err := p.begin(Call{Op: OpGet, ID: id}); err != nil {
		p.mu.Unlock()
		return iaas.Machine{}, injected(ctx, OpGet, err)
	}
	defer p.mu.Unlock()
	m, ok := p.machines[id]
	if !ok {
		return iaas.Machine{}, fmt.Errorf("fake get %s: %w", id, iaas.ErrNotFound)
	}
	return m, nil
}

// List returns every machine, sorted by name.
func (p *Provider) List(ctx context.Context) ([]iaas.Machine, error) {
	p.mu.Lock()
	if err := p.begin(Call{Op: OpList}); err != nil {
		p.mu.Unlock()
		return nil, injected(ctx, OpList, err)
	}
	p.mu.Unlock()
	return p.Machines(), nil
}

// Flavors returns the flavors.
func (p *Provider) Flavors(ctx context.Context) ([]iaas.Flavor, error) {
	p.mu.Lock()
	if err := p.begin(Call{Op: OpFlavors}); err != nil {
		p.mu.Unlock()
		return nil, injected(ctx, OpFlavors, err)
	}
	defer p.mu.Unlock()
	return slices.Clone(p.flavors), nil
}

// setState is the body of Start and Stop.
func (p *Provider) setState(ctx context.Context, op, id string, st iaas.MachineState) error {
	p.mu.Lock()
	if err := p.begin(Call{Op: op, ID: id}); err != nil {
		p.mu.Unlock()
		return injected(ctx, op, err)
	}
	defer p.mu.Unlock()
	m, ok := p.machines[id]
	if !ok {
		return fmt.Errorf("fake %s %s: %w", op, id, iaas.ErrNotFound)
	}
	m.State = st
	p.machines[id] = m
	return nil
}

// Start powers a machine on.
func (p *Provider) Start(ctx context.Context, id string) error {
	return p.setState(ctx, OpStart, id, iaas.StateRunning)
}

// Stop powers a machine off.
func (p *Provider) Stop(ctx context.Context, id string) error {
	return p.setState(ctx, OpStop, id, iaas.StateStopped)
}

// Reboot restarts a machine (it is running afterwards).
func (p *Provider) Reboot(ctx context.Context, id string) error {
	return p.setState(ctx, OpReboot, id, iaas.StateRunning)
}

// ConsoleLog returns the last maxBytes of a machine's console (SetConsole).
func (p *Provider) ConsoleLog(ctx context.Context, id string, maxBytes int) ([]byte, error) {
	p.mu.Lock()
	if err := p.begin(Call{Op: OpConsoleLog, ID: id}); err != nil {
		p.mu.Unlock()
		return nil, injected(ctx, OpConsoleLog, err)
	}
	defer p.mu.Unlock()
	if _, ok := p.machines[id]; !ok {
		return nil, fmt.Errorf("fake console log %s: %w", id, iaas.ErrNotFound)
	}
	b := p.consoles[id]
	if maxBytes > 0 && len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	return slices.Clone(b), nil
}

// Bare hides p's optional abilities: the result is only an iaas.Provider,
// like a cloud without power management or console.
func Bare(p iaas.Provider) iaas.Provider { return bare{p} }

type bare struct{ p iaas.Provider }

func (b bare) Name() string { return b.p.Name() }
func (b bare) Create(ctx context.Context, s iaas.MachineSpec) (iaas.Machine, error) {
	return b.p.Create(ctx, s)
}
func (b bare) Delete(ctx context.Context, id string) error { return b.p.Delete(ctx, id) }
func (b bare) Get(ctx context.Context, id string) (iaas.Machine, error) {
	return b.p.Get(ctx, id)
}
func (b bare) List(ctx context.Context) ([]iaas.Machine, error)   { return b.p.List(ctx) }
func (b bare) Flavors(ctx context.Context) ([]iaas.Flavor, error) { return b.p.Flavors(ctx) }

// Placer is a fake iaas.Placer: it places every machine on Hypervisor (or
// the first of the request's Hypervisors when Hypervisor is empty) and
// records the requests.
type Placer struct {
	// Hypervisor is where machines go (default "hv-0").
	Hypervisor string

	mu       sync.Mutex
	requests []iaas.PlacementRequest
	fail     []error
}

var _ iaas.Placer = (*Placer)(nil)

// Place records req and answers.
func (p *Placer) Place(ctx context.Context, req iaas.PlacementRequest) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.requests = append(p.requests, req)
	if len(p.fail) > 0 {
		err := p.fail[0]
		p.fail = p.fail[1:]
		return "", fmt.Errorf("fake placement of %s: %w", req.Name, err)
	}
	if len(req.Hypervisors) > 0 && (p.Hypervisor == "" || !slices.Contains(req.Hypervisors, p.Hypervisor)) {
		return req.Hypervisors[0], nil
	}
	if p.Hypervisor == "" {
		return "hv-0", nil
	}
	return p.Hypervisor, nil
}

// FailNext makes the next Place fail with err (e.g. iaas.ErrInsufficientCapacity).
func (p *Placer) FailNext(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fail = append(p.fail, err)
}

// Requests returns the placement requests seen so far.
func (p *Placer) Requests() []iaas.PlacementRequest {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.requests)
}
