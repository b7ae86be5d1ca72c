package store

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// Embedded is an etcd member running inside this process, the single-machine
// default of cloudd.
type Embedded struct {
	etcd   *embed.Etcd
	client *clientv3.Client
	// ClientURL is where other tools (etcdctl) can reach the member: a unix
	// socket in the data directory.
	ClientURL string
}

// EmbeddedConfig says where and how an embedded member runs.
type EmbeddedConfig struct {
	// Dir holds the member's data; it is created if missing.
	Dir string
	// Name of the member (default "default").
	Name string
	// PeerURLs and ClientURLs override the unix sockets in Dir; a cluster
	// of embedded members (tests) sets them to loopback addresses.
	PeerURLs, ClientURLs []url.URL
	// InitialCluster is "name=peerURL,..." for multi-member clusters.
	InitialCluster string
	// ReadyTimeout bounds the wait for the member to serve (default 60s).
	ReadyTimeout time.Duration
}

// StartEmbedded starts an etcd member and waits until it serves requests.
// Start-up failures (unwritable dir, address in use, a member that never
// becomes ready) are returned, never swallowed.
func StartEmbedded(cfg EmbeddedConfig) (*Embedded, error) {
	if err := os.MkdirAll(cfg.Dir, 0o700); err != nil {
		return nil, fmt.Errorf("etcd data dir: %w", err)
	}
	probe := filepath.Join(cfg.Dir, ".write-test")
	if err := os.WriteFile(probe, nil, 0o600); err != nil {
		return nil, fmt.Errorf("etcd data dir %s is not writable: %w", cfg.Dir, err)
	}
	_ = os.Remove(probe)

	ec := embed.NewConfig()
	ec.Dir = cfg.Dir
	if cfg.Name != "" {
		ec.Name = cfg.Name
	}
	ec.LogLevel = "warn"
	ec.LogOutputs = []string{filepath.Join(cfg.Dir, "etcd.log")}
	// Keep a day of history at most; cloudd compacts more often itself.
	ec.AutoCompactionMode = embed.CompactorModePeriodic
	ec.AutoCompactionRetention = "24h"
	if len(cfg.PeerURLs) == 0 {
		// Unix sockets in the data dir: no port to collide with another
		// cloudd or etcd on the machine.
		peer := url.URL{Scheme: "unix", Path: filepath.Join(cfg.Dir, "peer.sock")}
		cfg.PeerURLs = []url.URL{peer}
	}
	if len(cfg.ClientURLs) == 0 {
		cfg.ClientURLs = []url.URL{{Scheme: "unix", Path: filepath.Join(cfg.Dir, "client.sock")}}
	}
	for _, u := range append(append([]url.URL{}, cfg.PeerURLs...), cfg.ClientURLs...) {
		if u.Scheme == "unix" {
			_ = os.Remove(u.Path) // a stale socket of a killed process
		}
	}
	ec.ListenPeerUrls, ec.AdvertisePeerUrls = cfg.PeerURLs, cfg.PeerURLs
	ec.ListenClientUrls, ec.AdvertiseClientUrls = cfg.ClientURLs, cfg.ClientURLs
	if cfg.InitialCluster != "" {
		ec.InitialCluster = cfg.InitialCluster
	} else {
		ec.InitialCluster = ec.InitialClusterFromName(ec.Name)
	}
	timeout := cfg.ReadyTimeout
	if timeout == 0 {
		timeout = 60 * time.Second
	}

	e, err := embed.StartEtcd(ec)
	if err != nil {
		return nil, fmt.Errorf("start embedded etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, fmt.Errorf("embedded etcd failed: %w", err)
	case <-e.Server.StopNotify():
		e.Close()
		return nil, errors.New("embedded etcd stopped during start-up; see etcd.log in the data dir")
	case <-time.After(timeout):
		e.Close()
		return nil, fmt.Errorf("embedded etcd not ready after %s; see etcd.log in the data dir", timeout)
	}
	return &Embedded{etcd: e, client: v3client.New(e.Server), ClientURL: cfg.ClientURLs[0].String()}, nil
}

// Client is an in-process client of the member: no network hop.
func (e *Embedded) Client() *clientv3.Client { return e.client }

// Err reports a fatal error of the running member.
func (e *Embedded) Err() <-chan error { return e.etcd.Err() }

// Close stops the member, waiting for it to flush.
func (e *Embedded) Close() {
	_ = e.client.Close()
	e.etcd.Close()
}

// ExternalConfig says how to reach an external etcd cluster.
type ExternalConfig struct {
	Endpoints []string
	TLS       *tls.Config // nil: plain
	// DialTimeout bounds the first contact (default 10s).
	DialTimeout time.Duration
}

// ConnectExternal connects to an etcd cluster and checks that it answers, so
// an unreachable cluster fails start-up instead of the first request.
func ConnectExternal(ctx context.Context, cfg ExternalConfig) (*clientv3.Client, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, errors.New("no etcd endpoints given")
	}
	timeout := cfg.DialTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	c, err := clientv3.New(clientv3.Config{
		Endpoints:   cfg.Endpoints,
		DialTimeout: timeout,
		TLS:         cfg.TLS,
		Logger:      nopLogger(),
	})
	if err != nil {
		return nil, fmt.Errorf("etcd client: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if _, err := c.Get(cctx, "/registry/", clientv3.WithCountOnly()); err != nil {
		_ = c.Close()
		return nil, fmt.Errorf("etcd unreachable at %v: %w", cfg.Endpoints, err)
	}
	return c, nil
}
