package libvirt

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strings"
	"sync"
	"syscall"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket"
	"github.com/digitalocean/go-libvirt/socket/dialers"

	"github.com/cloudmgr/cloud/iaas"
)

// defaultSocket is libvirtd's system socket.
const defaultSocket = "/var/run/libvirt/libvirt-sock"

// target is how a libvirt URI is reached: a dialer and the driver URI sent
// to the daemon.
type target struct {
	dialer socket.Dialer
	// driver is the URI the daemon opens ("qemu:///system").
	driver golibvirt.ConnectURI
	// local: the daemon runs on this host, so its files (console logs)
	// can be read directly.
	local bool
}

// parseURI understands DRIVER:///PATH[?socket=SOCK] (and DRIVER+unix) on
// a local socket, DRIVER+tcp://HOST[:PORT]/PATH (port 16509 by default,
// no auth, no TLS) and DRIVER+ssh://[USER@]HOST[:PORT]/PATH (see
// sshDialer). Other transports (tls, libssh) are not supported yet.
func parseURI(raw string, timeout time.Duration) (target, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return target{}, fmt.Errorf("libvirt URI %q: %w", raw, err)
	}
	driver, transport, _ := strings.Cut(u.Scheme, "+")
	if driver == "" {
		return target{}, fmt.Errorf("libvirt URI %q: no driver (like qemu:///system)", raw)
	}
	path := u.Path
	if path == "" {
		path = "/"
	}
	drv := golibvirt.ConnectURI(driver + "://" + path)
	switch transport {
	case "", "unix":
		if u.Host != "" {
			if transport == "" {
				return target{}, fmt.Errorf("libvirt URI %q: a remote host without a transport means TLS, which is not supported yet (use %s+tcp://%s%s)", raw, driver, u.Host, path)
			}
			return target{}, fmt.Errorf("libvirt URI %q: the unix transport takes no host", raw)
		}
		sock := u.Query().Get("socket")
		if sock == "" {
			sock = defaultSocket
		}
		return target{dialer: dialers.NewLocal(dialers.WithSocket(sock), dialers.WithLocalTimeout(timeout)), driver: drv, local: true}, nil
	case "tcp":
		if u.Hostname() == "" {
			return target{}, fmt.Errorf("libvirt URI %q: the tcp transport needs a host", raw)
		}
		opts := []dialers.RemoteOption{dialers.WithRemoteTimeout(timeout)}
		if p := u.Port(); p != "" {
			opts = append(opts, dialers.UsePort(p))
		}
		return target{dialer: dialers.NewRemote(u.Hostname(), opts...), driver: drv}, nil
	case "ssh":
		d, err := newSSHDialer(u, timeout)
		if err != nil {
			return target{}, fmt.Errorf("libvirt URI %q: %w", raw, err)
		}
		return target{dialer: d, driver: drv}, nil
	case "libssh", "libssh2", "tls", "ext":
		return target{}, fmt.Errorf("libvirt URI %q: the %s transport is not supported yet (use a local socket, +tcp or +ssh)", raw, transport)
	}
	return target{}, fmt.Errorf("libvirt URI %q: unknown transport %q", raw, transport)
}

// hypervisor is one libvirt daemon and its lazily opened connection.
type hypervisor struct {
	name, uri string
	timeout   time.Duration
	// hungAfter: a call still running this long after its context ended
	// has its connection cut.
	hungAfter time.Duration

	mu   sync.Mutex
	conn *golibvirt.Libvirt
	tgt  target
	// host is the host name read on conn (ConnectGetHostname).
	host string
	// nets are the sockets under the connections not yet cut.
	nets map[*golibvirt.Libvirt]net.Conn
}

// recDialer remembers the socket it dialled, so that it can be closed
// under go-libvirt (whose calls take no context).
type recDialer struct {
	socket.Dialer
	mu   sync.Mutex
	conn net.Conn
}

func (r *recDialer) Dial() (net.Conn, error) {
	c, err := r.Dialer.Dial()
	r.mu.Lock()
	r.conn = c
	r.mu.Unlock()
	return c, err
}

func (r *recDialer) get() net.Conn {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.conn
}

// hostname returns the host name of the daemon behind l, read once per
// connection.
func (h *hypervisor) hostname(l *golibvirt.Libvirt) (string, error) {
	h.mu.Lock()
	if h.conn == l && h.host != "" {
		defer h.mu.Unlock()
		return h.host, nil
	}
	h.mu.Unlock()
	host, err := l.ConnectGetHostname()
	if err != nil {
		return "", err
	}
	h.mu.Lock()
	if h.conn == l {
		h.host = host
	}
	h.mu.Unlock()
	return host, nil
}

// connect returns the open connection, dialling it when there is none or
// the last one was lost; the handshake is cut after twice the dial
// timeout. Failures wrap iaas.ErrUnreachable.
func (h *hypervisor) connect() (*golibvirt.Libvirt, target, error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.conn != nil && h.conn.IsConnected() {
		return h.conn, h.tgt, nil
	}
	if h.conn != nil {
		h.cutLocked(h.conn)
	}
	h.host = ""
	l, tgt, conn, err := h.dial()
	if err != nil {
		return nil, target{}, err
	}
	if h.nets == nil {
		h.nets = map[*golibvirt.Libvirt]net.Conn{}
	}
	h.conn, h.tgt, h.nets[l] = l, tgt, conn
	return l, tgt, nil
}

