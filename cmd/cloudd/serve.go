package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/store"
)

// serve starts every component in order and stops them in reverse order
// when ctx ends. Any start-up failure is returned, so cloudd exits non-zero.
func serve(ctx context.Context, o *options, errOut io.Writer) error {
	log := newLogger(errOut, o.logLevel)
	if err := os.MkdirAll(o.dataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	if f, err := os.CreateTemp(o.dataDir, ".probe-*"); err != nil {
		return fmt.Errorf("data dir %s is not writable: %w", o.dataDir, err)
	} else {
		f.Close()
		os.Remove(f.Name())
	}
	// Listen before anything else: a taken port fails at once.
	ln, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", o.listen, err)
	}
	defer ln.Close()

	etcd, closeEtcd, etcdErr, err := startEtcd(ctx, o)
	if err != nil {
		return err
	}
	defer closeEtcd()
	st := store.New(etcd)

	reg := prometheus.NewRegistry()
	srv, err := apiserver.New(apiserver.Config{
		Store: st, Scheme: api.NewScheme(), Log: log, Registry: reg, Version: version,
		MaxInFlight: o.maxInFlight, MaxBodyBytes: o.maxBody,
		ImageDir: filepath.Join(o.dataDir, "images"), MaxImageBytes: o.maxImageBytes,
	})
	if err != nil {
		return err
	}
	bctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := srv.Bootstrap(bctx); err != nil {
		return err
	}

	var tlsConfig *tls.Config
	var caPEM []byte
	scheme := "http"
	if !o.insecureHTTP {
		certs, err := apiserver.EnsureCertificates(o.dataDir, certHosts(o.listen, o.tlsSANs))
		if err != nil {
			return fmt.Errorf("certificates: %w", err)
		}
		if tlsConfig, err = certs.TLSConfig(); err != nil {
			return err
		}
		caPEM, scheme = certs.CAPEM, "https"
	} else {
		log.Warn("serving plain HTTP: tokens travel in clear; use only for tests")
	}
	adminPath := filepath.Join(o.dataDir, "admin.yaml")
	if err := ensureAdminConfig(bctx, srv, adminPath, scheme+"://"+clientAddress(ln.Addr()), caPEM); err != nil {
		return err
	}

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	// The API serves until the components acting through it have stopped
	// (the scheduler's bindings in flight land): it stops last; etcd stops
	// after it (the leader's lease is revoked on the way out).
	serveCtx, stopServing := context.WithCancel(context.WithoutCancel(ctx))
	defer stopServing()
	if o.compactEvery > 0 {
		go func() { _ = st.RunCompactor(runCtx, o.compactEvery, log) }()
	}
	serverURL := scheme + "://" + clientAddress(ln.Addr())
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(serveCtx, ln, tlsConfig, o.shutdownGrace) }()
	cp := &controlPlane{o: o, srv: srv, etcd: etcd, serverURL: serverURL, caPEM: caPEM, reg: reg, log: log,
		iaas: o.iaas.withServerURL(scheme, ln.Addr())}
	if cp.iaas.enabled {
		providers, closeProviders, err := newProviders(ctx, cp.iaas, reg, providerEnv{log: log, serverURL: serverURL, caPEM: caPEM,
			simulatorToken: srv.SimulatorToken})
		if err != nil {
			return err
		}
		defer func() { _ = closeProviders() }()
		cp.providers = providers
	}
	var cpDone <-chan struct{}
	stopComponents := func() {
		stop()
		if cpDone != nil {
			<-cpDone
		}
	}
	shutdown := func() error {
		stopComponents()
		stopServing()
		return <-serveErr
	}
	if o.allInOne {
		if err := runLocalNode(runCtx, o, srv, serverURL, caPEM, log); err != nil {
			_ = shutdown()
			return err
		}
	}
	if cp.enabled() {
		if cpDone, err = cp.start(runCtx); err != nil {
			_ = shutdown()
			return err
		}
	}
	if cp.iaas.enabled {
		// Hypervisors the config file declares: created through the API
		// as the admin, where missing.
		ac, err := client.NewFromConfigFile(adminPath, api.NewScheme())
		if err == nil {
			err = registerHypervisors(runCtx, ac, cp.iaas.providers, log)
		}
		if err != nil {
			_ = shutdown()
			return err
		}
	}
	log.Info("cloudd ready", "version", version, "url", serverURL, "admin-config", adminPath, "scheduler", o.scheduler,
		"controllers", o.controllers, "leader-elect", o.leaderElect)

	select {
	case err := <-etcdErr:
		_ = shutdown()
		return fmt.Errorf("etcd failed: %w", err)
	case err := <-serveErr:
		stopComponents()
		return err
	case <-ctx.Done():
		log.Info("shutting down")
		return shutdown()
	}
}

