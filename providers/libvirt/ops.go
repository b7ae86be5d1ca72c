package libvirt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/cloudmgr/cloud/iaas"
)

// found is a domain of ours.
type found struct {
	// release ends the guard of the calls on l.
	release func()
	h       *hypervisor
	l       *golibvirt.Libvirt
	tgt     target
	dom     golibvirt.Domain
	xml     libvirtxml.Domain
	meta    machineMeta
}

// lookup finds the domain of a machine ID: ErrNotFound when there is none
// or it is not this system's.
func (p *Provider) lookup(ctx context.Context, id string) (_ found, err error) {
	hv, uuid, err := parseID(id)
	if err != nil {
		return found{}, err
	}
	h, err := p.hypervisor(hv)
	if err != nil {
		return found{}, err
	}
	l, tgt, err := h.connect()
	if err != nil {
		return found{}, err
	}
	f := found{h: h, l: l, tgt: tgt, release: h.guard(ctx, l)}
	defer func() {
		if err != nil {
			f.release()
		}
	}()
	f.dom, err = l.DomainLookupByUUID(uuid)
	if isCode(err, golibvirt.ErrNoDomain) {
		return found{}, fmt.Errorf("libvirt: machine %s: %w", id, iaas.ErrNotFound)
	}
	if err != nil {
		return found{}, h.fail(l, err)
	}
	var ok bool
	f.xml, f.meta, ok, err = p.describe(h, l, f.dom)
	if err != nil {
		return found{}, err
	}
	if !ok {
		return found{}, fmt.Errorf("libvirt: domain %s on %s is not this system's: %w", f.dom.Name, hv, iaas.ErrNotFound)
	}
	return f, nil
}

// describe reads a domain's XML and our metadata in it.
func (p *Provider) describe(h *hypervisor, l *golibvirt.Libvirt, dom golibvirt.Domain) (libvirtxml.Domain, machineMeta, bool, error) {
	var d libvirtxml.Domain
	x, err := l.DomainGetXMLDesc(dom, 0)
	if isCode(err, golibvirt.ErrNoDomain) {
		return d, machineMeta{}, false, nil
	}
	if err != nil {
		return d, machineMeta{}, false, h.fail(l, err)
	}
	if err := d.Unmarshal(x); err != nil {
		return d, machineMeta{}, false, fmt.Errorf("libvirt: domain %s: %w", dom.Name, err)
	}
	m, ok := parseMeta(&d)
	return d, m, ok, nil
}

// machine reads the state of a found domain into a Machine.
func (p *Provider) machine(f found) (iaas.Machine, error) {
	state, reason, err := f.l.DomainGetState(f.dom, 0)
	if isCode(err, golibvirt.ErrNoDomain) {
		return iaas.Machine{}, fmt.Errorf("libvirt: domain %s: %w", f.dom.Name, iaas.ErrNotFound)
	}
	if err != nil {
		return iaas.Machine{}, f.h.fail(f.l, err)
	}
	host, err := f.h.hostname(f.l)
	if err != nil {
		return iaas.Machine{}, f.h.fail(f.l, err)
	}
	m := p.machineFrom(f.h.name, host, &f.xml, f.meta, state, reason)
	if m.State == iaas.StateRunning {
		m.Addresses = p.addresses(f)
	}
	return m, nil
}

// addresses are the IPv4 and IPv6 addresses of a running domain's NICs
// on libvirt networks (their DHCP leases) and bridges (the host's ARP
// table), best effort. User-mode NICs have none the host can reach.
func (p *Provider) addresses(f found) []string {
	if f.xml.Devices == nil {
		return nil
	}
	var out []string
	seen := map[string]bool{}
	for _, nic := range f.xml.Devices.Interfaces {
		if nic.Source == nil {
			continue
		}
		var src golibvirt.DomainInterfaceAddressesSource
		switch {
		case nic.Source.Network != nil:
			src = golibvirt.DomainInterfaceAddressesSrcLease
		case nic.Source.Bridge != nil:
			src = golibvirt.DomainInterfaceAddressesSrcArp
		default:
			continue
		}
		ifaces, err := f.l.DomainInterfaceAddresses(f.dom, uint32(src), 0)
		if err != nil {
			p.log.Debug("no addresses", "domain", f.dom.Name, "err", err)
			continue
		}
		for _, i := range ifaces {
			for _, a := range i.Addrs {
				if !seen[a.Addr] {
					seen[a.Addr] = true
					out = append(out, a.Addr)
				}
			}
		}
	}
	return out
}

