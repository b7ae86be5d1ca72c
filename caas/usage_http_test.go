package caas_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/caas"
)

// TestUsageHandler serves the per-pod figures as a PodMetricsList (one
// namespace or all), the node's as NodeMetrics, and refuses bad input with
// a Status.
func TestUsageHandler(t *testing.T) {
	rt, host := newFakeRuntime(), &fakeHost{}
	web := startFake(t, rt, "aaaaaaaa-0001", "team-a", "web", "app")
	db := startFake(t, rt, "bbbbbbbb-0002", "team-b", "db", "main")
	s := caas.NewUsageSampler(nil, rt, host, caas.UsageConfig{NodeName: "n1"}, nil)
	srv := httptest.NewServer(s.Handler())
	defer srv.Close()

	get := func(method, path string, wantCode int, out any) string {
		t.Helper()
		req, _ := http.NewRequest(method, srv.URL+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != wantCode {
			t.Fatalf("%s %s: %d %s, want %d", method, path, resp.StatusCode, body, wantCode)
		}
		if out != nil {
			if err := json.Unmarshal(body, out); err != nil {
				t.Fatalf("%s %s: %v in %s", method, path, err, body)
			}
		}
		return string(body)
	}

	// Before the first window: an empty list, and no node figures yet.
	var list api.PodMetricsList
	get("GET", "/stats/pods", 200, &list)
	if list.Kind != "PodMetricsList" || list.Items == nil || len(list.Items) != 0 {
		t.Errorf("before any window: %+v, want an empty PodMetricsList", list)
	}
	var st api.Status
	get("GET", "/stats/node", 503, &st)
	if st.Reason != api.StatusReasonServiceUnavailable || !strings.Contains(st.Message, "no usage measured yet") {
		t.Errorf("node before any window: %+v", st)
	}

	t0 := time.Unix(1_800_000_000, 0)
	host.set(t0, 0, 1<<30)
	rt.setCounters(t0, map[string]uint64{web: 0, db: 0}, map[string]uint64{web: 10 << 20, db: 20 << 20})
	if err := s.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}
	host.set(t0.Add(5*time.Second), 5e9, 1<<30)
	rt.setCounters(t0.Add(5*time.Second), map[string]uint64{web: 1e9, db: 2.5e9}, nil)
	if err := s.Sample(context.Background()); err != nil {
		t.Fatal(err)
	}

	body := get("GET", "/stats/pods?namespace=team-a", 200, &list)
	if len(list.Items) != 1 || list.Items[0].Name != "web" || list.Items[0].Containers[0].Usage.Cpu().String() != "200m" {
		t.Errorf("team-a: %s, want web at 200m", body)
	}
	for _, field := range []string{`"apiVersion":"metrics.cloudmgr.dev/v1"`, `"window":"5s"`, `"timestamp":"2027-01-15T08:00:05Z"`, `"containers":[{"name":"app","usage":{"cpu":"200m","memory":"10Mi"}}]`} {
		if !strings.Contains(body, field) {
			t.Errorf("pod metrics JSON lacks %s:\n%s", field, body)
		}
	}
	get("GET", "/stats/pods", 200, &list)
	if len(list.Items) != 2 || list.Items[0].Namespace != "team-a" || list.Items[1].Namespace != "team-b" {
		t.Errorf("all namespaces: %+v", list.Items)
	}
	get("GET", "/stats/pods?namespace=nobody", 200, &list)
	if len(list.Items) != 0 {
		t.Errorf("unknown namespace: %+v", list.Items)
	}
	var nm api.NodeMetrics
	get("GET", "/stats/node", 200, &nm)
	if nm.Name != "n1" || nm.Usage.Cpu().String() != "1" || nm.Window.Duration != 5*time.Second {
		t.Errorf("node metrics %+v, want n1 using 1 core over 5s", nm)
	}

	get("GET", "/stats/pods?namespace=Bad_NS", 400, &st)
	if st.Reason != api.StatusReasonBadRequest || !strings.Contains(st.Message, `namespace "Bad_NS" is invalid`) {
		t.Errorf("bad namespace: %+v", st)
	}
	get("POST", "/stats/pods", 405, &st)
	if st.Reason != api.StatusReasonMethodNotAllowed {
		t.Errorf("POST: %+v", st)
	}
	get("GET", "/stats/other", 404, &st)
}
