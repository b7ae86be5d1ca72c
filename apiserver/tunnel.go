package apiserver

import (
	"bufio"
	"errors"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/net/http2"

	"github.com/cloudmgr/cloud/client"
)

// Nodes sit behind NAT (public-cloud VMs, QEMU user-mode networking), so
// the API server never dials one: each node agent opens a tunnel, an
// HTTP/1.1 Upgrade on its ordinary TLS connection, and the server then
// speaks HTTP/2 as the client over it while the node serves. One tunnel
// carries any number of concurrent log and exec streams.

// errNoTunnel is the 503 of a node without a live tunnel.
func errNoTunnel(node string) error {
	return newStatus(http.StatusServiceUnavailable, "ServiceUnavailable",
		"node "+node+" has no tunnel connected; is cloudlet running?")
}

// tunnels holds the live tunnel of each node.
type tunnels struct {
	mu sync.Mutex
	m  map[string]*tunnel
	// transport configures the HTTP/2 client ends: idle tunnels are
	// pinged, so a dead one is dropped within 25s; no IdleConnTimeout, so
	// a live tunnel with no stream open is kept.
	transport *http2.Transport
}

type tunnel struct {
	cc   *http2.ClientConn
	conn *watchedConn
}

func newTunnels() *tunnels {
	return &tunnels{
		m:         map[string]*tunnel{},
		transport: &http2.Transport{ReadIdleTimeout: 15 * time.Second, PingTimeout: 10 * time.Second, WriteByteTimeout: 30 * time.Second},
	}
}

// get returns the live tunnel of node, or nil.
func (t *tunnels) get(node string) *http2.ClientConn {
	t.mu.Lock()
	defer t.mu.Unlock()
	if tn := t.m[node]; tn != nil {
		return tn.cc
	}
	return nil
}

// add makes conn the tunnel of node, closing the one it replaces, and
// forgets it once it closes.
func (t *tunnels) add(node string, conn net.Conn) error {
	wc := &watchedConn{Conn: conn, closed: make(chan struct{})}
	cc, err := t.transport.NewClientConn(wc)
	if err != nil {
		_ = conn.Close()
		return err
	}
	tn := &tunnel{cc: cc, conn: wc}
	t.mu.Lock()
	old := t.m[node]
	t.m[node] = tn
	t.mu.Unlock()
	if old != nil {
		_ = old.cc.Close()
	}
	go func() {
		<-wc.closed
		_ = cc.Close()
		t.mu.Lock()
		if t.m[node] == tn {
			delete(t.m, node)
		}
		t.mu.Unlock()
	}()
	return nil
}

// closeAll closes every tunnel, when the server stops.
func (t *tunnels) closeAll() {
	t.mu.Lock()
	all := t.m
	t.m = map[string]*tunnel{}
	t.mu.Unlock()
	for _, tn := range all {
		_ = tn.cc.Close()
	}
}

// watchedConn tells when the connection is done: its first failed read
// (the HTTP/2 read loop reads until the connection dies) or its close.
type watchedConn struct {
	net.Conn
	once   sync.Once
	closed chan struct{}
}

func (c *watchedConn) done() { c.once.Do(func() { close(c.closed) }) }

func (c *watchedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if err != nil {
		c.done()
	}
	return n, err
}

func (c *watchedConn) Close() error {
	c.done()
	return c.Conn.Close()
}

// hijackedConn reads first what the server had buffered past the request.
type hijackedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *hijackedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// openTunnel is GET /api/v1/nodes/{name}/tunnel with Upgrade: the node
// agent's reverse tunnel. Only the node's own credential may open it.
func (s *Server) openTunnel(w http.ResponseWriter, r *http.Request, id *Identity) {
	node := r.PathValue("name")
	if id.Role != RoleNode || id.Node != node {
		writeError(w, s.log, errForbidden("User %q cannot open the tunnel of node %q: only that node's credential can", id.Name, node), "nodes", node)
		return
	}
	if !headerHas(r.Header, "Connection", "upgrade") || !strings.EqualFold(r.Header.Get("Upgrade"), client.TunnelProtocol) {
		writeError(w, s.log, errBadRequest("the tunnel needs Connection: Upgrade and Upgrade: %s", client.TunnelProtocol), "nodes", node)
		return
	}
	if r.ProtoMajor != 1 {
		writeError(w, s.log, errBadRequest("the tunnel needs HTTP/1.1 (HTTP/2 has no Upgrade)"), "nodes", node)
		return
	}
	hj, ok := w.(http.Hijacker)
	if !ok {
		writeError(w, s.log, errors.New("connection cannot be taken over"), "nodes", node)
		return
	}
	conn, brw, err := hj.Hijack()
	if err != nil {
		s.log.Warn("tunnel hijack", "node", node, "err", err)
		return
	}
	// The server's read and header deadlines must not cut the tunnel.
	_ = conn.SetDeadline(time.Time{})
	_, err = brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: " + client.TunnelProtocol + "\r\n\r\n")
	if err == nil {
		err = brw.Flush()
	}
	if err != nil {
		_ = conn.Close()
		s.log.Warn("tunnel answer", "node", node, "err", err)
		return
	}
	if err := s.tunnels.add(node, &hijackedConn{Conn: conn, r: brw.Reader}); err != nil {
		s.log.Warn("tunnel start", "node", node, "err", err)
		return
	}
	s.log.Info("node tunnel connected", "node", node, "remote", conn.RemoteAddr().String())
}

// headerHas reports whether the comma-separated header key lists token.
func headerHas(h http.Header, key, token string) bool {
	for _, v := range h.Values(key) {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(t), token) {
				return true
			}
		}
	}
	return false
}
