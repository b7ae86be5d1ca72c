package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// realServerConfig starts cloudd's API server over an embedded etcd and
// writes a config file whose context is its admin.
func realServerConfig(t *testing.T) (*apiservertest.Env, string) {
	t.Helper()
	if testing.Short() {
		t.Skip("starts an embedded etcd")
	}
	env := apiservertest.Start(t, apiservertest.Options{})
	path := filepath.Join(t.TempDir(), "config")
	f := client.NewConfigFile("admin", client.Context{Server: env.URL, Token: env.AdminToken,
		CertificateAuthorityData: base64.StdEncoding.EncodeToString(env.CAPEM)})
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	return env, path
}

// TestAgainstRealServer drives the main verbs against the real API server,
// as an admin and then as a tenant with the config tenant create wrote.
func TestAgainstRealServer(t *testing.T) {
	_, admin := realServerConfig(t)
	cli := func(cfg string, args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append([]string{"--config", cfg}, args...)...)
	}
	expect := func(what string, code int, errOut string) {
		t.Helper()
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", what, code, errOut)
		}
	}

	out, errOut, code := cli(admin, "version")
	expect("version", code, errOut)
	mustContain(t, "version", out, "Server Version: test")

	tenantCfg := filepath.Join(t.TempDir(), "acme.config")
	out, errOut, code = cli(admin, "tenant", "create", "acme", "--write-config", tenantCfg)
	expect("tenant create", code, errOut)
	mustContain(t, "tenant create", out, "tenant/acme created", "namespace: acme")

	// The tenant's context puts web in namespace acme; pinned names
	// namespace other, which the tenant may not write.
	out, errOut, code = cli(tenantCfg, "apply", "-f", "testdata/manifests/02-pods.yml")
	if code == 0 {
		t.Fatalf("applying into namespace other as a tenant succeeded:\n%s", out)
	}
	mustContain(t, "stdout", out, "pod/web created")
	mustContain(t, "stderr", errOut, "Error from server (Forbidden)")

	// Same again, without the foreign pod.
	manifest := filepath.Join(t.TempDir(), "web.yaml")
	data, _ := os.ReadFile("testdata/manifests/02-pods.yml")
	os.WriteFile(manifest, []byte(strings.SplitN(string(data), "---", 2)[0]), 0o600)
	out, errOut, code = cli(tenantCfg, "apply", "-f", manifest)
	expect("re-apply", code, errOut)
	if out != "pod/web unchanged\n" {
		t.Errorf("re-apply printed %q, want unchanged", out)
	}
	os.WriteFile(manifest, []byte(strings.Replace(strings.SplitN(string(data), "---", 2)[0], "app: web", "app: web\n    tier: front", 1)), 0o600)
	out, errOut, code = cli(tenantCfg, "apply", "-f", manifest)
	expect("apply change", code, errOut)
	if out != "pod/web configured\n" {
		t.Errorf("changed apply printed %q, want configured", out)
	}

	out, errOut, code = cli(tenantCfg, "get", "pods", "--show-labels")
	expect("get pods", code, errOut)
	mustContain(t, "get pods", out, "NAME   READY   STATUS    RESTARTS   AGE", "web    0/1     Pending", "app=web,tier=front")

	out, errOut, code = cli(tenantCfg, "get", "pods", "-l", "tier=front", "--field-selector", "status.phase=Pending", "-o", "name")
	expect("get selected", code, errOut)
	if out != "pod/web\n" {
		t.Errorf("selected pods %q", out)
	}

	_, errOut, code = cli(tenantCfg, "get", "pod", "nope")
	if code != 1 || !strings.HasPrefix(errOut, "Error from server (NotFound): ") {
		t.Errorf("missing pod: exit %d, stderr %q", code, errOut)
	}

	out, errOut, code = cli(tenantCfg, "describe", "pod", "web")
	expect("describe", code, errOut)
	mustContain(t, "describe", out, "Name:               web", "Namespace:          acme", "Image:", "nginx:1.27", "Port:         80/TCP", "Events:")

	// What get -o yaml prints applies back as is.
	out, errOut, code = cli(tenantCfg, "get", "pods", "-o", "yaml")
	expect("get -o yaml", code, errOut)
	dump := filepath.Join(t.TempDir(), "dump.yaml")
	os.WriteFile(dump, []byte(out), 0o600)
	out, errOut, code = cli(tenantCfg, "apply", "-f", dump)
	expect("apply dump", code, errOut)
	if out != "pod/web unchanged\n" {
		t.Errorf("applying get -o yaml printed %q, want unchanged", out)
	}

	out, errOut, code = cli(admin, "get", "tenants")
	expect("get tenants", code, errOut)
	mustContain(t, "get tenants", out, "NAME   NAMESPACES   AGE", "acme   acme")

	out, errOut, code = cli(tenantCfg, "delete", "pod", "web", "--force")
	expect("delete", code, errOut)
	if out != "pod \"web\" deleted\n" {
		t.Errorf("delete printed %q", out)
	}
	_, errOut, code = cli(tenantCfg, "delete", "pod", "web", "--ignore-not-found")
	expect("delete again", code, errOut)
}

// syncBuffer is a buffer safe to read while a command writes to it.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestWatchAgainstRealServer watches namespaces while one is created.
func TestWatchAgainstRealServer(t *testing.T) {
	_, admin := realServerConfig(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan int)
	go func() {
		done <- run(ctx, []string{"--config", admin, "get", "namespaces", "-w", "--no-headers"}, strings.NewReader(""), &out, &errOut)
	}()
	waitFor := func(what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(out.String(), what) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in watch output:\n%s\nstderr:\n%s", what, out.String(), errOut.String())
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitFor("default")
	if _, errOut, code := runCLIWith(t, t.Context(), "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: watched\n", "--config", admin, "apply", "-f", "-"); code != 0 {
		t.Fatal(errOut)
	}
	waitFor("watched ")
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("watch exit %d: %s", code, errOut.String())
	}
}

func TestAPIResourcesAgainstRealServer(t *testing.T) {
	_, cfg := realServerConfig(t)
	out, errOut, code := runCLI(t, "--config", cfg, "api-resources")
	if code != 0 {
		t.Fatalf("api-resources: code %d: %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if !strings.HasPrefix(lines[0], "NAME") || !strings.Contains(out, "pods") || !strings.Contains(out, "nodepools") {
		t.Fatalf("api-resources output:\n%s", out)
	}
	for _, l := range lines {
		if strings.HasPrefix(l, "pods ") && (!strings.Contains(l, "po ") || !strings.Contains(l, "true") || !strings.HasSuffix(l, "Pod")) {
			t.Fatalf("pods row: %q", l)
		}
	}
}
