package client

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"time"

	"golang.org/x/net/http2"
)

// TunnelProtocol is the Upgrade token of the node tunnel: after the
// server's 101, the node serves HTTP/2 on the connection and the API
// server is the HTTP/2 client.
const TunnelProtocol = "cloudmgr-tunnel"

// TunnelPath is the path a node opens its tunnel on.
func TunnelPath(node string) string { return "/api/v1/nodes/" + url.PathEscape(node) + "/tunnel" }

// DialTunnel opens the reverse tunnel of node: an HTTP/1.1 request with
// Connection: Upgrade over the client's own TLS settings and token,
// answered by 101 Switching Protocols. The returned connection then
// carries whatever the two ends speak next (HTTP/2, the node serving).
// A refusal is returned as *api.Status.
func (c *Client) DialTunnel(ctx context.Context, node string) (net.Conn, error) {
	addr := c.base.Host
	if c.base.Port() == "" {
		if c.base.Scheme == "https" {
			addr = net.JoinHostPort(c.base.Hostname(), "443")
		} else {
			addr = net.JoinHostPort(c.base.Hostname(), "80")
		}
	}
	d := net.Dialer{Timeout: 10 * time.Second, KeepAlive: 15 * time.Second}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("tunnel: dial %s: %w", addr, err)
	}
	conn := raw
	if c.base.Scheme == "https" {
		cfg := c.tls.Clone()
		// HTTP/2 has no Upgrade: the tunnel is opened over HTTP/1.1.
		cfg.NextProtos = []string{"http/1.1"}
		if cfg.ServerName == "" {
			cfg.ServerName = c.base.Hostname()
		}
		tc := tls.Client(raw, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = raw.Close()
			return nil, fmt.Errorf("tunnel: TLS handshake with %s: %w", addr, err)
		}
		conn = tc
	}
	// The request and the answer are bounded in time; the tunnel that
	// follows is not.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Now()) })
	defer stop()
	_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
	u := *c.base
	u.Path = c.base.Path + TunnelPath(node)
	req, err := http.NewRequest(http.MethodGet, u.String(), nil)
	if err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("tunnel: build request: %w", err)
	}
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", TunnelProtocol)
	req.Header.Set("User-Agent", c.agent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	if err := req.Write(conn); err != nil {
		_ = conn.Close()
		return nil, fmt.Errorf("tunnel: send request: %w", err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		_ = conn.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("tunnel: %w", ctx.Err())
		}
		return nil, fmt.Errorf("tunnel: read answer: %w", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		_ = conn.Close()
		return nil, statusError(resp.StatusCode, body)
	}
	if !stop() {
		_ = conn.Close()
		return nil, fmt.Errorf("tunnel: %w", ctx.Err())
	}
	_ = conn.SetDeadline(time.Time{})
	return &bufferedConn{Conn: conn, r: br}, nil
}

// bufferedConn reads first what the reader of the 101 answer buffered
// past it (the peer may speak right after the answer).
type bufferedConn struct {
	net.Conn
	r *bufio.Reader
}

func (c *bufferedConn) Read(p []byte) (int, error) { return c.r.Read(p) }

// TunnelOptions tune ServeTunnel.
type TunnelOptions struct {
	// Log receives connects, disconnects and failures.
	Log *slog.Logger
	// MinBackoff and MaxBackoff bound the wait between reconnects (1s and
	// 30s by default); the wait doubles after each failure, with jitter.
	MinBackoff, MaxBackoff time.Duration
	// PingAfter is how long the connection may be silent before the node
	// pings, and PingTimeout how long it waits for the answer before it
	// drops the connection as dead (15s and 10s by default).
	PingAfter, PingTimeout time.Duration
	// OnConnect, when set, is called each time a tunnel is up (tests).
	OnConnect func()
}

// ServeTunnel keeps the reverse tunnel of node open until ctx ends and
// serves HTTP/2 requests of the API server on it with h: it dials, serves
// until the connection dies, and dials again after a back-off. Idle
// tunnels are pinged, so a dead one (a NAT that forgot it, a server that
// went away) is noticed and replaced. It returns nil when ctx ends.
func (c *Client) ServeTunnel(ctx context.Context, node string, h http.Handler, opts TunnelOptions) error {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = time.Second
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = 30 * time.Second
	}
	if opts.PingAfter <= 0 {
		opts.PingAfter = 15 * time.Second
	}
	if opts.PingTimeout <= 0 {
		opts.PingTimeout = 10 * time.Second
	}
	// IdleTimeout stays 0: a tunnel with no stream open must stay up.
	srv := &http2.Server{ReadIdleTimeout: opts.PingAfter, PingTimeout: opts.PingTimeout}
	delay := opts.MinBackoff
	for ctx.Err() == nil {
		conn, err := c.DialTunnel(ctx, node)
		if err != nil {
			if ctx.Err() != nil {
				break
			}
			opts.Log.Warn("tunnel to the API server failed; retrying", "node", node, "err", err, "in", delay)
		} else {
			opts.Log.Info("tunnel to the API server connected", "node", node)
			if opts.OnConnect != nil {
				opts.OnConnect()
			}
			start := time.Now()
			stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
			srv.ServeConn(conn, &http2.ServeConnOpts{Context: ctx, Handler: h})
			stop()
			_ = conn.Close()
			if ctx.Err() != nil {
				break
			}
			opts.Log.Warn("tunnel to the API server closed; reconnecting", "node", node, "after", time.Since(start).Round(time.Millisecond))
			if time.Since(start) > opts.MaxBackoff {
				delay = opts.MinBackoff // it had worked for a while: retry soon
			}
		}
		wait := delay/2 + rand.N(delay/2+1)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
		delay = min(2*delay, opts.MaxBackoff)
	}
	return nil
}