// Get returns one machine.
func (p *Provider) Get(ctx context.Context, id string) (iaas.Machine, error) {
	f, err := p.lookup(ctx, id)
	if err != nil {
		return iaas.Machine{}, err
	}
	defer f.release()
	return p.machine(f)
}

// List returns this system's machines on every hypervisor. When some
// hypervisors cannot be reached it returns the machines of the others
// together with an error wrapping iaas.ErrUnreachable.
func (p *Provider) List(ctx context.Context) ([]iaas.Machine, error) {
	var out []iaas.Machine
	var errs []error
	for _, name := range p.Hypervisors() {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		ms, err := p.listOn(ctx, name)
		out = append(out, ms...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	sortMachines(out)
	return out, errors.Join(errs...)
}

func (p *Provider) listOn(ctx context.Context, name string) ([]iaas.Machine, error) {
	h, err := p.hypervisor(name)
	if err != nil {
		return nil, nil // removed meanwhile
	}
	l, tgt, err := h.connect()
	if err != nil {
		return nil, err
	}
	defer h.guard(ctx, l)()
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		return nil, h.fail(l, err)
	}
	var out []iaas.Machine
	for _, dom := range doms {
		d, m, ok, err := p.describe(h, l, dom)
		if err != nil {
			return out, err
		}
		if !ok {
			continue
		}
		mc, err := p.machine(found{h: h, l: l, tgt: tgt, dom: dom, xml: d, meta: m})
		if errors.Is(err, iaas.ErrNotFound) {
			continue // deleted meanwhile
		}
		if err != nil {
			return out, err
		}
		out = append(out, mc)
	}
	return out, nil
}

// Delete powers the machine off and removes its volumes (config drive,
// console log) and its definition, in that order, so that a failed
// Delete can be retried. ErrNotFound once it is gone.
func (p *Provider) Delete(ctx context.Context, id string) error {
	f, err := p.lookup(ctx, id)
	if err != nil {
		return err
	}
	defer f.release()
	if err := destroy(f.l, f.dom); err != nil {
		return f.h.fail(f.l, err)
	}
	if len(f.meta.Volumes) > 0 {
		pool, err := f.l.StoragePoolLookupByName(p.cfg.Pool)
		if err != nil {
			return f.h.fail(f.l, fmt.Errorf("libvirt: storage pool %s: %w", p.cfg.Pool, err))
		}
		for _, v := range f.meta.Volumes {
			if err := deleteVolume(f.l, pool, v); err != nil {
				return f.h.fail(f.l, err)
			}
		}
	}
	if err := undefine(f.l, f.dom); err != nil {
		return f.h.fail(f.l, err)
	}
	p.log.Info("machine deleted", "machine", f.meta.Name, "id", id)
	return nil
}

// Start powers a stopped machine on; a running one is left so.
func (p *Provider) Start(ctx context.Context, id string) error {
	f, err := p.lookup(ctx, id)
	if err != nil {
		return err
	}
	defer f.release()
	err = f.l.DomainCreate(f.dom)
	if err != nil && !isCode(err, golibvirt.ErrOperationInvalid) {
		return f.h.fail(f.l, fmt.Errorf("libvirt: start %s: %w", id, err))
	}
	return nil
}

// Stop asks the guest to shut down (ACPI) and powers it off when it has
// not within StopTimeout, or shortly before ctx's deadline.
func (p *Provider) Stop(ctx context.Context, id string) error {
	f, err := p.lookup(ctx, id)
	if err != nil {
		return err
	}
	defer f.release()
	grace := p.cfg.StopTimeout
	if dl, ok := ctx.Deadline(); ok && time.Until(dl)-time.Second < grace {
		grace = max(time.Until(dl)-time.Second, 0)
	}
	if err := f.l.DomainShutdown(f.dom); err != nil {
		if isCode(err, golibvirt.ErrOperationInvalid) {
			return nil // not running
		}
		if !isCode(err, golibvirt.ErrOperationFailed, golibvirt.ErrAgentUnresponsive) {
			return f.h.fail(f.l, fmt.Errorf("libvirt: shut down %s: %w", id, err))
		}
		grace = 0
	}
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		state, _, err := f.l.DomainGetState(f.dom, 0)
		if err != nil {
			return f.h.fail(f.l, err)
		}
		if golibvirt.DomainState(state) == golibvirt.DomainShutoff {
			return nil
		}
		time.Sleep(200 * time.Millisecond)
	}
	if err := destroy(f.l, f.dom); err != nil {
		return f.h.fail(f.l, err)
	}
	return nil
}

