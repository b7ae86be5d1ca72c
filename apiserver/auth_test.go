package apiserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestAuthenticationRequired: every API path and /metrics answer 401 with
// reason Unauthorized without a valid bearer token.
func TestAuthenticationRequired(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	headers := []struct {
		name  string
		value string // "" sends no Authorization header
	}{
		{"no header", ""},
		{"empty bearer", "Bearer "},
		{"wrong token", "Bearer cm_thisIsNotAToken"},
		{"admin token without scheme", env.AdminToken},
		{"admin token with another scheme", "Basic " + env.AdminToken},
		{"admin token, lower-case scheme", "bearer " + env.AdminToken},
	}
	paths := []string{"/api/v1/namespaces", "/api/v1/namespaces/default/pods", "/apis/iaas.cloudmgr.dev/v1alpha1/nodepools", "/metrics"}
	hc := httpClient(t, env)
	for _, h := range headers {
		for _, p := range paths {
			t.Run(h.name+p, func(t *testing.T) {
				req, err := http.NewRequest("GET", env.URL+p, nil)
				if err != nil {
					t.Fatal(err)
				}
				if h.value != "" {
					req.Header.Set("Authorization", h.value)
				}
				resp, err := hc.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				data, err := io.ReadAll(resp.Body)
				if err != nil {
					t.Fatal(err)
				}
				var st api.Status
				if err := json.Unmarshal(data, &st); err != nil || st.Kind != "Status" {
					t.Fatalf("HTTP %d body is not a Status: %s", resp.StatusCode, data)
				}
				if resp.StatusCode != http.StatusUnauthorized || st.Code != http.StatusUnauthorized || st.Reason != api.StatusReasonUnauthorized {
					t.Fatalf("got HTTP %d, Status %d %s, want 401 Unauthorized", resp.StatusCode, st.Code, st.Reason)
				}
			})
		}
	}

	t.Run("typed client with a wrong token", func(t *testing.T) {
		c := env.Client(t, "cm_wrong")
		_, _, err := client.For[api.Pod](c).List(context.Background(), "default", client.ListOptions{})
		wantStatus(t, err, http.StatusUnauthorized, api.StatusReasonUnauthorized)
		_, err = client.For[api.Pod](c).Watch(context.Background(), "default", client.ListOptions{})
		wantStatus(t, err, http.StatusUnauthorized, api.StatusReasonUnauthorized)
	})
}

// TestOpenEndpoints: health and version need no token.
func TestOpenEndpoints(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	for _, p := range []string{"/healthz", "/livez", "/readyz", "/version"} {
		t.Run(p, func(t *testing.T) {
			r := rawRequest(t, env, "", "GET", p, "", nil)
			if r.Code != http.StatusOK {
				t.Fatalf("got %d %s, want 200", r.Code, r.Body)
			}
			if p == "/version" && !strings.Contains(string(r.Body), `"version":"test"`) {
				t.Errorf("version body %s", r.Body)
			}
		})
	}
	t.Run("unknown path", func(t *testing.T) {
		r := rawRequest(t, env, "", "GET", "/nothing/here", "", nil)
		wantRawStatus(t, r, http.StatusNotFound, api.StatusReasonNotFound)
	})
}

// TestMetricsNeedAdmin: tenants may not read /metrics; the admin may.
func TestMetricsNeedAdmin(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	tenant := env.Tenant(t, "team-a")
	var body []byte
	err := tenant.Do(context.Background(), "GET", "/metrics", nil, nil, nil)
	st := wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
	if !strings.Contains(st.Message, `"/metrics"`) {
		t.Errorf("message %q does not name the path", st.Message)
	}

	if r := rawRequest(t, env, "", "GET", "/api/v1/nodes", "", nil); r.Code != http.StatusUnauthorized {
		t.Fatalf("no token: got %d, want 401", r.Code)
	}
	r := rawRequest(t, env, env.AdminToken, "GET", "/metrics", "", nil)
	if r.Code != http.StatusOK {
		t.Fatalf("admin: got %d %s, want 200", r.Code, r.Body)
	}
	body = r.Body
	for _, want := range []string{
		"apiserver_request_total",
		// the tenant and its token
		`apiserver_request_total{code="201",resource="tenants",verb="create"} 2`,
		`apiserver_request_total{code="401",resource="",verb="GET"} 1`,
		"apiserver_current_inflight_requests",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// TestProfilingNeedsAdmin: the Go profiler answers the admin only.
func TestProfilingNeedsAdmin(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	tenant := env.Tenant(t, "team-a")
	err := tenant.Do(context.Background(), "GET", "/debug/pprof/", nil, nil, nil)
	wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
	if r := rawRequest(t, env, "", "GET", "/debug/pprof/", "", nil); r.Code != http.StatusUnauthorized {
		t.Fatalf("no token: got %d, want 401", r.Code)
	}
	r := rawRequest(t, env, env.AdminToken, "GET", "/debug/pprof/goroutine?debug=1", "", nil)
	if r.Code != http.StatusOK || !strings.Contains(string(r.Body), "goroutine profile") {
		t.Fatalf("admin: got %d %.200s", r.Code, r.Body)
	}
}
