// Package libvirt is the iaas.Provider for libvirt hypervisors: each
// machine is a direct-kernel-boot domain (kernel, initrd and a NoCloud
// config drive uploaded as storage volumes, so remote hypervisors work
// too), marked as this system's by metadata in its XML
// (<cloudmgr:machine xmlns:cloudmgr="https://cloudmgr.dev/machine">).
//
// What a guest sees: the image's kernel, initrd and command line (no
// secrets there); the qboot ROM and ACPI (so "poweroff -f" ends the
// domain); the config drive as a read-only virtio disk, an ISO 9660
// labelled "cidata" with lower-case file names (the guest should find it
// by label; as the only disk it is /dev/vda); one virtio NIC (user-mode by
// default: the host's 127.0.0.1 is 10.0.2.2); ttyS0 going to the console
// log, a volume of the pool that ConsoleLog reads.
//
// Volumes in the pool: cloudmgr-image-SHA (kernels and initrds, shared by
// content, with an empty NAME.ok marker once uploaded; PruneImages removes
// unused ones), cloudmgr-NAME-UUID8-cidata.iso and -console.log (the
// machine's own, deleted with it).
package libvirt

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cloudmgr/cloud/iaas"
)

// ProviderName is the provider's default name.
const ProviderName = "libvirt"

// Image is a bootable image: files on the control-plane host, uploaded to
// each hypervisor's pool (once per content) when a machine needs them.
type Image struct {
	Kernel string
	Initrd string
	// Cmdline is the kernel command line (never secrets: they go on the
	// config drive).
	Cmdline string
}

// Config configures the provider.
type Config struct {
	// Name is the provider's name (default "libvirt").
	Name string
	// Hypervisors maps a Hypervisor name to its libvirt URI: qemu:///system,
	// qemu:///system?socket=/path/libvirt-sock, qemu+tcp://host[:port]/system.
	// More are added at run time with AddHypervisor.
	Hypervisors map[string]string
	// Images by name.
	Images map[string]Image
	// DefaultImage is the image of a machine that names none.
	DefaultImage string
	// Pool is the storage pool, on every hypervisor, that holds kernels,
	// initrds, config drives and console logs (default "cloudmgr").
	Pool string
	// PoolDir, when set, is the directory of a dir pool created (and
	// started) where Pool does not exist yet.
	PoolDir string
	// Flavors replaces the default table (small, medium, large).
	Flavors []iaas.Flavor
	// DomainType forces the domain type: "kvm" or "qemu" (TCG). Empty
	// chooses kvm where the hypervisor offers it, else qemu. Set "qemu"
	// where /dev/kvm exists but does not work (nested KVM on some clouds:
	// guests stop on "KVM internal error" or hang early in boot).
	DomainType string
	// Loader is the firmware ROM (default /usr/share/qemu/qboot.rom).
	Loader string
	// DialTimeout bounds connecting to a hypervisor (default 5s).
	DialTimeout time.Duration
	// StopTimeout is how long Stop waits for a clean shutdown before it
	// forces the power off, when the context allows it (default 20s).
	StopTimeout time.Duration
	// HungCallGrace: a libvirt call still running this long after its
	// context ended has its connection cut, so that a hung daemon does not
	// hold the caller for ever (default 5s). go-libvirt's calls take no
	// context.
	HungCallGrace time.Duration
	// RollbackTimeout bounds undoing a failed Create, which runs on a
	// fresh context whatever became of the caller's (default 1m).
	RollbackTimeout time.Duration
	// Logger (default slog.Default()).
	Logger *slog.Logger
}

// DefaultFlavors are the sizes offered unless Config.Flavors is set.
var DefaultFlavors = []iaas.Flavor{
	{Name: "small", CPUs: 1, MemoryMiB: 512},
	{Name: "medium", CPUs: 2, MemoryMiB: 1024},
	{Name: "large", CPUs: 4, MemoryMiB: 4096},
}

// Provider is the libvirt iaas.Provider; it is also an iaas.PowerManager,
// iaas.ConsoleReader and iaas.HostInspector. Safe for concurrent use.
type Provider struct {
	cfg Config
	log *slog.Logger

	mu  sync.Mutex
	hvs map[string]*hypervisor
	// imageMu serialises uploads and pruning of shared image volumes;
	// inflight counts the Creates using each (not to be pruned).
	imageMu  sync.Mutex
	inflight map[string]int

	// stepHook, in tests, runs after each step of Create; an error fails
	// the Create there.
	stepHook func(step string) error
	// upload sends a volume's content (StorageVolUpload; tests on the
	// test driver, which cannot upload, replace it).
	upload func(l *golibvirt.Libvirt, vol golibvirt.StorageVol, r io.Reader, size uint64) error
}

