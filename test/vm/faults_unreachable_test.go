package vm

import (
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// libvirtd's RPC: each packet starts with its length, program, version
// and procedure, big-endian 32-bit words (XDR).
const (
	libvirtRemoteProgram = 0x20008086
	// procDomainDefineXML is REMOTE_PROC_DOMAIN_DEFINE_XML.
	procDomainDefineXML = 11
)

// libvirtProxy forwards a unix socket to the project's libvirtd and plays
// a libvirtd that stops: once armed, the first DomainDefineXML call a
// client sends is not passed on, every connection is closed, and new
// ones are closed at once until up is called.
type libvirtProxy struct {
	path   string
	target string
	ln     net.Listener

	mu    sync.Mutex
	open  []net.Conn
	down  bool
	armed bool
	fired chan struct{} // closed when the armed call was cut
}

// startLibvirtProxy listens on a socket in a temporary directory.
func startLibvirtProxy(t *testing.T, target string) *libvirtProxy {
	t.Helper()
	p := &libvirtProxy{path: filepath.Join(t.TempDir(), "libvirt-sock"), target: target, fired: make(chan struct{})}
	ln, err := net.Listen("unix", p.path)
	if err != nil {
		t.Fatal(err)
	}
	p.ln = ln
	t.Cleanup(func() { ln.Close(); p.cut() })
	go p.serve()
	return p
}

func (p *libvirtProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		down := p.down
		p.mu.Unlock()
		if down {
			c.Close()
			continue
		}
		up, err := net.Dial("unix", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.open = append(p.open, c, up)
		p.mu.Unlock()
		go func() { _, _ = io.Copy(c, up); c.Close() }()
		go func() { p.forward(up, c); up.Close() }()
	}
}

// forward copies the client's packets to libvirtd one by one, cutting
// everything at the armed call.
func (p *libvirtProxy) forward(dst, src net.Conn) {
	hdr := make([]byte, 16)
	for {
		if _, err := io.ReadFull(src, hdr[:4]); err != nil {
			return
		}
		n := binary.BigEndian.Uint32(hdr[:4])
		if n < 16 || n > 64<<20 {
			return
		}
		pkt := make([]byte, n)
		copy(pkt, hdr[:4])
		if _, err := io.ReadFull(src, pkt[4:]); err != nil {
			return
		}
		prog, proc := binary.BigEndian.Uint32(pkt[4:8]), binary.BigEndian.Uint32(pkt[12:16])
		if prog == libvirtRemoteProgram && proc == procDomainDefineXML {
			p.mu.Lock()
			fire := p.armed
			if fire {
				p.armed, p.down = false, true
			}
			p.mu.Unlock()
			if fire {
				close(p.fired)
				p.cut()
				return
			}
		}
		if _, err := dst.Write(pkt); err != nil {
			return
		}
	}
}

// arm makes the next DomainDefineXML take the daemon down.
func (p *libvirtProxy) arm() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.armed = true
}

// cut closes every connection the proxy carries.
func (p *libvirtProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}

// up lets connections through again.
func (p *libvirtProxy) up() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = false
}

// TestFaultLibvirtUnreachableMidCreate: the hypervisor "flaky" is the
// project's libvirtd behind a proxy that goes down the moment a create
// sends its DomainDefineXML (config drive and console volumes made, no
// domain yet), as a libvirtd stopped mid-create. The Machine turns Failed
// with reason Unreachable and a message, the Hypervisor Reachable=False
// with a reason; once the proxy is up again the Hypervisor is Reachable,
// the pool converges to a joined machine, and nothing of the failed
// machine (domain, volumes) is left on libvirtd.
func TestFaultLibvirtUnreachableMidCreate(t *testing.T) {
	start := time.Now()
	e := startIaaSCloudd(t)
	sock := e.uri[len("qemu:///system?socket="):]
	px := startLibvirtProxy(t, sock)
	e.addHypervisor(t, "flaky", "qemu:///system?socket="+px.path)

	px.arm()
	const pool = "fault-flaky"
	e.createPool(t, pool, "flaky", 300)
	select {
	case <-px.fired:
	case <-time.After(2 * time.Minute):
		t.Fatalf("no DomainDefineXML reached the proxy within 2m; machines: %+v", e.machines(t, pool))
	}
	cutAt := time.Now()
	ms := e.machines(t, pool)
	if len(ms) != 1 {
		t.Fatalf("%d machines when the create was cut, want 1", len(ms))
	}
	victim := ms[0]
	if victim.Status.Phase != api.MachineProvisioning {
		t.Errorf("machine %s is %s when its create was cut, want Provisioning", victim.Name, victim.Status.Phase)
	}

	failed := e.waitFailed(t, victim.Name, 2*time.Minute)
	failedAt := time.Now()
	if r := failReason(failed); r != "Unreachable" && r != "CreateFailed" {
		t.Errorf("machine %s failed with reason %q, want Unreachable or CreateFailed", victim.Name, r)
	}
	if failed.Status.Message == "" {
		t.Error("the Failed machine carries no message")
	}
	t.Logf("machine Failed %s after the cut: %s", failedAt.Sub(cutAt).Round(100*time.Millisecond), failed.Status.Message)
	cond := e.waitReachable(t, "flaky", api.ConditionFalse, 30*time.Second)
	if cond.Reason == "" {
		t.Errorf("Reachable=False without a reason: %+v", cond)
	}
	t.Logf("hypervisor Reachable=False %s after the cut: %s: %s", time.Since(cutAt).Round(100*time.Millisecond), cond.Reason, cond.Message)

	// libvirtd stays away a little longer, then comes back.
	time.Sleep(3 * time.Second)
	px.up()
	backAt := time.Now()
	e.waitReachable(t, "flaky", api.ConditionTrue, 30*time.Second)
	t.Logf("hypervisor Reachable again %s after it came back", time.Since(backAt).Round(100*time.Millisecond))

	m := e.waitJoined(t, pool, 4*time.Minute, victim.Name)
	t.Logf("pool converged: %s joined %s after libvirtd came back", m.Name, time.Since(backAt).Round(100*time.Millisecond))
	if m.Status.Host == "" {
		t.Errorf("joined machine %s has no host", m.Name)
	}
	// What the cut create made (its config drive and console volumes) must
	// not stay behind: the rollback or a later reconcile removes it.
	e.checkGone(t, victim.Name, 30*time.Second)

	if err := client.For[api.NodePool](e.c).Delete(context.Background(), "", pool, client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "pool "+pool+"'s machines gone", func() (bool, string) {
		n := len(e.machines(t, pool))
		return n == 0, fmt.Sprintf("%d machines", n)
	})
	if ds := e.domains(t, pool+"-"); len(ds) > 0 {
		t.Errorf("domains %v left after the pool was deleted", ds)
	}
	t.Logf("test took %s", time.Since(start).Round(100*time.Millisecond))
}
