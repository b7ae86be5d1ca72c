package libvirt

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/configdrive"
)

// errInjected is the failure tests inject with Provider.stepHook.
var errInjected = errors.New("injected failure")

// Create defines and starts a domain for spec on spec.Hypervisor. Every
// step is undone, in reverse order, when a later one fails or ctx ends;
// the undo does not depend on ctx. Image volumes (kernel, initrd) are a
// cache shared by machines, named by content, and kept.
func (p *Provider) Create(ctx context.Context, spec iaas.MachineSpec) (_ iaas.Machine, err error) {
	if !domainName.MatchString(spec.Name) {
		return iaas.Machine{}, fmt.Errorf("libvirt: machine name %q: want lower-case letters, digits, '-' and '.', at most 63", spec.Name)
	}
	if spec.Flavor != "" {
		f, ok := p.flavor(spec.Flavor)
		if !ok {
			return iaas.Machine{}, fmt.Errorf("libvirt: machine %s: unknown flavor %q", spec.Name, spec.Flavor)
		}
		if spec.CPUs == 0 {
			spec.CPUs = f.CPUs
		}
		if spec.MemoryMiB == 0 {
			spec.MemoryMiB = f.MemoryMiB
		}
	}
	if spec.CPUs <= 0 || spec.MemoryMiB < 64 {
		return iaas.Machine{}, fmt.Errorf("libvirt: machine %s: needs a flavor, or vCPUs > 0 and memory >= 64 MiB (have %d, %d MiB)", spec.Name, spec.CPUs, spec.MemoryMiB)
	}
	if spec.Image == "" {
		spec.Image = p.cfg.DefaultImage
	}
	img, ok := p.cfg.Images[spec.Image]
	if !ok {
		return iaas.Machine{}, fmt.Errorf("libvirt: machine %s: unknown image %q", spec.Name, spec.Image)
	}
	if _, _, err := parseNetwork(spec.Network); err != nil {
		return iaas.Machine{}, fmt.Errorf("libvirt: machine %s: %w", spec.Name, err)
	}
	h, err := p.hypervisor(spec.Hypervisor)
	if err != nil {
		return iaas.Machine{}, err
	}
	l, _, err := h.connect()
	if err != nil {
		return iaas.Machine{}, err
	}
	log := p.log.With("machine", spec.Name, "hypervisor", h.name)
	release := h.guard(ctx, l)

	// rb is the connection for undoing: the same one, or a new one when
	// it broke meanwhile (domain and volume handles are names and UUIDs,
	// valid on any connection).
	rb := func() *golibvirt.Libvirt {
		if l.IsConnected() {
			return l
		}
		if nl, _, err := h.connect(); err == nil {
			return nl
		}
		return l
	}
	// undo holds the steps to take back, run in reverse on failure, on a
	// fresh context: the caller's may be what ended.
	var undo []func(*golibvirt.Libvirt) error
	defer func() {
		release()
		if err == nil {
			return
		}
		rctx, cancel := context.WithTimeout(context.Background(), p.cfg.RollbackTimeout)
		defer cancel()
		var left []error
		for i := len(undo) - 1; i >= 0; i-- {
			c := rb()
			done := h.guard(rctx, c)
			if uerr := undo[i](c); uerr != nil {
				log.Error("rollback step failed: something may be left behind", "err", uerr)
				left = append(left, uerr)
			}
			done()
		}
		err = fmt.Errorf("libvirt: create %s on %s: %w", spec.Name, h.name, err)
		if len(left) > 0 {
			err = fmt.Errorf("%w; rollback incomplete, left behind: %w", err, errors.Join(left...))
		}
	}()
	step := func(name string) error {
		if p.stepHook != nil {
			if err := p.stepHook(name); err != nil {
				return fmt.Errorf("after %s: %w", name, err)
			}
		}
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("after %s: %w", name, err)
		}
		return nil
	}
	call := func(err error) error { return h.fail(l, err) }

	if _, err := l.DomainLookupByName(spec.Name); err == nil {
		return iaas.Machine{}, fmt.Errorf("a domain named %s already exists", spec.Name)
	} else if !isCode(err, golibvirt.ErrNoDomain) {
		return iaas.Machine{}, call(err)
	}
	domType, arch, err := p.guestType(l)
	if err != nil {
		return iaas.Machine{}, call(err)
	}
	pool, err := p.pool(l)
	if err != nil {
		return iaas.Machine{}, call(err)
	}
	if err := step("pool"); err != nil {
		return iaas.Machine{}, err
	}
	kernel, kvol, err := p.imageVolume(l, pool, img.Kernel)
	if err != nil {
		return iaas.Machine{}, call(err)
	}
	defer p.release([]string{kvol})
	initrd := ""
	if img.Initrd != "" {
		var ivol string
		if initrd, ivol, err = p.imageVolume(l, pool, img.Initrd); err != nil {
			return iaas.Machine{}, call(err)
		}
		defer p.release([]string{ivol})
	}
	if err := step("image"); err != nil {
		return iaas.Machine{}, err
	}

	var rawUUID golibvirt.UUID
	_, _ = rand.Read(rawUUID[:])
	rawUUID[6] = rawUUID[6]&0x0f | 0x40 // version 4
	rawUUID[8] = rawUUID[8]&0x3f | 0x80
	uuid := formatUUID(rawUUID)
	prefix := "cloudmgr-" + spec.Name + "-" + uuid[:8]
	meta := machineMeta{Name: spec.Name, Group: spec.Group, Image: spec.Image,
		Created: time.Now().UTC().Format(time.RFC3339), Console: prefix + "-console.log"}
	for k, v := range spec.Labels {
		meta.Labels = append(meta.Labels, label{Key: k, Value: v})
	}

	// newVolume creates a per-machine volume with content (or empty) and
	// records its undo.
	newVolume := func(name string, content []byte) (string, error) {
		vol, err := createVolume(l, pool, name, uint64(len(content)))
		if err != nil {
			return "", call(err)
		}
		meta.Volumes = append(meta.Volumes, name)
		undo = append(undo, func(c *golibvirt.Libvirt) error { return deleteVolume(c, pool, name) })
		if len(content) > 0 {
			if err := p.upload(l, vol, bytes.NewReader(content), uint64(len(content))); err != nil {
				return "", call(fmt.Errorf("upload volume %s: %w", name, err))
			}
		}
		path, err := l.StorageVolGetPath(vol)
		return path, call(err)
	}
	iso, err := configdrive.Build(spec.ConfigDrive)
	if err != nil {
		return iaas.Machine{}, fmt.Errorf("config drive: %w", err)
	}
	cidata, err := newVolume(prefix+"-cidata.iso", iso)
	if err != nil {
		return iaas.Machine{}, err
	}
	if err := step("configdrive"); err != nil {
		return iaas.Machine{}, err
	}
	console, err := newVolume(meta.Console, nil)
	if err != nil {
		return iaas.Machine{}, err
	}
	if err := step("console"); err != nil {
		return iaas.Machine{}, err
	}

	xmlDoc, err := domainXML(domainSpec{Type: domType, Arch: arch, Name: spec.Name, UUID: uuid, CPUs: spec.CPUs,
		MemoryMiB: spec.MemoryMiB, Loader: p.loader(domType), Kernel: kernel, Initrd: initrd, Cmdl: img.Cmdline,
		ConfigDrive: cidata, Console: console, Network: spec.Network, Meta: meta})
	if err != nil {
		return iaas.Machine{}, err
	}
	dom, err := l.DomainDefineXML(xmlDoc)
	if err != nil {
		return iaas.Machine{}, call(fmt.Errorf("define domain: %w", err))
	}
	undo = append(undo, func(c *golibvirt.Libvirt) error { return undefine(c, dom) })
	if err := step("define"); err != nil {
		return iaas.Machine{}, err
	}
	if err := l.DomainCreate(dom); err != nil {
		return iaas.Machine{}, call(fmt.Errorf("start domain: %w", err))
	}
	undo = append(undo, func(c *golibvirt.Libvirt) error { return destroy(c, dom) })
	if err := step("start"); err != nil {
		return iaas.Machine{}, err
	}
	host, err := h.hostname(l)
	if err != nil {
		return iaas.Machine{}, call(err)
	}
	var d libvirtxml.Domain
	if err := d.Unmarshal(xmlDoc); err != nil {
		return iaas.Machine{}, err
	}
	log.Info("machine created", "spec", spec, "uuid", uuid, "domainType", domType)
	return p.machineFrom(h.name, host, &d, meta, int32(golibvirt.DomainRunning), 0), nil
}

