package apiserver_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// rawResponse is an HTTP answer as the wire carried it, with its Status
// body decoded when it is one.
type rawResponse struct {
	Code   int
	Header http.Header
	Body   []byte
	Status *api.Status
}

// httpClient trusts the server's CA, for requests the typed client cannot
// send (exact bytes, other content types, no token).
func httpClient(t testing.TB, env *apiservertest.Env) *http.Client {
	t.Helper()
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(env.CAPEM) {
		t.Fatal("env.CAPEM holds no certificate")
	}
	return &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}},
	}
}

// rawRequest sends method path with the exact body and content type ("" for
// none) as token ("" for no Authorization header).
func rawRequest(t testing.TB, env *apiservertest.Env, token, method, path, contentType string, body []byte) rawResponse {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequest(method, env.URL+path, rd)
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	hc := httpClient(t, env)
	defer hc.CloseIdleConnections()
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: read body: %v", method, path, err)
	}
	out := rawResponse{Code: resp.StatusCode, Header: resp.Header, Body: data}
	var st api.Status
	if json.Unmarshal(data, &st) == nil && st.Kind == "Status" {
		out.Status = &st
	}
	return out
}

// wantStatus asserts err is an API Status with code and reason and returns it.
func wantStatus(t testing.TB, err error, code int, reason api.StatusReason) *api.Status {
	t.Helper()
	var st *api.Status
	if !errors.As(err, &st) {
		t.Fatalf("got error %v (%T), want a %d %s Status", err, err, code, reason)
	}
	if int(st.Code) != code || st.Reason != reason {
		t.Fatalf("got %d %s (%q), want %d %s", st.Code, st.Reason, st.Message, code, reason)
	}
	return st
}

// wantRawStatus asserts a raw answer is a Status with code and reason.
func wantRawStatus(t testing.TB, r rawResponse, code int, reason api.StatusReason) *api.Status {
	t.Helper()
	if r.Code != code {
		t.Fatalf("got HTTP %d (%s), want %d", r.Code, bytes.TrimSpace(r.Body), code)
	}
	if r.Status == nil {
		t.Fatalf("HTTP %d body is not a Status: %s", r.Code, r.Body)
	}
	if int(r.Status.Code) != code || r.Status.Reason != reason {
		t.Fatalf("got Status %d %s (%q), want %d %s", r.Status.Code, r.Status.Reason, r.Status.Message, code, reason)
	}
	return r.Status
}

// wantCause asserts that st names field among its causes with a message
// containing msg.
func wantCause(t testing.TB, st *api.Status, field, msg string) {
	t.Helper()
	if st.Details == nil {
		t.Fatalf("Status %q has no details; want a cause at %s", st.Message, field)
	}
	for _, c := range st.Details.Causes {
		if c.Field == field && strings.Contains(c.Message, msg) {
			if !strings.Contains(st.Message, field) {
				t.Errorf("message %q does not name the field %s", st.Message, field)
			}
			return
		}
	}
	t.Fatalf("Status causes %+v have no %s containing %q", st.Details.Causes, field, msg)
}

// newPod is a minimal valid pod.
func newPod(ns, name string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "app", Image: "nginx:1.27"}}},
	}
}

// createNamespace creates a namespace as c and returns it.
func createNamespace(t testing.TB, c *client.Client, name string) *api.Namespace {
	t.Helper()
	ns, err := client.For[api.Namespace](c).Create(context.Background(), &api.Namespace{ObjectMeta: api.ObjectMeta{Name: name}})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return ns
}

// createPod creates a minimal pod as c and returns the stored state.
func createPod(t testing.TB, c *client.Client, ns, name string) *api.Pod {
	t.Helper()
	p, err := client.For[api.Pod](c).Create(context.Background(), newPod(ns, name))
	if err != nil {
		t.Fatalf("create pod %s/%s: %v", ns, name, err)
	}
	return p
}

// podNames lists the names of the pods c sees in ns ("" for all), as
// "namespace/name".
func podNames(t testing.TB, c *client.Client, ns string) []string {
	t.Helper()
	pods, _, err := client.For[api.Pod](c).List(context.Background(), ns, client.ListOptions{})
	if err != nil {
		t.Fatalf("list pods in %q: %v", ns, err)
	}
	out := make([]string, len(pods))
	for i, p := range pods {
		out[i] = p.Namespace + "/" + p.Name
	}
	return out
}

// eventually polls cond every 20ms until it holds or the deadline passes.
func eventually(t testing.TB, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, within)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
