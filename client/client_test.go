package client_test

import (
	"context"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// Clients made by WithToken act each with its own token and share one
// HTTP/2 connection.
func TestWithTokenSharesTheConnection(t *testing.T) {
	var conns atomic.Int32
	var mu sync.Mutex
	seen := map[string]bool{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.ProtoMajor != 2 {
			http.Error(w, "want HTTP/2, got "+r.Proto, http.StatusBadRequest)
			return
		}
		mu.Lock()
		seen[r.Header.Get("Authorization")] = true
		mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{}`))
	}))
	srv.EnableHTTP2 = true
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	defer srv.Close()
	ca := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw})
	base, err := client.New(client.Config{Server: srv.URL, CAData: ca, Token: "base"}, api.NewScheme())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := base.Do(ctx, http.MethodGet, "/x", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 50)
	for i := range 50 {
		c := base.WithToken(fmt.Sprintf("tok-%d", i))
		wg.Go(func() { errs <- c.Do(ctx, http.MethodGet, "/x", nil, nil, nil) })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := base.Do(ctx, http.MethodGet, "/x", nil, nil, nil); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 51 || !seen["Bearer base"] || !seen["Bearer tok-49"] {
		t.Fatalf("tokens seen: %d %v", len(seen), seen)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("%d connections, want 1 shared", n)
	}
}