// loader is the firmware ROM for QEMU domains (none for other drivers).
func (p *Provider) loader(domType string) string {
	if domType == "kvm" || domType == "qemu" {
		return p.cfg.Loader
	}
	return ""
}

// guestType is the domain type and arch to use: kvm when the host offers
// it for x86_64, else qemu, else the first hvm guest offered (the test
// driver's "test" on i686).
func (p *Provider) guestType(l *golibvirt.Libvirt) (domType, arch string, err error) {
	caps, err := l.ConnectGetCapabilities()
	if err != nil {
		return "", "", fmt.Errorf("capabilities: %w", err)
	}
	var c libvirtxml.Caps
	if err := c.Unmarshal(caps); err != nil {
		return "", "", fmt.Errorf("capabilities: %w", err)
	}
	type guest struct{ typ, arch string }
	var offered []guest
	for _, g := range c.Guests {
		if g.OSType != "hvm" {
			continue
		}
		for _, d := range g.Arch.Domains {
			offered = append(offered, guest{d.Type, g.Arch.Name})
		}
	}
	wants := []string{"kvm", "qemu"}
	if p.cfg.DomainType != "" {
		wants = []string{p.cfg.DomainType}
	}
	for _, want := range wants {
		for _, g := range offered {
			if g.typ == want && g.arch == "x86_64" {
				return g.typ, g.arch, nil
			}
		}
	}
	if p.cfg.DomainType != "" {
		return "", "", fmt.Errorf("the hypervisor does not offer domain type %s for x86_64", p.cfg.DomainType)
	}
	if len(offered) > 0 {
		return offered[0].typ, offered[0].arch, nil
	}
	return "", "", fmt.Errorf("the hypervisor offers no hvm guests")
}

