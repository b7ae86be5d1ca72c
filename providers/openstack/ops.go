package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"

	"github.com/cloudmgr/cloud/iaas"
)

// ID is the machine ID of a server: openstack://REGION/UUID.
func (p *Provider) ID(serverID string) string {
	return "openstack://" + p.region + "/" + serverID
}

// serverID is the Nova server UUID of a machine ID (or the UUID itself).
func (p *Provider) serverID(id string) (string, error) {
	rest, ok := strings.CutPrefix(id, "openstack://")
	if !ok {
		if uuidRE.MatchString(id) {
			return id, nil
		}
		return "", fmt.Errorf("openstack: machine ID %q: want openstack://REGION/UUID: %w", id, iaas.ErrNotFound)
	}
	region, uuid, ok := strings.Cut(rest, "/")
	if !ok || uuid == "" || strings.Contains(uuid, "/") {
		return "", fmt.Errorf("openstack: machine ID %q: want openstack://REGION/UUID: %w", id, iaas.ErrNotFound)
	}
	if region != p.region {
		return "", fmt.Errorf("openstack: machine %s is in region %q, not this provider's %q: %w", id, region, p.region, iaas.ErrNotFound)
	}
	return uuid, nil
}

// ours reports whether this system owns s.
func ours(s *servers.Server) bool { return s.Metadata[MetaManaged] == "true" }

// machine describes server s.
func (p *Provider) machine(s *servers.Server) iaas.Machine {
	m := iaas.Machine{
		ID: p.ID(s.ID), Name: s.Name, Provider: p.cfg.Name, Host: s.HostID,
		State: state(s.Status), Created: s.Created, Labels: map[string]string{},
		CPUs: int32(number(s.Flavor["vcpus"])), MemoryMiB: number(s.Flavor["ram"]),
		Addresses: addresses(s.Addresses),
	}
	if n := s.Metadata[MetaName]; n != "" {
		m.Name = n
	}
	for k, v := range s.Metadata {
		if k != MetaManaged && k != MetaName && k != MetaGroup {
			m.Labels[k] = v
		}
	}
	if m.State == iaas.StateError {
		m.Message = s.Fault.Message
	}
	return m
}

func state(status string) iaas.MachineState {
	switch status {
	case "ACTIVE", "REBOOT", "HARD_REBOOT", "MIGRATING", "RESIZE", "VERIFY_RESIZE", "REVERT_RESIZE", "PASSWORD":
		return iaas.StateRunning
	case "BUILD", "REBUILD":
		return iaas.StatePending
	case "SHUTOFF", "SUSPENDED", "PAUSED", "SHELVED", "SHELVED_OFFLOADED", "STOPPED":
		return iaas.StateStopped
	case "ERROR":
		return iaas.StateError
	}
	return iaas.StateUnknown
}

// number reads a JSON number of a map[string]any.
func number(v any) int64 {
	switch n := v.(type) {
	case float64:
		return int64(n)
	case json.Number:
		i, _ := n.Int64()
		return i
	}
	return 0
}

// addresses lists a server's IPs: fixed before floating, by network name.
func addresses(a map[string]any) []string {
	var fixed, floating []string
	for _, net := range slices.Sorted(maps.Keys(a)) {
		list, _ := a[net].([]any)
		for _, e := range list {
			m, _ := e.(map[string]any)
			addr, _ := m["addr"].(string)
			if addr == "" {
				continue
			}
			if t, _ := m["OS-EXT-IPS:type"].(string); t == "floating" {
				floating = append(floating, addr)
			} else {
				fixed = append(fixed, addr)
			}
		}
	}
	return append(fixed, floating...)
}

// getServer returns server id when it is ours and not deleted.
func (p *Provider) getServer(ctx context.Context, id string) (*servers.Server, error) {
	sid, err := p.serverID(id)
	if err != nil {
		return nil, err
	}
	s, err := servers.Get(ctx, p.compute, sid).Extract()
	if err != nil {
		return nil, classify("get server "+sid, err)
	}
	if !ours(s) || s.Status == "DELETED" || s.Status == "SOFT_DELETED" {
		return nil, fmt.Errorf("openstack: server %s: %w", sid, iaas.ErrNotFound)
	}
	return s, nil
}