// dial opens a new connection to the daemon: the handshake must answer
// within twice the dial timeout. It returns the socket too, so that the
// caller can cut it.
func (h *hypervisor) dial() (*golibvirt.Libvirt, target, net.Conn, error) {
	tgt, err := parseURI(h.uri, h.timeout)
	if err != nil {
		return nil, target{}, nil, err
	}
	rd := &recDialer{Dialer: tgt.dialer}
	l := golibvirt.NewWithDialer(rd)
	var cutOnce sync.Once
	cut := func() {
		cutOnce.Do(func() {
			if c := rd.get(); c != nil {
				_ = c.Close()
			}
		})
	}
	timer := time.AfterFunc(2*h.timeout, cut)
	err = l.ConnectToURI(tgt.driver)
	if !timer.Stop() {
		err = fmt.Errorf("no answer to the handshake within %v", 2*h.timeout)
	}
	if err != nil {
		cut()
		return nil, target{}, nil, fmt.Errorf("hypervisor %s (%s): %w: %w", h.name, h.uri, iaas.ErrUnreachable, err)
	}
	return l, tgt, rd.get(), nil
}

// download reads n bytes of vol from off through a connection of its own,
// cut when done or when ctx ends. go-libvirt takes a stream packet without
// payload for the stream's end and returns; when libvirtd sends more after
// it, the connection's reader blocks for ever holding the connection's
// lock, wedging every call on it. So a download never shares the
// hypervisor's connection: at worst it leaks its own reader.
func (h *hypervisor) download(ctx context.Context, vol golibvirt.StorageVol, off, n uint64) ([]byte, error) {
	l, _, conn, err := h.dial()
	if err != nil {
		return nil, err
	}
	defer func() { _ = conn.Close() }()
	type result struct {
		data []byte
		err  error
	}
	done := make(chan result, 1)
	go func() {
		var buf bytes.Buffer
		err := l.StorageVolDownload(vol, &buf, off, n, 0)
		done <- result{buf.Bytes(), err}
	}()
	select {
	case r := <-done:
		return r.data, r.err
	case <-ctx.Done():
		return nil, fmt.Errorf("hypervisor %s (%s): download: %w", h.name, h.uri, ctx.Err())
	}
}

// cut closes the socket under l: its calls in flight return an error,
// and the next connect dials again.
func (h *hypervisor) cut(l *golibvirt.Libvirt) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cutLocked(l)
}

func (h *hypervisor) cutLocked(l *golibvirt.Libvirt) {
	if h.conn == l {
		h.conn, h.host = nil, ""
	}
	if c := h.nets[l]; c != nil {
		_ = c.Close()
	}
	delete(h.nets, l)
}

// guard cuts l's connection when a call on it is still running hungAfter
// after ctx ended (a hung daemon would otherwise hold the caller for
// ever). Call the returned func when the calls are done.
func (h *hypervisor) guard(ctx context.Context, l *golibvirt.Libvirt) func() {
	var mu sync.Mutex
	done := false
	var timer *time.Timer
	stop := context.AfterFunc(ctx, func() {
		mu.Lock()
		defer mu.Unlock()
		if done {
			return
		}
		timer = time.AfterFunc(h.hungAfter, func() {
			mu.Lock()
			d := done
			mu.Unlock()
			if !d {
				h.cut(l)
			}
		})
	})
	return func() {
		mu.Lock()
		done = true
		if timer != nil {
			timer.Stop()
		}
		mu.Unlock()
		stop()
	}
}

// fail classifies err from a call on l: an error of the daemon or of ours
// is kept as it is; a broken connection (gone, interrupted, an I/O
// error) is cut, to be dialled again next time, and the error wraps
// iaas.ErrUnreachable.
func (h *hypervisor) fail(l *golibvirt.Libvirt, err error) error {
	if err == nil {
		return nil
	}
	var lerr golibvirt.Error
	var operr *net.OpError
	broken := !l.IsConnected() || errors.Is(err, golibvirt.ErrInterrupted) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		errors.Is(err, syscall.EPIPE) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EINVAL) ||
		errors.As(err, &operr)
	if !broken || errors.As(err, &lerr) && l.IsConnected() {
		return err
	}
	h.cut(l)
	return fmt.Errorf("hypervisor %s (%s): %w: %w", h.name, h.uri, iaas.ErrUnreachable, err)
}

// close ends the connection politely (cut when the daemon does not
// answer within the dial timeout).
func (h *hypervisor) close() {
	h.mu.Lock()
	l := h.conn
	h.mu.Unlock()
	if l == nil {
		return
	}
	done := make(chan struct{})
	go func() { _ = l.Disconnect(); close(done) }()
	select {
	case <-done:
	case <-time.After(h.timeout):
	}
	h.cut(l)
}

// isCode reports whether err is the daemon's error code.
func isCode(err error, codes ...golibvirt.ErrorNumber) bool {
	var lerr golibvirt.Error
	if !errors.As(err, &lerr) {
		return false
	}
	for _, c := range codes {
		if lerr.Code == uint32(c) {
			return true
		}
	}
	return false
}