// pool finds the storage pool, creating it as a dir pool in PoolDir when
// it is missing and PoolDir is set, and starting it when it is inactive.
func (p *Provider) pool(l *golibvirt.Libvirt) (golibvirt.StoragePool, error) {
	pool, err := l.StoragePoolLookupByName(p.cfg.Pool)
	if isCode(err, golibvirt.ErrNoStoragePool) && p.cfg.PoolDir != "" {
		x, merr := (&libvirtxml.StoragePool{Type: "dir", Name: p.cfg.Pool,
			Target: &libvirtxml.StoragePoolTarget{Path: p.cfg.PoolDir}}).Marshal()
		if merr != nil {
			return pool, merr
		}
		if pool, err = l.StoragePoolDefineXML(x, 0); err != nil {
			return pool, fmt.Errorf("define pool %s: %w", p.cfg.Pool, err)
		}
		if err = l.StoragePoolBuild(pool, 0); err != nil {
			return pool, fmt.Errorf("build pool %s: %w", p.cfg.Pool, err)
		}
		_ = l.StoragePoolSetAutostart(pool, 1)
	} else if err != nil {
		return pool, fmt.Errorf("storage pool %s: %w", p.cfg.Pool, err)
	}
	active, err := l.StoragePoolIsActive(pool)
	if err != nil {
		return pool, fmt.Errorf("storage pool %s: %w", p.cfg.Pool, err)
	}
	if active == 0 {
		if err := l.StoragePoolCreate(pool, 0); err != nil {
			return pool, fmt.Errorf("start pool %s: %w", p.cfg.Pool, err)
		}
	}
	return pool, nil
}

func createVolume(l *golibvirt.Libvirt, pool golibvirt.StoragePool, name string, size uint64) (golibvirt.StorageVol, error) {
	x, err := (&libvirtxml.StorageVolume{Name: name,
		Capacity: &libvirtxml.StorageVolumeSize{Value: size, Unit: "bytes"},
		// Owner only: the config drive holds secrets.
		Target: &libvirtxml.StorageVolumeTarget{Format: &libvirtxml.StorageVolumeTargetFormat{Type: "raw"},
			Permissions: &libvirtxml.StorageVolumeTargetPermissions{Mode: "0600"}},
	}).Marshal()
	if err != nil {
		return golibvirt.StorageVol{}, err
	}
	vol, err := l.StorageVolCreateXML(pool, x, 0)
	if err != nil {
		return vol, fmt.Errorf("create volume %s: %w", name, err)
	}
	return vol, nil
}

// deleteVolume deletes a volume; one already gone is fine.
func deleteVolume(l *golibvirt.Libvirt, pool golibvirt.StoragePool, name string) error {
	vol, err := l.StorageVolLookupByName(pool, name)
	if isCode(err, golibvirt.ErrNoStorageVol) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("volume %s: %w", name, err)
	}
	if err := l.StorageVolDelete(vol, 0); err != nil && !isCode(err, golibvirt.ErrNoStorageVol) {
		return fmt.Errorf("delete volume %s: %w", name, err)
	}
	return nil
}

// destroy powers a domain off; one not running is fine.
func destroy(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
	err := l.DomainDestroy(dom)
	if err != nil && !isCode(err, golibvirt.ErrOperationInvalid, golibvirt.ErrNoDomain) {
		return fmt.Errorf("destroy domain %s: %w", dom.Name, err)
	}
	return nil
}

// undefine removes a domain's definition; one already gone is fine.
func undefine(l *golibvirt.Libvirt, dom golibvirt.Domain) error {
	err := l.DomainUndefineFlags(dom, golibvirt.DomainUndefineManagedSave|golibvirt.DomainUndefineSnapshotsMetadata)
	if err != nil && !isCode(err, golibvirt.ErrNoDomain) {
		return fmt.Errorf("undefine domain %s: %w", dom.Name, err)
	}
	return nil
}