var (
	_ iaas.Provider      = (*Provider)(nil)
	_ iaas.PowerManager  = (*Provider)(nil)
	_ iaas.ConsoleReader = (*Provider)(nil)
	_ iaas.HostInspector = (*Provider)(nil)
)

// New returns a provider; it connects to hypervisors only when used.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = ProviderName
	}
	if cfg.Pool == "" {
		cfg.Pool = "cloudmgr"
	}
	if cfg.Loader == "" {
		cfg.Loader = "/usr/share/qemu/qboot.rom"
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = 5 * time.Second
	}
	if cfg.StopTimeout <= 0 {
		cfg.StopTimeout = 20 * time.Second
	}
	if cfg.HungCallGrace <= 0 {
		cfg.HungCallGrace = 5 * time.Second
	}
	if cfg.RollbackTimeout <= 0 {
		cfg.RollbackTimeout = time.Minute
	}
	if len(cfg.Flavors) == 0 {
		cfg.Flavors = DefaultFlavors
	}
	if cfg.DomainType != "" && cfg.DomainType != "kvm" && cfg.DomainType != "qemu" {
		return nil, fmt.Errorf("libvirt: domain type %q: want kvm, qemu or empty (automatic)", cfg.DomainType)
	}
	cfg.Images = maps.Clone(cfg.Images)
	for name, img := range cfg.Images {
		if img.Kernel == "" {
			return nil, fmt.Errorf("libvirt: image %q: no kernel", name)
		}
	}
	p := &Provider{cfg: cfg, log: cfg.Logger, hvs: map[string]*hypervisor{}, inflight: map[string]int{},
		upload: func(l *golibvirt.Libvirt, vol golibvirt.StorageVol, r io.Reader, size uint64) error {
			return l.StorageVolUpload(vol, r, 0, size, 0)
		}}
	if p.log == nil {
		p.log = slog.Default()
	}
	p.log = p.log.With("provider", cfg.Name)
	for name, uri := range cfg.Hypervisors {
		if err := p.AddHypervisor(name, uri); err != nil {
			return nil, err
		}
	}
	return p, nil
}

// Name is the provider's name.
func (p *Provider) Name() string { return p.cfg.Name }

// AddHypervisor adds the hypervisor name at uri, or changes its URI (the
// old connection is closed). The URI is checked, not dialled.
func (p *Provider) AddHypervisor(name, uri string) error {
	if name == "" {
		return fmt.Errorf("libvirt: hypervisor name is empty")
	}
	if _, err := parseURI(uri, p.cfg.DialTimeout); err != nil {
		return fmt.Errorf("libvirt: hypervisor %s: %w", name, err)
	}
	p.mu.Lock()
	old := p.hvs[name]
	if old != nil && old.uri == uri {
		p.mu.Unlock()
		return nil
	}
	p.hvs[name] = &hypervisor{name: name, uri: uri, timeout: p.cfg.DialTimeout, hungAfter: p.cfg.HungCallGrace}
	p.mu.Unlock()
	if old != nil {
		old.close()
	}
	return nil
}

// RemoveHypervisor forgets a hypervisor and closes its connection. Its
// domains are left as they are.
func (p *Provider) RemoveHypervisor(name string) {
	p.mu.Lock()
	h := p.hvs[name]
	delete(p.hvs, name)
	p.mu.Unlock()
	if h != nil {
		h.close()
	}
}

// Hypervisors returns the names of the known hypervisors, sorted.
func (p *Provider) Hypervisors() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Sorted(maps.Keys(p.hvs))
}

// Close closes every connection.
func (p *Provider) Close() error {
	p.mu.Lock()
	hvs := slices.Collect(maps.Values(p.hvs))
	p.mu.Unlock()
	for _, h := range hvs {
		h.close()
	}
	return nil
}

func (p *Provider) hypervisor(name string) (*hypervisor, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	h, ok := p.hvs[name]
	if !ok {
		return nil, fmt.Errorf("libvirt: unknown hypervisor %q (known: %v)", name, slices.Sorted(maps.Keys(p.hvs)))
	}
	return h, nil
}

// Flavors lists the sizes offered.
func (p *Provider) Flavors(context.Context) ([]iaas.Flavor, error) {
	return slices.Clone(p.cfg.Flavors), nil
}

func (p *Provider) flavor(name string) (iaas.Flavor, bool) {
	for _, f := range p.cfg.Flavors {
		if f.Name == name {
			return f, true
		}
	}
	return iaas.Flavor{}, false
}
