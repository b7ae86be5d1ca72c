package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// TestMain keeps the caller's CLOUDCTL_* variables from steering the
// tests, which pass --config explicitly.
func TestMain(m *testing.M) {
	for _, kv := range os.Environ() {
		if k, _, _ := strings.Cut(kv, "="); strings.HasPrefix(k, "CLOUDCTL_") {
			os.Unsetenv(k)
		}
	}
	os.Exit(m.Run())
}

// runCLI runs cloudctl in-process with empty stdin and returns what it
// printed and its exit code. Pass --config PATH (see writeConfig) to point
// it at a server.
func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return runCLIWith(t, t.Context(), "", args...)
}

// runCLIWith is runCLI with a context (cancel it to end a watch) and stdin.
func runCLIWith(t *testing.T, ctx context.Context, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errOut bytes.Buffer
	code = run(ctx, args, strings.NewReader(stdin), &out, &errOut)
	return out.String(), errOut.String(), code
}

// writeConfig writes a config file whose current context "test" talks to
// server with token "test-token" and namespace ns, and returns its path.
func writeConfig(t *testing.T, server, ns string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	f := client.NewConfigFile("test", client.Context{Server: server, Token: "test-token", Namespace: ns})
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// request is one request the fake API server received.
type request struct {
	Method string
	Path   string
	Query  string
	Body   string
	Auth   string
}

// fakeAPI is an httptest server answering from handlers keyed by
// "METHOD /path", else from its fallback, and recording every request;
// without a fallback, unknown routes get a 404 Status.
type fakeAPI struct {
	*httptest.Server
	mu       sync.Mutex
	requests []request
	routes   map[string]http.HandlerFunc
	fallback http.HandlerFunc
}

func newFakeAPI(t *testing.T, routes map[string]http.HandlerFunc) *fakeAPI {
	t.Helper()
	return newFakeAPIWithFallback(t, routes, nil)
}

func newFakeAPIWithFallback(t *testing.T, routes map[string]http.HandlerFunc, fallback http.HandlerFunc) *fakeAPI {
	t.Helper()
	f := &fakeAPI{routes: routes, fallback: fallback}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

func (f *fakeAPI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	f.mu.Lock()
	f.requests = append(f.requests, request{Method: r.Method, Path: r.URL.Path, Query: r.URL.RawQuery, Body: string(body), Auth: r.Header.Get("Authorization")})
	h := f.routes[r.Method+" "+r.URL.Path]
	f.mu.Unlock()
	if h == nil {
		h = f.fallback
	}
	if h == nil {
		writeStatus(w, http.StatusNotFound, api.StatusReasonNotFound, "no route "+r.Method+" "+r.URL.Path)
		return
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	h(w, r)
}

// bodies returns the bodies of the requests with a method and path.
func (f *fakeAPI) bodies(method, path string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.requests {
		if r.Method == method && r.Path == path {
			out = append(out, r.Body)
		}
	}
	return out
}

// log returns the requests received so far, as "METHOD /path?query".
func (f *fakeAPI) log() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([]string, len(f.requests))
	for i, r := range f.requests {
		out[i] = r.Method + " " + r.Path
		if r.Query != "" {
			out[i] += "?" + r.Query
		}
	}
	return out
}

// last returns the last request received.
func (f *fakeAPI) last() request {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.requests) == 0 {
		return request{}
	}
	return f.requests[len(f.requests)-1]
}

// writeJSON answers with a JSON body.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// writeStatus answers with an api.Status error.
func writeStatus(w http.ResponseWriter, code int, reason api.StatusReason, msg string) {
	writeJSON(w, code, &api.Status{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Status"}, Status: "Failure", Code: int32(code), Reason: reason, Message: msg})
}

// listOf answers a list request with objs.
func listOf(kind string, rv string, objs ...any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		items := make([]json.RawMessage, len(objs))
		for i, o := range objs {
			items[i], _ = json.Marshal(o)
		}
		writeJSON(w, http.StatusOK, map[string]any{"apiVersion": "v1", "kind": kind + "List", "metadata": map[string]any{"resourceVersion": rv}, "items": items})
	}
}

// objectOf answers a get with obj.
func objectOf(obj any) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, obj) }
}

// mustContain fails when s lacks any of the parts.
func mustContain(t *testing.T, what, s string, parts ...string) {
	t.Helper()
	for _, p := range parts {
		if !strings.Contains(s, p) {
			t.Errorf("%s does not contain %q:\n%s", what, p, s)
		}
	}
}
