// Package apiservertest starts a real API server over a real embedded etcd
// for tests and benchmarks: HTTPS on a loopback port, the server's own
// certificates, and an admin token.
package apiservertest

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/namespace"
	"github.com/cloudmgr/cloud/store"
)

// Env is a running API server and what a test needs to talk to it.
type Env struct {
	URL        string
	CAPEM      []byte
	AdminToken string
	Server     *apiserver.Server
	Store      *store.Store
	Etcd       *store.Embedded
	Scheme     *api.Scheme
	// Admin is a client acting as the admin.
	Admin *client.Client
	// SchedulerToken is a token of the scheduler role
	// (apiserver.RoleScheduler), as cloudd gives its in-process scheduler.
	SchedulerToken string
	// Scheduler is a client acting as the scheduler.
	Scheduler *client.Client
	// Dir is the data dir (etcd, pki).
	Dir string

	cancel   context.CancelFunc
	done     chan error
	stopOnce sync.Once
	stopErr  error
}

// Options tune the server under test.
type Options struct {
	MaxInFlight  int
	MaxBodyBytes int64
	AuthCacheTTL time.Duration
	// WatchCacheSize: events kept per kind for watches (0: the default).
	WatchCacheSize int
	// MaxImageBytes bounds image uploads (0: the default). Loaded images
	// are kept under Dir/images.
	MaxImageBytes int64
	// Log receives the server's log (nil: discarded).
	Log *slog.Logger
	// NoNamespaceController leaves out the namespace controller, which
	// runs by default as cloudd runs it: without it a deleted namespace
	// stays Terminating with its contents.
	NoNamespaceController bool
}

// Start runs a server until the test ends.
func Start(t testing.TB, opts Options) *Env {
	t.Helper()
	dir := t.TempDir()
	e, err := store.StartEmbedded(store.EmbeddedConfig{Dir: dir + "/etcd"})
	if err != nil {
		t.Fatalf("start embedded etcd: %v", err)
	}
	st := store.New(e.Client())
	scheme := api.NewScheme()
	srv, err := apiserver.New(apiserver.Config{
		Store: st, Scheme: scheme, Version: "test",
		MaxInFlight: opts.MaxInFlight, MaxBodyBytes: opts.MaxBodyBytes, AuthCacheTTL: opts.AuthCacheTTL,
		WatchCacheSize: opts.WatchCacheSize, Log: opts.Log,
		ImageDir: dir + "/images", MaxImageBytes: opts.MaxImageBytes,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := srv.Bootstrap(ctx); err != nil {
		t.Fatal(err)
	}
	certs, err := apiserver.EnsureCertificates(dir, []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := certs.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	token, err := srv.IssueToken(ctx, apiserver.TokenSpec{Role: apiserver.RoleAdmin, User: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	schedToken, err := srv.SchedulerToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- srv.Serve(runCtx, ln, tlsConfig, 5*time.Second) }()
	env := &Env{
		URL: "https://" + ln.Addr().String(), CAPEM: certs.CAPEM, AdminToken: token, SchedulerToken: schedToken,
		Server: srv, Store: st, Etcd: e, Scheme: scheme, Dir: dir,
		cancel: cancel, done: done,
	}
	env.Admin = env.Client(t, token)
	env.Scheduler = env.Client(t, schedToken)
	t.Cleanup(func() {
		if err := env.Stop(); err != nil {
			t.Errorf("server shutdown: %v", err)
		}
		e.Close()
	})
	if !opts.NoNamespaceController {
		// With the controller manager's role, as cloudd runs it, so that
		// tests fail on what the role forbids. A token of its own: the
		// ControllerToken a test may mint does not revoke it.
		nsToken, err := srv.IssueToken(ctx, apiserver.TokenSpec{Role: apiserver.RoleController, User: apiserver.ControllerUser})
		if err != nil {
			t.Fatal(err)
		}
		m := controllers.NewManager(env.Client(t, nsToken), nil)
		if err := namespace.Setup(m); err != nil {
			t.Fatal(err)
		}
		mctx, mcancel := context.WithCancel(ctx)
		mdone := make(chan struct{})
		go func() { _ = m.Run(mctx); close(mdone) }()
		t.Cleanup(func() { mcancel(); <-mdone }) // runs before the server stops
	}
	return env
}

// Peer starts a second API server on the same etcd, as a second cloudd
// of a highly available control plane runs, until the test ends, and
// returns a client of it acting as the admin. Whatever one server keeps
// in memory the other does not see: tests of races that only etcd must
// settle send through both.
func (e *Env) Peer(t testing.TB) *client.Client {
	t.Helper()
	srv, err := apiserver.New(apiserver.Config{Store: e.Store, Scheme: e.Scheme, Version: "test", ImageDir: e.Dir + "/images-peer"})
	if err != nil {
		t.Fatal(err)
	}
	certs, err := apiserver.EnsureCertificates(e.Dir, []string{"127.0.0.1", "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	tlsConfig, err := certs.TLSConfig()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx, ln, tlsConfig, 5*time.Second) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("peer server shutdown: %v", err)
		}
	})
	c, err := client.New(client.Config{Server: "https://" + ln.Addr().String(), CAData: certs.CAPEM, Token: e.AdminToken}, e.Scheme)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Stop shuts the server down gracefully, as cloudd does on SIGTERM, and
// returns what Serve returned. Etcd keeps running until the test ends, so
// the test can still read the store. Stop may be called more than once.
func (e *Env) Stop() error {
	e.stopOnce.Do(func() {
		e.cancel()
		e.stopErr = <-e.done
	})
	return e.stopErr
}

// Client returns a client of the server acting with token.
func (e *Env) Client(t testing.TB, token string) *client.Client {
	t.Helper()
	c, err := client.New(client.Config{Server: e.URL, CAData: e.CAPEM, Token: token}, e.Scheme)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// Tenant creates a tenant (and its namespace) and returns a client acting
// with the tenant's token.
func (e *Env) Tenant(t testing.TB, name string) *client.Client {
	t.Helper()
	ctx := context.Background()
	ten := &api.Tenant{ObjectMeta: api.ObjectMeta{Name: name}}
	if err := e.Admin.Create(ctx, ten); err != nil {
		t.Fatalf("create tenant %s: %v", name, err)
	}
	var tok apiserver.TenantToken
	if err := e.Admin.Do(ctx, "POST", "/api/v1/tenants/"+name+"/token", nil, map[string]string{}, &tok); err != nil {
		t.Fatalf("tenant token: %v", err)
	}
	return e.Client(t, tok.Token)
}

// ControllerManager returns a client acting with a fresh token of the
// controller-manager role (apiserver.RoleController), as cloudd gives its
// in-process controllers: run a controllers.Manager on it so integration
// tests fail on what the role forbids. Each call revokes the token of the
// previous one.
func (e *Env) ControllerManager(t testing.TB) *client.Client {
	t.Helper()
	tok, err := e.Server.ControllerToken(context.Background())
	if err != nil {
		t.Fatalf("controller-manager token: %v", err)
	}
	return e.Client(t, tok)
}

// IaaSController returns a client acting with a fresh token of the IaaS
// controllers' role (apiserver.RoleIaaSController), as cloudd gives its
// in-process IaaS controllers. Each call revokes the token of the previous
// one.
func (e *Env) IaaSController(t testing.TB) *client.Client {
	t.Helper()
	tok, err := e.Server.IaaSControllerToken(context.Background())
	if err != nil {
		t.Fatalf("iaas-controller token: %v", err)
	}
	return e.Client(t, tok)
}
