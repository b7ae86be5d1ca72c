package caas

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cloudmgr/cloud/api"
)

// maxProbeOutput bounds what is kept of an exec probe's output and read of
// an HTTP probe's body (as the kubelet does).
const maxProbeOutput = 10 << 10

// errNetNS: the pod's network namespace could not be entered; the probe
// did not run.
var errNetNS = errors.New("pod network namespace")

// execProbe runs command in the container; exit code 0 passes.
func (p *prober) execProbe(ctx context.Context, id string, command []string, timeout time.Duration) (bool, string, error) {
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	out := &capWriter{max: maxProbeOutput}
	code, err := p.rt.Exec(tctx, id, ExecSpec{Command: command, Stdout: out, Stderr: out})
	cmd := strings.Join(command, " ")
	switch {
	case err == nil && code == 0:
		return true, "", nil
	case err == nil:
		msg := fmt.Sprintf("command %q exited with code %d", cmd, code)
		if o := strings.TrimSpace(out.String()); o != "" {
			msg += ": " + o
		}
		return false, msg, nil
	case ctx.Err() == nil && errors.Is(err, context.DeadlineExceeded):
		return false, fmt.Sprintf("command %q timed out after %s", cmd, timeout), nil
	default:
		return false, "", err
	}
}

// httpProbe sends GET to the container inside the pod's network
// namespace; a status in 200–399 passes. Redirects are not followed (a 3xx
// passes).
func (p *prober) httpProbe(ctx context.Context, netns string, c *api.Container, h *api.HTTPGetAction, timeout time.Duration) (bool, string, error) {
	addr, msg := probeAddr(h.Host, h.Port, c)
	if msg != "" {
		return false, msg, nil
	}
	scheme := strings.ToLower(string(h.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	path := h.Path
	if path == "" {
		path = "/"
	}
	u, err := url.Parse(scheme + "://" + addr + path)
	if err != nil {
		return false, fmt.Sprintf("invalid probe URL: %v", err), nil
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			return p.dial(ctx, netns, network, addr)
		},
		// As the kubelet: the container's certificate is not checked.
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, //nolint:gosec // probes check liveness, not identity
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return false, fmt.Sprintf("invalid probe request: %v", err), nil
	}
	req.Header.Set("User-Agent", "cloudlet-probe/1.0")
	req.Header.Set("Accept", "*/*")
	for _, hd := range h.HTTPHeaders {
		if strings.EqualFold(hd.Name, "Host") {
			req.Host = hd.Value
			continue
		}
		req.Header.Set(hd.Name, hd.Value)
	}
	resp, err := hc.Do(req)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, errNetNS) {
			return false, "", err
		}
		return false, err.Error(), nil
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeOutput))
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return false, fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode), nil
	}
	return true, "", nil
}

// tcpProbe opens a TCP connection inside the pod's network namespace;
// connecting passes.
func (p *prober) tcpProbe(ctx context.Context, netns string, c *api.Container, t *api.TCPSocketAction, timeout time.Duration) (bool, string, error) {
	addr, msg := probeAddr(t.Host, t.Port, c)
	if msg != "" {
		return false, msg, nil
	}
	tctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	conn, err := p.dial(tctx, netns, "tcp", addr)
	if err != nil {
		if ctx.Err() != nil || errors.Is(err, errNetNS) {
			return false, "", err
		}
		return false, err.Error(), nil
	}
	_ = conn.Close()
	return true, "", nil
}

// probeAddr resolves a probe's host and port to host:port, or says why it
// cannot. The host defaults to 127.0.0.1 inside the pod's namespace; it
// must be an IP address (or localhost), since names would be looked up
// outside the pod.
func probeAddr(host string, port api.IntOrString, c *api.Container) (string, string) {
	switch host {
	case "", "localhost":
		host = "127.0.0.1"
	}
	if net.ParseIP(host) == nil {
		return "", fmt.Sprintf("probe host %q is not an IP address", host)
	}
	n := int(port.IntVal)
	if port.IsString {
		n = 0
		for _, cp := range c.Ports {
			if cp.Name == port.StrVal {
				n = int(cp.ContainerPort)
			}
		}
		if n == 0 {
			return "", fmt.Sprintf("container has no port named %q", port.StrVal)
		}
	}
	if n < 1 || n > 65535 {
		return "", fmt.Sprintf("invalid port %d", n)
	}
	return net.JoinHostPort(host, strconv.Itoa(n)), ""
}

// dialInNetNS connects to addr from inside the network namespace at
// nsPath. The socket is made on an OS thread of its own switched into the
// namespace, and keeps that namespace after the thread switches back. If
// switching back fails the thread stays locked, so Go ends it with the
// goroutine (or, were it the main thread, parks it for good) instead of
// running other code in the pod's namespace.
func dialInNetNS(ctx context.Context, nsPath, network, addr string) (net.Conn, error) {
	if nsPath == "" {
		return nil, fmt.Errorf("%w: the pod has none", errNetNS)
	}
	type result struct {
		conn net.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread()
		conn, back, err := dialLocked(ctx, nsPath, network, addr)
		if back {
			runtime.UnlockOSThread()
		}
		ch <- result{conn, err}
	}()
	r := <-ch
	return r.conn, r.err
}

// dialLocked runs on a locked thread: enter nsPath, dial, return to the
// thread's namespace; back is false when the thread could not return.
func dialLocked(ctx context.Context, nsPath, network, addr string) (conn net.Conn, back bool, err error) {
	self, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("%w: %w", errNetNS, err)
	}
	defer unix.Close(self)
	target, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, true, fmt.Errorf("%w: open %s: %w", errNetNS, nsPath, err)
	}
	defer unix.Close(target)
	if err := unix.Setns(target, unix.CLONE_NEWNET); err != nil {
		return nil, true, fmt.Errorf("%w: enter %s: %w", errNetNS, nsPath, err)
	}
	var d net.Dialer
	conn, err = d.DialContext(ctx, network, addr)
	if e := unix.Setns(self, unix.CLONE_NEWNET); e != nil {
		return conn, false, err
	}
	return conn, true, err
}

// capWriter keeps the first max bytes written to it, from any goroutine.
type capWriter struct {
	mu  sync.Mutex
	max int
	buf []byte
}

func (w *capWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if room := w.max - len(w.buf); room > 0 {
		w.buf = append(w.buf, b[:min(room, len(b))]...)
	}
	return len(b), nil
}

func (w *capWriter) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return string(w.buf)
}
