package openstack_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/providers/openstack"
	"github.com/cloudmgr/cloud/providers/openstack/openstacktest"
)

// secret is a join token that must never reach a log.
const secret = "join-token-5f2c9a1e7b3d"

// logBuffer collects a provider's log lines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

type env struct {
	cloud *openstacktest.Cloud
	p     *openstack.Provider
	cfg   openstack.Config
	logs  *logBuffer
}

// config is a provider's config for cloud, with password auth.
func config(cloud *openstacktest.Cloud, logs *logBuffer) openstack.Config {
	o := cloud.Options()
	return openstack.Config{
		AuthURL: cloud.AuthURL(), Username: o.Username, Password: o.Password, UserDomainName: o.UserDomain,
		ProjectName: o.ProjectName, ProjectDomainName: o.UserDomain, Region: cloud.Region(),
		Network: "private", Image: "cirros-0.6.3-x86_64-disk",
		PollInterval: 10 * time.Millisecond, BuildTimeout: 5 * time.Second, DeleteTimeout: 5 * time.Second,
		HTTPClient: cloud.Client(),
		Logger:     slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
}

// start runs a double with o and a provider on it; tune changes the
// provider's config.
func start(t *testing.T, o openstacktest.Options, tune func(*openstack.Config)) *env {
	t.Helper()
	e := &env{cloud: openstacktest.Start(t, o), logs: &logBuffer{}}
	e.cfg = config(e.cloud, e.logs)
	if tune != nil {
		tune(&e.cfg)
	}
	e.p = e.newProvider(t)
	t.Cleanup(func() { e.checkLogs(t) })
	return e
}

func (e *env) newProvider(t *testing.T) *openstack.Provider {
	t.Helper()
	p, err := openstack.New(context.Background(), e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// checkLogs fails the test when a secret reached the provider's log.
func (e *env) checkLogs(t *testing.T) {
	t.Helper()
	logs := e.logs.String()
	for _, s := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)), e.cfg.Password,
		e.cloud.Options().AppCredSecret, "write_files", "gAAAAA"} {
		if s != "" && strings.Contains(logs, s) {
			t.Errorf("a secret (%.6s...) is in the provider's log:\n%s", s, logs)
		}
	}
}

// spec is a node pool machine's spec carrying a join token.
func spec(name, group string) iaas.MachineSpec {
	return iaas.MachineSpec{Name: name, Group: group, Flavor: "m1.small",
		Labels:      map[string]string{"iaas.cloudmgr.dev/machine": name, "tier": "web"},
		ConfigDrive: map[string][]byte{"bootstrap.json": []byte(`{"server":"https://10.0.0.1:6443","token":"` + secret + `"}`)}}
}

func (e *env) create(t *testing.T, s iaas.MachineSpec) iaas.Machine {
	t.Helper()
	m, err := e.p.Create(context.Background(), s)
	if err != nil {
		t.Fatalf("create %s: %v", s.Name, err)
	}
	return m
}

// serverOf returns the double's server of a machine ID.
func (e *env) serverOf(t *testing.T, id string) openstacktest.ServerInfo {
	t.Helper()
	uuid := id[strings.LastIndexByte(id, '/')+1:]
	s, ok := e.cloud.Server(uuid)
	if !ok {
		t.Fatalf("no server %s in the cloud", id)
	}
	return s
}

// wantNoServers fails unless the cloud holds no server.
func (e *env) wantNoServers(t *testing.T) {
	t.Helper()
	if ss := e.cloud.Servers(); len(ss) != 0 {
		t.Fatalf("servers left behind: %+v", ss)
	}
}
