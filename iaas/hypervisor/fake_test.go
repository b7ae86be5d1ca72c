package hypervisor

import (
	"context"
	"sync"

	"github.com/cloudmgr/cloud/iaas"
)

// fakeHost is a provider that can only inspect hosts: it answers info, or
// err while one is set, and counts the calls. The other Provider methods
// are not called by this controller (the embedded nil interface would
// panic if they were).
type fakeHost struct {
	iaas.Provider

	mu    sync.Mutex
	info  iaas.HostInfo
	err   error
	calls int
	uris  []string
}

func (f *fakeHost) Name() string { return "libvirt" }

func (f *fakeHost) InspectHost(_ context.Context, _, uri string) (iaas.HostInfo, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	f.uris = append(f.uris, uri)
	return f.info, f.err
}

func (f *fakeHost) set(info iaas.HostInfo, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.info, f.err = info, err
}

func (f *fakeHost) callCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// noInspect is a provider without the HostInspector ability.
type noInspect struct{ iaas.Provider }

func (noInspect) Name() string { return "sim" }
