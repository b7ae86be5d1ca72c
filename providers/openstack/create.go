package openstack

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/limits"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servergroups"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
	"github.com/gophercloud/gophercloud/v2/openstack/image/v2/images"
	"github.com/gophercloud/gophercloud/v2/openstack/networking/v2/networks"

	"github.com/cloudmgr/cloud/iaas"
)

// maxUserData is Nova's limit on user data, base64-encoded.
const maxUserData = 65535

// noValidHost is the start of the fault of a server no compute host took.
const noValidHost = "No valid host was found"

var (
	serverName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)
	uuidRE     = regexp.MustCompile(`^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$`)
	fileName   = regexp.MustCompile(`^[A-Za-z0-9._-]+$`)
)

// Create boots a server for spec and waits until it is ACTIVE. A server
// that ends in ERROR, or is not ACTIVE within BuildTimeout, is deleted
// (and waited for) before Create returns; the server group of spec.Group
// is kept for the group's other machines.
func (p *Provider) Create(ctx context.Context, spec iaas.MachineSpec) (_ iaas.Machine, err error) {
	if !serverName.MatchString(spec.Name) {
		return iaas.Machine{}, fmt.Errorf("openstack: machine name %q: want lower-case letters, digits, '-' and '.', at most 63", spec.Name)
	}
	defer func() {
		if err != nil {
			p.log.Warn("create failed", "machine", spec.Name, "err", err)
		}
	}()
	userData, err := UserData(spec.ConfigDrive)
	if err != nil {
		return iaas.Machine{}, fmt.Errorf("openstack: machine %s: %w", spec.Name, err)
	}
	if _, ok, err := p.find(ctx, spec.Name); err != nil {
		return iaas.Machine{}, err
	} else if ok {
		return iaas.Machine{}, fmt.Errorf("openstack: machine %s: a server of that name exists already", spec.Name)
	}
	flavor, err := p.chooseFlavor(ctx, spec)
	if err != nil {
		return iaas.Machine{}, err
	}
	imageID, err := p.imageID(ctx, cmp(spec.Image, p.cfg.Image))
	if err != nil {
		return iaas.Machine{}, err
	}
	nets, err := p.networks(ctx, spec.Network)
	if err != nil {
		return iaas.Machine{}, err
	}
	if err := p.checkLimits(ctx, flavor, 1); err != nil {
		return iaas.Machine{}, err
	}
	var hints servers.SchedulerHintOptsBuilder
	if spec.Group != "" {
		gid, err := p.serverGroup(ctx, spec.Group)
		if err != nil {
			return iaas.Machine{}, err
		}
		hints = servers.SchedulerHintOpts{Group: gid}
	}
	meta := map[string]string{}
	maps.Copy(meta, spec.Labels)
	meta[MetaManaged], meta[MetaName] = "true", spec.Name
	if spec.Group != "" {
		meta[MetaGroup] = spec.Group
	}
	drive := true
	opts := servers.CreateOpts{
		Name: spec.Name, FlavorRef: flavor.ID, ImageRef: imageID, Networks: nets,
		UserData: userData, ConfigDrive: &drive, Metadata: meta,
	}
	log := p.log.With("machine", spec.Name, "flavor", flavor.Name, "image", imageID, "group", spec.Group)
	log.Info("creating server")
	created, err := servers.Create(ctx, p.compute, opts, hints).Extract()
	if err != nil {
		if ambiguous(err) {
			// The server may exist all the same: find it by name and
			// delete it, so that nothing is left behind.
			p.cleanUpByName(spec.Name)
		}
		if !errors.Is(classify("", err), iaas.ErrQuota) {
			// The server group or the image may be what is wrong (deleted
			// behind our back): look them up again next time.
			p.forget(spec.Group, cmp(spec.Image, p.cfg.Image))
		}
		return iaas.Machine{}, classify("create server "+spec.Name, err)
	}
	srv, err := p.waitActive(ctx, created.ID)
	if err != nil {
		if derr := p.deleteAndWait(created.ID); derr != nil {
			log.Error("deleting the failed server failed: it may be left behind", "server", created.ID, "err", derr)
			err = fmt.Errorf("%w; deleting server %s failed, it may be left behind: %w", err, created.ID, derr)
		}
		return iaas.Machine{}, fmt.Errorf("openstack: create %s: %w", spec.Name, err)
	}
	m := p.machine(srv)
	log.Info("server active", "id", m.ID, "host", m.Host)
	return m, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// UserData is the #cloud-config document that writes files (the config
// drive's) to BootstrapDir, base64-encoded, mode 0600. A "user-data" file
// (a tenant VM's own) goes as the user data itself when the only other
// file is "meta-data", which Nova provides.
func UserData(files map[string][]byte) ([]byte, error) {
	if ud, ok := files["user-data"]; ok {
		for n := range files {
			if n != "user-data" && n != "meta-data" {
				return nil, fmt.Errorf("user data: cannot carry the file %q besides a user-data file", n)
			}
		}
		return ud, nil
	}
	if len(files) == 0 {
		return nil, nil
	}
	var b bytes.Buffer
	b.WriteString("#cloud-config\nwrite_files:\n")
	for _, n := range slices.Sorted(maps.Keys(files)) {
		if !fileName.MatchString(n) {
			return nil, fmt.Errorf("user data: file name %q: want letters, digits, '.', '_' and '-'", n)
		}
		fmt.Fprintf(&b, "- path: %s\n  encoding: b64\n  permissions: '0600'\n  owner: root:root\n  content: %s\n",
			strconv.Quote(BootstrapDir+"/"+n), base64.StdEncoding.EncodeToString(files[n]))
	}
	if base64.StdEncoding.EncodedLen(b.Len()) > maxUserData {
		return nil, fmt.Errorf("user data: %d bytes, more than Nova's %d once encoded", b.Len(), maxUserData)
	}
	return b.Bytes(), nil
}

// listFlavors returns the flavors, cached; refresh reads them again.
func (p *Provider) listFlavors(ctx context.Context, refresh bool) ([]flavors.Flavor, error) {
	p.mu.Lock()
	fs := p.flavors
	p.mu.Unlock()
	if fs != nil && !refresh {
		return fs, nil
	}
	page, err := flavors.ListDetail(p.compute, flavors.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, classify("list flavors", err)
	}
	if fs, err = flavors.ExtractFlavors(page); err != nil {
		return nil, classify("list flavors", err)
	}
	p.mu.Lock()
	p.flavors = fs
	p.mu.Unlock()
	return fs, nil
}

// chooseFlavor finds spec.Flavor by ID or name or, when it is empty, the
// smallest flavor with at least spec.CPUs and spec.MemoryMiB.
func (p *Provider) chooseFlavor(ctx context.Context, spec iaas.MachineSpec) (flavors.Flavor, error) {
	for _, refresh := range []bool{false, true} {
		fs, err := p.listFlavors(ctx, refresh)
		if err != nil {
			return flavors.Flavor{}, err
		}
		if spec.Flavor != "" {
			for _, f := range fs {
				if f.ID == spec.Flavor {
					return f, nil
				}
			}
			for _, f := range fs {
				if f.Name == spec.Flavor {
					return f, nil
				}
			}
			continue
		}
		if spec.CPUs <= 0 && spec.MemoryMiB <= 0 {
			return flavors.Flavor{}, fmt.Errorf("openstack: machine %s: needs a flavor, or vCPUs and memory", spec.Name)
		}
		fit := slices.DeleteFunc(slices.Clone(fs), func(f flavors.Flavor) bool {
			return f.VCPUs < int(spec.CPUs) || int64(f.RAM) < spec.MemoryMiB
		})
		if len(fit) > 0 {
			slices.SortStableFunc(fit, func(a, b flavors.Flavor) int {
				if a.VCPUs != b.VCPUs {
					return a.VCPUs - b.VCPUs
				}
				if a.RAM != b.RAM {
					return a.RAM - b.RAM
				}
				return a.Disk - b.Disk
			})
			return fit[0], nil
		}
	}
	if spec.Flavor != "" {
		return flavors.Flavor{}, fmt.Errorf("openstack: machine %s: no flavor %q", spec.Name, spec.Flavor)
	}
	return flavors.Flavor{}, fmt.Errorf("openstack: machine %s: no flavor has %d vCPUs and %d MiB: %w",
		spec.Name, spec.CPUs, spec.MemoryMiB, iaas.ErrInsufficientCapacity)
}

// imageID resolves an image name (or ID) through Glance.
func (p *Provider) imageID(ctx context.Context, ref string) (string, error) {
	if ref == "" {
		return "", errors.New("openstack: no image: name one in the machine or the provider's image")
	}
	p.mu.Lock()
	id, ok := p.images[ref]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	if p.image == nil {
		if uuidRE.MatchString(ref) {
			return ref, nil
		}
		return "", fmt.Errorf("openstack: image %q: the catalog has no image service, so images must be given by ID", ref)
	}
	if uuidRE.MatchString(ref) {
		img, err := images.Get(ctx, p.image, ref).Extract()
		if err == nil {
			return img.ID, nil
		}
		if !isNotFound(err) {
			return "", classify("get image "+ref, err)
		}
	}
	page, err := images.List(p.image, images.ListOpts{Name: ref}).AllPages(ctx)
	if err != nil {
		return "", classify("list images "+ref, err)
	}
	imgs, err := images.ExtractImages(page)
	if err != nil {
		return "", classify("list images "+ref, err)
	}
	imgs = slices.DeleteFunc(imgs, func(i images.Image) bool { return i.Status != images.ImageStatusActive })
	switch len(imgs) {
	case 0:
		return "", fmt.Errorf("openstack: no active image %q", ref)
	case 1:
	default:
		return "", fmt.Errorf("openstack: %d active images are called %q: name one by ID", len(imgs), ref)
	}
	p.mu.Lock()
	p.images[ref] = imgs[0].ID
	p.mu.Unlock()
	return imgs[0].ID, nil
}

// networks is the networks part of a server create: the spec's network
// ("network:NAME", "NAME" or an ID), else the provider's, else "auto".
func (p *Provider) networks(ctx context.Context, spec string) (any, error) {
	ref := strings.TrimPrefix(spec, "network:")
	if strings.HasPrefix(ref, "bridge:") {
		return nil, fmt.Errorf("openstack: network %q: bridges are for libvirt; name a network", spec)
	}
	ref = cmp(ref, p.cfg.Network)
	if ref == "" {
		return "auto", nil
	}
	if uuidRE.MatchString(ref) {
		return []servers.Network{{UUID: ref}}, nil
	}
	if p.network == nil {
		return nil, fmt.Errorf("openstack: network %q: the catalog has no network service, so networks must be given by ID", ref)
	}
	page, err := networks.List(p.network, networks.ListOpts{Name: ref}).AllPages(ctx)
	if err != nil {
		return nil, classify("list networks "+ref, err)
	}
	ns, err := networks.ExtractNetworks(page)
	if err != nil {
		return nil, classify("list networks "+ref, err)
	}
	if len(ns) != 1 {
		return nil, fmt.Errorf("openstack: %d networks are called %q, want 1", len(ns), ref)
	}
	return []servers.Network{{UUID: ns[0].ID}}, nil
}

// CheckCapacity reports whether the project's limits leave room for n
// more servers of spec's flavor (iaas.CapacityChecker): nil, or an error
// wrapping iaas.ErrQuota. Nova's own room (no valid host) cannot be asked
// ahead; a create finds it out.
func (p *Provider) CheckCapacity(ctx context.Context, spec iaas.MachineSpec, n int) error {
	flavor, err := p.chooseFlavor(ctx, spec)
	if err != nil {
		return err
	}
	return p.checkLimits(ctx, flavor, n)
}

// checkLimits fails with ErrQuota when the project's absolute limits
// leave no room for n more servers of flavor f (-1 is unlimited).
func (p *Provider) checkLimits(ctx context.Context, f flavors.Flavor, n int) error {
	l, err := limits.Get(ctx, p.compute, nil).Extract()
	if err != nil {
		return classify("get limits", err)
	}
	a := l.Absolute
	check := func(what string, max, used, want int) error {
		if max >= 0 && used+want > max {
			return fmt.Errorf("openstack: %w: %s: %d used of %d, %d more wanted", iaas.ErrQuota, what, used, max, want)
		}
		return nil
	}
	return errors.Join(
		check("instances", a.MaxTotalInstances, a.TotalInstancesUsed, n),
		check("cores", a.MaxTotalCores, a.TotalCoresUsed, n*f.VCPUs),
		check("RAM (MiB)", a.MaxTotalRAMSize, a.TotalRAMUsed, n*f.RAM))
}

// serverGroupName is the Nova server group of a group of machines.
func serverGroupName(group string) string { return "cloudmgr-" + group }

// serverGroup returns the ID of group's server group, found by name or
// created with the configured policy, and cached.
func (p *Provider) serverGroup(ctx context.Context, group string) (string, error) {
	p.groupMu.Lock()
	defer p.groupMu.Unlock()
	p.mu.Lock()
	id, ok := p.groups[group]
	p.mu.Unlock()
	if ok {
		return id, nil
	}
	name := serverGroupName(group)
	page, err := servergroups.List(p.compute, servergroups.ListOpts{}).AllPages(ctx)
	if err != nil {
		return "", classify("list server groups", err)
	}
	sgs, err := servergroups.ExtractServerGroups(page)
	if err != nil {
		return "", classify("list server groups", err)
	}
	for _, sg := range sgs {
		if sg.Name == name {
			id = sg.ID
			break
		}
	}
	if id == "" {
		sg, err := servergroups.Create(ctx, p.compute, servergroups.CreateOpts{Name: name, Policy: p.cfg.ServerGroupPolicy}).Extract()
		if err != nil {
			return "", classify("create server group "+name, err)
		}
		id = sg.ID
		p.log.Info("server group created", "group", group, "serverGroup", name, "id", id, "policy", p.cfg.ServerGroupPolicy)
	}
	p.mu.Lock()
	p.groups[group] = id
	p.mu.Unlock()
	return id, nil
}

// forget drops the cached IDs of a server group and an image.
func (p *Provider) forget(group, image string) {
	p.mu.Lock()
	delete(p.groups, group)
	delete(p.images, image)
	p.mu.Unlock()
}

// poll calls check with a back-off from PollInterval up to 8 times it
// until check says done, or ctx ends.
func (p *Provider) poll(ctx context.Context, check func() (bool, error)) error {
	wait := p.cfg.PollInterval
	for {
		done, err := check()
		if done || err != nil {
			return err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return ctx.Err()
		case <-t.C:
		}
		wait = min(wait*2, 8*p.cfg.PollInterval)
	}
}

// waitActive waits up to BuildTimeout for server id to turn ACTIVE.
func (p *Provider) waitActive(ctx context.Context, id string) (*servers.Server, error) {
	wctx, cancel := context.WithTimeout(ctx, p.cfg.BuildTimeout)
	defer cancel()
	var srv *servers.Server
	status := "BUILD"
	err := p.poll(wctx, func() (bool, error) {
		s, err := servers.Get(wctx, p.compute, id).Extract()
		if err != nil {
			if ctx.Err() == nil && wctx.Err() != nil {
				return false, wctx.Err()
			}
			if errors.Is(classify("", err), iaas.ErrUnreachable) {
				return false, nil // the cloud may answer again before the timeout
			}
			return false, classify("get server "+id, err)
		}
		srv, status = s, s.Status
		switch s.Status {
		case "ACTIVE":
			return true, nil
		case "ERROR":
			if strings.Contains(s.Fault.Message, noValidHost) {
				return false, fmt.Errorf("server %s: %w: %s", id, iaas.ErrInsufficientCapacity, s.Fault.Message)
			}
			return false, fmt.Errorf("server %s went into ERROR: %s (code %d)", id, s.Fault.Message, s.Fault.Code)
		case "DELETED", "SOFT_DELETED":
			return false, fmt.Errorf("server %s was deleted while building", id)
		}
		return false, nil
	})
	if err != nil && ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded) {
		return nil, fmt.Errorf("server %s still %s after %s: %w", id, status, p.cfg.BuildTimeout, err)
	}
	return srv, err
}

