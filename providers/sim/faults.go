package sim

import (
	"errors"

	"github.com/cloudmgr/cloud/iaas"
)

// ErrHang, given to FailCreates or FailNextCreates, makes a Create block
// until its context ends (a cloud that stopped answering).
var ErrHang = errors.New("sim: create hangs until its context ends")

// faults are the injected failures. Their fields are guarded by the
// provider's mutex.
type faults struct {
	// always fails every Create until cleared; next fails the next ones.
	always error
	next   []error
	// neverJoin: every new machine's node never joins; neverJoinNext: so
	// many more of them do not.
	neverJoin     bool
	neverJoinNext int
}

func (f *faults) fromConfig(c Faults) {
	switch {
	case c.HangCreates:
		f.always = ErrHang
	case c.InsufficientCapacity:
		f.always = iaas.ErrInsufficientCapacity
	case c.Quota:
		f.always = iaas.ErrQuota
	}
	f.neverJoin = c.NeverJoin
}

// nextCreate returns the failure injected for a Create, if any.
func (f *faults) nextCreate() error {
	if f.always != nil {
		return f.always
	}
	if len(f.next) > 0 {
		err := f.next[0]
		f.next = f.next[1:]
		return err
	}
	return nil
}

// takeNeverJoin reports whether a new machine's node must never join.
func (f *faults) takeNeverJoin() bool {
	if f.neverJoin {
		return true
	}
	if f.neverJoinNext > 0 {
		f.neverJoinNext--
		return true
	}
	return false
}

// FailCreates makes every Create fail with err until ClearFaults (nil:
// stop): iaas.ErrInsufficientCapacity (capacity exhausted), iaas.ErrQuota,
// iaas.ErrUnreachable, or ErrHang (block until the context ends).
func (p *Provider) FailCreates(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults.always = err
}

// FailNextCreates makes the next n Creates fail with err (see
// FailCreates); several calls queue up.
func (p *Provider) FailNextCreates(err error, n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for range n {
		p.faults.next = append(p.faults.next, err)
	}
}

// SetNeverJoin makes the machines created from now on run with nodes that
// never join (on), or join again (off).
func (p *Provider) SetNeverJoin(on bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults.neverJoin = on
}

// NeverJoinNext makes the next n machines created run with nodes that
// never join.
func (p *Provider) NeverJoinNext(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults.neverJoinNext += n
}

// ClearFaults drops every injected failure.
func (p *Provider) ClearFaults() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.faults = faults{}
}