// Reboot resets the machine (like its reset button: the guest need not
// cooperate).
func (p *Provider) Reboot(ctx context.Context, id string) error {
	f, err := p.lookup(ctx, id)
	if err != nil {
		return err
	}
	defer f.release()
	if err := f.l.DomainReset(f.dom, 0); err != nil {
		return f.h.fail(f.l, fmt.Errorf("libvirt: reset %s: %w", id, err))
	}
	return nil
}

// ConsoleLog returns the last maxBytes of the machine's serial console
// log. The log is a volume in the pool: on a local hypervisor its file is
// read directly; on a remote one its tail is downloaded through libvirt
// (StorageVolDownload).
func (p *Provider) ConsoleLog(ctx context.Context, id string, maxBytes int) ([]byte, error) {
	f, err := p.lookup(ctx, id)
	if err != nil {
		return nil, err
	}
	defer f.release()
	if f.meta.Console == "" {
		return nil, fmt.Errorf("libvirt: machine %s has no console log", id)
	}
	pool, err := f.l.StoragePoolLookupByName(p.cfg.Pool)
	if err != nil {
		return nil, f.h.fail(f.l, fmt.Errorf("libvirt: storage pool %s: %w", p.cfg.Pool, err))
	}
	vol, err := f.l.StorageVolLookupByName(pool, f.meta.Console)
	if err != nil {
		return nil, f.h.fail(f.l, fmt.Errorf("libvirt: console volume %s: %w", f.meta.Console, err))
	}
	if f.tgt.local {
		path, err := f.l.StorageVolGetPath(vol)
		if err != nil {
			return nil, f.h.fail(f.l, err)
		}
		return tailFile(path, maxBytes)
	}
	return p.downloadTail(ctx, f, pool, maxBytes)
}

// downloadTail downloads the last maxBytes of the console volume through
// libvirt (for remote hypervisors).
func (p *Provider) downloadTail(ctx context.Context, f found, pool golibvirt.StoragePool, maxBytes int) ([]byte, error) {
	// The volume's size is known after a pool refresh.
	if err := f.l.StoragePoolRefresh(pool, 0); err != nil {
		return nil, f.h.fail(f.l, err)
	}
	vol, err := f.l.StorageVolLookupByName(pool, f.meta.Console)
	if err != nil {
		return nil, f.h.fail(f.l, err)
	}
	// A dir pool reports a file's size as its capacity.
	_, size, _, err := f.l.StorageVolGetInfo(vol)
	if err != nil {
		return nil, f.h.fail(f.l, err)
	}
	off := uint64(0)
	if maxBytes > 0 && size > uint64(maxBytes) {
		off = size - uint64(maxBytes)
	}
	// A download that comes back short (see hypervisor.download) is
	// tried again, and is an error if it stays short.
	var data []byte
	for try := 0; size > off && uint64(len(data)) < size-off; try++ {
		if try == maxDownloadTries {
			return nil, fmt.Errorf("libvirt: download console log: %d of %d bytes after %d tries", len(data), size-off, try)
		}
		if try > 0 {
			p.log.Warn("console log download came back short; downloading it again", "machine", f.meta.Name, "got", len(data), "want", size-off)
		}
		dctx, cancel := context.WithTimeout(ctx, downloadTimeout)
		data, err = f.h.download(dctx, vol, off, size-off)
		cancel()
		if err != nil {
			return nil, fmt.Errorf("libvirt: download console log: %w", err)
		}
	}
	return data, nil
}

