package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

const tenantToken = "tnt-0123456789abcdef"

func tenantAPI(t *testing.T, tokenStatus int) *fakeAPI {
	return newFakeAPI(t, map[string]http.HandlerFunc{
		"POST /api/v1/tenants": func(w http.ResponseWriter, r *http.Request) {
			var tn api.Tenant
			json.NewDecoder(r.Body).Decode(&tn)
			writeJSON(w, 201, tn)
		},
		"POST /api/v1/tenants/acme/token": func(w http.ResponseWriter, _ *http.Request) {
			if tokenStatus != 200 {
				writeStatus(w, tokenStatus, api.StatusReasonInternalError, "token store unavailable")
				return
			}
			writeJSON(w, 200, map[string]string{"token": tenantToken, "namespace": "acme"})
		},
		"DELETE /api/v1/tenants/acme": objectOf(&api.Tenant{ObjectMeta: api.ObjectMeta{Name: "acme"}}),
	})
}

func TestTenantCreatePrintsTokenOnce(t *testing.T) {
	f := tenantAPI(t, 200)
	cfg := writeConfig(t, f.URL, "")
	out, errOut, code := runCLI(t, "--config", cfg, "tenant", "create", "acme", "--display-name", "ACME Corp")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "tenant/acme created\nnamespace: acme\ntoken: " + tenantToken + "\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	if strings.Count(out+errOut, tenantToken) != 1 {
		t.Errorf("token printed more than once:\n%s%s", out, errOut)
	}
	mustContain(t, "stderr", errOut, "shown only once")
	log := f.log()
	if len(log) != 2 || log[0] != "POST /api/v1/tenants" || log[1] != "POST /api/v1/tenants/acme/token" {
		t.Fatalf("requests %q", log)
	}
	created := f.bodies("POST", "/api/v1/tenants")[0]
	mustContain(t, "tenant body", created, `"kind":"Tenant"`, `"name":"acme"`, `"displayName":"ACME Corp"`)
	if body := f.last().Body; strings.TrimSpace(body) != "{}" {
		t.Errorf("token request body %q, want {}", body)
	}
}

func TestTenantCreateWritesConfig(t *testing.T) {
	f := tenantAPI(t, 200)
	admin := filepath.Join(t.TempDir(), "admin")
	ca := base64.StdEncoding.EncodeToString([]byte(testCA))
	c := client.NewConfigFile("admin", client.Context{Server: f.URL, Token: "admin-token", CertificateAuthorityData: ca})
	c.Save(admin)
	path := filepath.Join(t.TempDir(), "acme.config")

	out, errOut, code := runCLI(t, "--config", admin, "tenant", "create", "acme", "--write-config", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out+errOut, tenantToken) {
		t.Errorf("token printed despite --write-config:\n%s%s", out, errOut)
	}
	mustContain(t, "stdout", out, "tenant/acme created", "config written to "+path)
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config file: %v, %v", fi, err)
	}
	got := loadTestConfig(t, path)
	want := client.Context{Server: f.URL, CertificateAuthorityData: ca, Token: tenantToken, Namespace: "acme"}
	if got.CurrentContext != "acme" || len(got.Contexts) != 1 || got.Contexts[0].Context != want {
		t.Errorf("tenant config %+v", got)
	}

	// An existing file is never overwritten, and nothing is created.
	before := len(f.log())
	if _, errOut, code := runCLI(t, "--config", admin, "tenant", "create", "acme", "--write-config", path); code != 1 || !strings.Contains(errOut, "already exists") {
		t.Errorf("existing file: exit %d, stderr %q", code, errOut)
	}
	if len(f.log()) != before {
		t.Errorf("requests sent although the config file exists: %q", f.log()[before:])
	}
}

func TestTenantCreateRollsBackWithoutToken(t *testing.T) {
	f := tenantAPI(t, 500)
	cfg := writeConfig(t, f.URL, "")
	out, errOut, code := runCLI(t, "--config", cfg, "tenant", "create", "acme")
	if code != 1 || out != "" {
		t.Errorf("exit %d, stdout %q", code, out)
	}
	mustContain(t, "stderr", errOut, "token store unavailable", "the tenant was deleted again")
	if last := f.log()[len(f.log())-1]; last != "DELETE /api/v1/tenants/acme" {
		t.Errorf("last request %q, want the tenant deleted", last)
	}
}

func TestTenantListAndDelete(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/tenants": listOf("Tenant", "4", &api.Tenant{ObjectMeta: api.ObjectMeta{Name: "acme", CreationTimestamp: realAgo(50 * 24 * time.Hour)},
			Spec: api.TenantSpec{Namespaces: []string{"acme"}}}),
		"DELETE /api/v1/tenants/acme": objectOf(&api.Tenant{ObjectMeta: api.ObjectMeta{Name: "acme"}}),
	})
	cfg := writeConfig(t, f.URL, "")
	out, _, code := runCLI(t, "--config", cfg, "tenant", "list")
	if want := "NAME   NAMESPACES   AGE\nacme   acme         50d\n"; code != 0 || out != want {
		t.Errorf("list: exit %d, got %q, want %q", code, out, want)
	}
	out, _, code = runCLI(t, "--config", cfg, "tenant", "delete", "acme")
	if code != 0 || out != "tenant \"acme\" deleted\n" || f.last().Query != "" {
		t.Errorf("delete: exit %d, stdout %q, query %q", code, out, f.last().Query)
	}
}