// startEtcd returns a client of the embedded member or of the external
// cluster, a function that releases it, and a channel of fatal etcd errors.
func startEtcd(ctx context.Context, o *options) (*clientv3.Client, func(), <-chan error, error) {
	if len(o.etcdEndpoints) == 0 {
		e, err := store.StartEmbedded(store.EmbeddedConfig{Dir: filepath.Join(o.dataDir, "etcd")})
		if err != nil {
			return nil, nil, nil, err
		}
		return e.Client(), e.Close, e.Err(), nil
	}
	var tlsConfig *tls.Config
	if o.etcdCA != "" || o.etcdCert != "" {
		tlsConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		if o.etcdCA != "" {
			pem, err := os.ReadFile(o.etcdCA)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("etcd CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, nil, nil, fmt.Errorf("etcd CA %s holds no certificate", o.etcdCA)
			}
			tlsConfig.RootCAs = pool
		}
		if o.etcdCert != "" {
			pair, err := tls.LoadX509KeyPair(o.etcdCert, o.etcdKey)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("etcd client certificate: %w", err)
			}
			tlsConfig.Certificates = []tls.Certificate{pair}
		}
	}
	c, err := store.ConnectExternal(ctx, store.ExternalConfig{Endpoints: o.etcdEndpoints, TLS: tlsConfig})
	if err != nil {
		return nil, nil, nil, err
	}
	return c, func() { _ = c.Close() }, nil, nil
}

// ensureAdminConfig keeps DATA-DIR/admin.yaml holding a working admin token:
// it is written on first start, and rewritten when its token no longer
// authenticates (a new etcd) or the address changed.
func ensureAdminConfig(ctx context.Context, srv *apiserver.Server, path, serverURL string, caPEM []byte) error {
	want := client.Context{Server: serverURL, Namespace: "default"}
	if len(caPEM) > 0 {
		want.CertificateAuthorityData = base64.StdEncoding.EncodeToString(caPEM)
	}
	if f, err := client.LoadConfigFile(path); err == nil {
		if cur, err := f.Context(""); err == nil && cur.Token != "" {
			if _, err := srv.Authenticate(ctx, cur.Token); err == nil {
				if cur.Server == want.Server && cur.CertificateAuthorityData == want.CertificateAuthorityData {
					return nil
				}
				want.Token = cur.Token
			}
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("admin config: %w", err)
	}
	if want.Token == "" {
		token, err := srv.IssueToken(ctx, apiserver.TokenSpec{Role: apiserver.RoleAdmin, User: "admin"})
		if err != nil {
			return fmt.Errorf("admin token: %w", err)
		}
		want.Token = token
	}
	return client.NewConfigFile("admin", want).Save(path)
}

// clientAddress turns the listen address into one a local client can dial.
func clientAddress(a net.Addr) string {
	host, port, _ := net.SplitHostPort(a.String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

func certHosts(listen string, extra []string) []string {
	hosts := []string{"localhost", "127.0.0.1", "::1"}
	if h, _, err := net.SplitHostPort(listen); err == nil && h != "" {
		if ip := net.ParseIP(h); ip == nil || !ip.IsUnspecified() {
			hosts = append(hosts, h)
		}
	}
	if name, err := os.Hostname(); err == nil {
		hosts = append(hosts, name)
	}
	return append(hosts, extra...)
}

func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}