// downloadTimeout bounds one download of a console log.
const downloadTimeout = 30 * time.Second

// maxDownloadTries bounds the downloads of a console log that come back
// short.
const maxDownloadTries = 3

// tailFile reads the last maxBytes of path (all when maxBytes <= 0).
func tailFile(path string, maxBytes int) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("libvirt: console log: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if maxBytes > 0 && fi.Size() > int64(maxBytes) {
		if _, err := f.Seek(fi.Size()-int64(maxBytes), io.SeekStart); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(f)
}

// InspectHost reads a hypervisor's host name, CPUs, memory and the domain
// type it offers. A non-empty uri adds the hypervisor (or changes its URI)
// first, so that inspecting a newly registered one makes it usable.
func (p *Provider) InspectHost(ctx context.Context, hypervisor, uri string) (iaas.HostInfo, error) {
	if uri != "" {
		if err := p.AddHypervisor(hypervisor, uri); err != nil {
			return iaas.HostInfo{}, err
		}
	}
	h, err := p.hypervisor(hypervisor)
	if err != nil {
		return iaas.HostInfo{}, err
	}
	l, _, err := h.connect()
	if err != nil {
		return iaas.HostInfo{}, err
	}
	defer h.guard(ctx, l)()
	_, memKiB, cpus, _, _, _, _, _, err := l.NodeGetInfo()
	if err != nil {
		return iaas.HostInfo{}, h.fail(l, fmt.Errorf("libvirt: node info of %s: %w", hypervisor, err))
	}
	host, err := h.hostname(l)
	if err != nil {
		return iaas.HostInfo{}, h.fail(l, err)
	}
	dt, _, err := p.guestType(l)
	if err != nil {
		return iaas.HostInfo{}, h.fail(l, err)
	}
	return iaas.HostInfo{Hostname: host, CPUs: cpus, MemoryMiB: int64(memKiB >> 10), DomainType: dt}, nil
}

// SweepMachine deletes the per-machine volumes of machine name on
// hypervisor (cloudmgr-NAME-UUID8-cidata.iso and -console.log) when no
// domain of that name exists: what a domain destroyed and undefined behind
// our back, or a create whose rollback could not reach the hypervisor, left
// behind. A domain that exists is left to Delete. It implements
// iaas.Sweeper.
func (p *Provider) SweepMachine(ctx context.Context, hypervisor, name string) error {
	h, err := p.hypervisor(hypervisor)
	if err != nil {
		return err
	}
	l, _, err := h.connect()
	if err != nil {
		return err
	}
	defer h.guard(ctx, l)()
	if _, err := l.DomainLookupByName(name); err == nil {
		return nil
	} else if !isCode(err, golibvirt.ErrNoDomain) {
		return h.fail(l, fmt.Errorf("libvirt: look up domain %s: %w", name, err))
	}
	pool, err := p.pool(l)
	if err != nil {
		return h.fail(l, err)
	}
	if err := l.StoragePoolRefresh(pool, 0); err != nil {
		return h.fail(l, fmt.Errorf("libvirt: refresh pool %s: %w", p.cfg.Pool, err))
	}
	vols, _, err := l.StoragePoolListAllVolumes(pool, 1, 0)
	if err != nil {
		return h.fail(l, fmt.Errorf("libvirt: volumes of pool %s: %w", p.cfg.Pool, err))
	}
	own := regexp.MustCompile(`^cloudmgr-` + regexp.QuoteMeta(name) + `-[0-9a-f]{8}-(cidata\.iso|console\.log)$`)
	for _, v := range vols {
		if !own.MatchString(v.Name) {
			continue
		}
		if err := deleteVolume(l, pool, v.Name); err != nil {
			return h.fail(l, fmt.Errorf("libvirt: %w", err))
		}
		p.log.Info("removed a volume left behind", "machine", name, "hypervisor", hypervisor, "volume", v.Name)
	}
	return nil
}
