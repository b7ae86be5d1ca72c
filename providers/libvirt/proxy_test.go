package libvirt

import (
	"io"
	"net"
	"path/filepath"
	"sync"
	"testing"
)

// sockProxy forwards a unix socket (or a TCP port) to a unix socket; cut
// closes every connection it carries.
type sockProxy struct {
	path string // the socket's path, or the TCP port's host:port
	ln   net.Listener
	mu   sync.Mutex
	open []net.Conn
	n    int
	// gate is held (Lock) while the proxy is frozen: bytes stop moving,
	// connections stay open (a hung daemon).
	gate sync.RWMutex
}

func startProxy(t *testing.T, target string) *sockProxy {
	t.Helper()
	path := filepath.Join(t.TempDir(), "proxy.sock")
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	return serveProxy(t, ln, path, target)
}

// startTCPProxy is startProxy from a TCP port on loopback (its address in
// path): a libvirtd listening on TCP, as qemu+tcp:// reaches it.
func startTCPProxy(t *testing.T, target string) *sockProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveProxy(t, ln, ln.Addr().String(), target)
}

// serveProxy forwards the connections ln accepts to the unix socket target.
func serveProxy(t *testing.T, ln net.Listener, path, target string) *sockProxy {
	p := &sockProxy{path: path, ln: ln}
	t.Cleanup(func() { ln.Close(); p.cut() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("unix", target)
			if err != nil {
				c.Close()
				continue
			}
			p.mu.Lock()
			p.open = append(p.open, c, up)
			p.n++
			p.mu.Unlock()
			go func() { p.pump(up, c); up.Close() }()
			go func() { p.pump(c, up); c.Close() }()
		}
	}()
	return p
}

func (p *sockProxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.open {
		c.Close()
	}
	p.open = nil
}

func (p *sockProxy) accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// pump copies src to dst, waiting at the gate before each write.
func (p *sockProxy) pump(dst io.Writer, src io.Reader) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.gate.RLock()
			_, werr := dst.Write(buf[:n])
			p.gate.RUnlock()
			if werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

// freeze stops all traffic until the returned func is called.
func (p *sockProxy) freeze() func() {
	p.gate.Lock()
	return p.gate.Unlock
}
