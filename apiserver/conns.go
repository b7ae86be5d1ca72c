package apiserver

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// connTracker remembers the last state of every connection, so that
// shutdown can close HTTP/2 connections that sit idle. net/http closes idle
// HTTP/1 connections itself, but counts an HTTP/2 connection as active for
// its whole life and relies on a GOAWAY sent once when shutdown begins; a
// connection whose TLS handshake ends just after that never gets one, and
// Shutdown then waits for the whole drain period (golang/go#81153).
type connTracker struct {
	mu    sync.Mutex
	conns map[net.Conn]connState
}

type connState struct {
	state http.ConnState
	since time.Time
}

func newConnTracker() *connTracker {
	return &connTracker{conns: map[net.Conn]connState{}}
}

// track is the http.Server ConnState hook. HTTP/2 connections report
// StateActive and StateIdle as their streams open and close.
func (t *connTracker) track(c net.Conn, st http.ConnState) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if st == http.StateClosed || st == http.StateHijacked {
		delete(t.conns, c)
		return
	}
	t.conns[c] = connState{state: st, since: time.Now()}
}

// closeIdle closes, every interval until ctx ends, the connections idle
// for at least grace. A connection with a request in flight is never idle;
// the grace covers HTTP/2 reporting a connection idle just before it
// flushes the last response.
func (t *connTracker) closeIdle(ctx context.Context, interval, grace time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		t.mu.Lock()
		for c, st := range t.conns {
			if st.state == http.StateIdle && time.Since(st.since) >= grace {
				_ = c.Close()
				delete(t.conns, c)
			}
		}
		t.mu.Unlock()
	}
}
