package openstack

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/servers"
)

// Start powers a stopped server on and waits until it is ACTIVE; a server
// already ACTIVE is fine.
func (p *Provider) Start(ctx context.Context, id string) error {
	return p.power(ctx, id, "start", "ACTIVE", func(sid string) error {
		return servers.Start(ctx, p.compute, sid).ExtractErr()
	})
}

// Stop powers a server off and waits until it is SHUTOFF; a server
// already SHUTOFF is fine.
func (p *Provider) Stop(ctx context.Context, id string) error {
	return p.power(ctx, id, "stop", "SHUTOFF", func(sid string) error {
		return servers.Stop(ctx, p.compute, sid).ExtractErr()
	})
}

// Reboot soft-reboots a server and waits until it is ACTIVE again.
func (p *Provider) Reboot(ctx context.Context, id string) error {
	return p.power(ctx, id, "reboot", "", func(sid string) error {
		return servers.Reboot(ctx, p.compute, sid, servers.RebootOpts{Type: servers.SoftReboot}).ExtractErr()
	})
}

// power runs action on a server of ours and waits, up to BuildTimeout,
// until the server's status is want (ACTIVE after a reboot when want is
// empty). Nova answers 409 to an action the server's state makes
// pointless (start an ACTIVE server): done already when its status is
// want.
func (p *Provider) power(ctx context.Context, id, name, want string, action func(sid string) error) error {
	s, err := p.getServer(ctx, id)
	if err != nil {
		return err
	}
	if err := action(s.ID); err != nil {
		code, _, ok := responseCode(err)
		if !ok || code != http.StatusConflict || want == "" || s.Status != want {
			return classify(name+" server "+s.ID, err)
		}
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, p.cfg.BuildTimeout)
	defer cancel()
	target := want
	if target == "" {
		target = "ACTIVE"
	}
	err = p.poll(wctx, func() (bool, error) {
		cur, err := servers.Get(wctx, p.compute, s.ID).Extract()
		if err != nil {
			return false, classify("get server "+s.ID, err)
		}
		if cur.Status == "ERROR" {
			return false, fmt.Errorf("openstack: %s server %s: ERROR: %s", name, s.ID, cur.Fault.Message)
		}
		return cur.Status == target && cur.TaskState == "", nil
	})
	if err != nil {
		return fmt.Errorf("openstack: %s server %s: waiting for %s: %w", name, s.ID, target, err)
	}
	p.log.Info("server "+name, "machine", s.Name, "id", id)
	return nil
}

// ConsoleLog returns the last maxBytes (all when 0) of a server's console
// output.
func (p *Provider) ConsoleLog(ctx context.Context, id string, maxBytes int) ([]byte, error) {
	s, err := p.getServer(ctx, id)
	if err != nil {
		return nil, err
	}
	// Nova counts lines: maxBytes lines hold at least maxBytes bytes.
	out, err := servers.ShowConsoleOutput(ctx, p.compute, s.ID, servers.ShowConsoleOutputOpts{Length: max(maxBytes, 0)}).Extract()
	if err != nil {
		return nil, classify("console output of server "+s.ID, err)
	}
	b := []byte(out)
	if maxBytes > 0 && len(b) > maxBytes {
		b = b[len(b)-maxBytes:]
	}
	return b, nil
}