// Get returns one machine. ErrNotFound for a server gone or not ours.
func (p *Provider) Get(ctx context.Context, id string) (iaas.Machine, error) {
	s, err := p.getServer(ctx, id)
	if err != nil {
		return iaas.Machine{}, err
	}
	return p.machine(s), nil
}

// listServers returns the servers of ours, those called name only when
// name is set. Nova has no metadata filter for a project's servers: the
// filtering is done here, as clients do.
func (p *Provider) listServers(ctx context.Context, name string) ([]servers.Server, error) {
	opts := servers.ListOpts{}
	if name != "" {
		// Nova's name filter is a regular expression.
		opts.Name = "^" + strings.ReplaceAll(name, ".", `\.`) + "$"
	}
	page, err := servers.List(p.compute, opts).AllPages(ctx)
	if err != nil {
		return nil, classify("list servers", err)
	}
	all, err := servers.ExtractServers(page)
	if err != nil {
		return nil, classify("list servers", err)
	}
	return slices.DeleteFunc(all, func(s servers.Server) bool {
		return !ours(&s) || (name != "" && s.Name != name) || s.Status == "DELETED" || s.Status == "SOFT_DELETED"
	}), nil
}

// find returns the server of ours called name.
func (p *Provider) find(ctx context.Context, name string) (*servers.Server, bool, error) {
	ss, err := p.listServers(ctx, name)
	if err != nil || len(ss) == 0 {
		return nil, false, err
	}
	return &ss[0], true, nil
}

// List returns the machines this system owns (by their metadata).
func (p *Provider) List(ctx context.Context) ([]iaas.Machine, error) {
	ss, err := p.listServers(ctx, "")
	if err != nil {
		return nil, err
	}
	out := make([]iaas.Machine, 0, len(ss))
	for i := range ss {
		out = append(out, p.machine(&ss[i]))
	}
	return out, nil
}

// Delete deletes a machine's server and waits (up to DeleteTimeout, or the
// context's end) until Nova has removed it. ErrNotFound once it is gone.
func (p *Provider) Delete(ctx context.Context, id string) error {
	s, err := p.getServer(ctx, id)
	if err != nil {
		return err
	}
	dctx, cancel := context.WithTimeout(ctx, p.cfg.DeleteTimeout)
	defer cancel()
	if err := p.deleteServer(dctx, s.ID); err != nil {
		return err
	}
	p.log.Info("server deleted", "machine", s.Name, "id", id)
	return nil
}

// deleteServer deletes server sid and polls until it is gone.
func (p *Provider) deleteServer(ctx context.Context, sid string) error {
	if err := servers.Delete(ctx, p.compute, sid).ExtractErr(); err != nil {
		return classify("delete server "+sid, err)
	}
	err := p.poll(ctx, func() (bool, error) {
		s, err := servers.Get(ctx, p.compute, sid).Extract()
		switch {
		case isNotFound(err):
			return true, nil
		case err != nil:
			if errors.Is(classify("", err), iaas.ErrUnreachable) && ctx.Err() == nil {
				return false, nil
			}
			return false, classify("get server "+sid, err)
		}
		return s.Status == "DELETED" || s.Status == "SOFT_DELETED", nil
	})
	if err != nil {
		return fmt.Errorf("openstack: waiting for server %s to go: %w", sid, err)
	}
	return nil
}

// Flavors lists the cloud's flavors.
func (p *Provider) Flavors(ctx context.Context) ([]iaas.Flavor, error) {
	fs, err := p.listFlavors(ctx, true)
	if err != nil {
		return nil, err
	}
	out := make([]iaas.Flavor, 0, len(fs))
	for _, f := range fs {
		out = append(out, iaas.Flavor{Name: f.Name, CPUs: int32(f.VCPUs), MemoryMiB: int64(f.RAM)})
	}
	return out, nil
}