// deleteAndWait deletes server id and waits until it is gone, on a fresh
// context bounded by DeleteTimeout: the caller's may be what ended.
func (p *Provider) deleteAndWait(id string) error {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DeleteTimeout)
	defer cancel()
	if err := p.deleteServer(ctx, id); err != nil && !errors.Is(err, iaas.ErrNotFound) {
		return err
	}
	return nil
}

// cleanUpByName deletes the servers of ours called name.
func (p *Provider) cleanUpByName(name string) {
	ctx, cancel := context.WithTimeout(context.Background(), p.cfg.DeleteTimeout)
	defer cancel()
	srv, ok, err := p.find(ctx, name)
	if err != nil || !ok {
		return
	}
	if err := p.deleteServer(ctx, srv.ID); err != nil && !errors.Is(err, iaas.ErrNotFound) {
		p.log.Error("deleting the server of a failed create failed: it may be left behind", "machine", name, "server", srv.ID, "err", err)
	}
}

// PruneServerGroups deletes this system's server groups (cloudmgr-*) that
// have no members, e.g. after their NodePools were deleted, and returns
// their names. A create racing with it may fail once (its group is gone);
// the next create makes the group again.
func (p *Provider) PruneServerGroups(ctx context.Context) ([]string, error) {
	p.groupMu.Lock()
	defer p.groupMu.Unlock()
	page, err := servergroups.List(p.compute, servergroups.ListOpts{}).AllPages(ctx)
	if err != nil {
		return nil, classify("list server groups", err)
	}
	sgs, err := servergroups.ExtractServerGroups(page)
	if err != nil {
		return nil, classify("list server groups", err)
	}
	var pruned []string
	for _, sg := range sgs {
		group, ok := strings.CutPrefix(sg.Name, serverGroupName(""))
		if !ok || len(sg.Members) > 0 {
			continue
		}
		if err := servergroups.Delete(ctx, p.compute, sg.ID).ExtractErr(); err != nil && !isNotFound(err) {
			return pruned, classify("delete server group "+sg.Name, err)
		}
		p.forget(group, "")
		pruned = append(pruned, sg.Name)
		p.log.Info("server group deleted", "serverGroup", sg.Name, "id", sg.ID)
	}
	return pruned, nil
}
