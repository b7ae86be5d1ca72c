package apiserver_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// heldRequest is a request the server is serving while the test holds the
// rest of its body.
type heldRequest struct {
	body *io.PipeWriter
	rest []byte
	resp chan rawResponse
	errc chan error
}

// holdCreate starts creating pod default/name, sends half of the body and
// returns once the server counts the request as in flight.
func holdCreate(t *testing.T, env *apiservertest.Env, name string) *heldRequest {
	t.Helper()
	data, err := json.Marshal(newPod("default", name))
	if err != nil {
		t.Fatal(err)
	}
	pr, pw := io.Pipe()
	h := &heldRequest{body: pw, rest: data[len(data)/2:], resp: make(chan rawResponse, 1), errc: make(chan error, 1)}
	req, err := http.NewRequest("POST", env.URL+"/api/v1/namespaces/default/pods", pr)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+env.AdminToken)
	hc := httpClient(t, env)
	go func() {
		resp, err := hc.Do(req)
		if err != nil {
			h.errc <- err
			return
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			h.errc <- err
			return
		}
		h.resp <- rawResponse{Code: resp.StatusCode, Header: resp.Header, Body: b}
	}()
	if _, err := pw.Write(data[:len(data)/2]); err != nil {
		t.Fatalf("send the first half of the body: %v", err)
	}
	eventually(t, 10*time.Second, "the held request is in flight", func() bool {
		return metricValue(t, env, "apiserver_current_inflight_requests") == 1
	})
	return h
}

// finish sends the rest of the body and returns the answer.
func (h *heldRequest) finish(t *testing.T) rawResponse {
	t.Helper()
	if _, err := h.body.Write(h.rest); err != nil {
		t.Fatalf("send the rest of the body: %v", err)
	}
	if err := h.body.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-h.resp:
		return r
	case err := <-h.errc:
		t.Fatalf("the held request failed: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the held request got no answer within 10s")
	}
	return rawResponse{}
}

// metricValue reads one unlabelled sample from /metrics.
func metricValue(t testing.TB, env *apiservertest.Env, name string) float64 {
	t.Helper()
	r := rawRequest(t, env, env.AdminToken, "GET", "/metrics", "", nil)
	if r.Code != http.StatusOK {
		t.Fatalf("/metrics: %d", r.Code)
	}
	sc := bufio.NewScanner(bytes.NewReader(r.Body))
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			return f
		}
	}
	t.Fatalf("/metrics has no %s", name)
	return 0
}

// TestTooManyRequests: with MaxInFlight 1 and one request held in flight,
// other requests are refused with 429 and Retry-After; watches and health
// checks are not limited; once the held request ends, requests pass again.
func TestTooManyRequests(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{MaxInFlight: 1, NoNamespaceController: true}) // its requests would take the one slot
	ctx := context.Background()
	held := holdCreate(t, env, "held")

	r := rawRequest(t, env, env.AdminToken, "GET", "/api/v1/namespaces/default/pods", "", nil)
	wantRawStatus(t, r, http.StatusTooManyRequests, api.StatusReasonTooManyRequests)
	if got := r.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After %q, want 1", got)
	}
	_, err := client.For[api.Pod](env.Admin).Get(ctx, "default", "held")
	wantStatus(t, err, http.StatusTooManyRequests, api.StatusReasonTooManyRequests)

	w, err := client.For[api.Pod](env.Admin).Watch(ctx, "default", client.ListOptions{})
	if err != nil {
		t.Fatalf("a watch while the limit is reached: %v", err)
	}
	defer w.Stop()
	if r := rawRequest(t, env, "", "GET", "/healthz", "", nil); r.Code != http.StatusOK {
		t.Errorf("/healthz while the limit is reached: %d", r.Code)
	}

	if r := held.finish(t); r.Code != http.StatusCreated {
		t.Fatalf("the held create: %d %s", r.Code, r.Body)
	}
	expectEvents(t, w, wantEvent{client.Added, "default/held", ""})
	if _, err := client.For[api.Pod](env.Admin).Get(ctx, "default", "held"); err != nil {
		t.Fatalf("after the held request ended: %v", err)
	}
	if got := metricValue(t, env, "apiserver_dropped_requests_total"); got != 2 {
		t.Errorf("apiserver_dropped_requests_total %v, want 2", got)
	}
}

// TestTooManyRequestsBurst: under a burst every answer is 200 or 429, and
// every 429 is counted.
func TestTooManyRequestsBurst(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{MaxInFlight: 1, NoNamespaceController: true}) // its requests would take the one slot
	const n = 200
	codes := make(chan int, n)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _, err := client.For[api.Pod](env.Admin).List(context.Background(), "default", client.ListOptions{})
			switch {
			case err == nil:
				codes <- http.StatusOK
			case client.Code(err) == http.StatusTooManyRequests && strings.Contains(err.Error(), "too many requests"):
				codes <- http.StatusTooManyRequests
			default:
				t.Errorf("list: %v", err)
				codes <- 0
			}
		}()
	}
	wg.Wait()
	close(codes)
	rejected := 0
	for c := range codes {
		if c == http.StatusTooManyRequests {
			rejected++
		}
	}
	if got := metricValue(t, env, "apiserver_dropped_requests_total"); int(got) != rejected {
		t.Errorf("apiserver_dropped_requests_total %v, but %d answers were 429", got, rejected)
	}
	if got := metricValue(t, env, "apiserver_current_inflight_requests"); got != 0 {
		t.Errorf("apiserver_current_inflight_requests %v after the burst", got)
	}
	t.Logf("%d of %d requests refused", rejected, n)
}
