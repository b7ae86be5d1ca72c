package apiserver_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestGracefulShutdown: when the server stops, an open watch ends with a
// clean end of stream and a request in flight completes.
func TestGracefulShutdown(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	w, err := client.For[api.Pod](env.Admin).Watch(ctx, "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Stop()
	createPod(t, env.Admin, "default", "before")
	expectEvents(t, w, wantEvent{client.Added, "default/before", ""})
	held := holdCreate(t, env, "during")

	stopped := make(chan error, 1)
	go func() { stopped <- env.Stop() }()

	expectEnd(t, w)

	if r := held.finish(t); r.Code != http.StatusCreated {
		t.Fatalf("the request in flight: %d %s, want 201", r.Code, r.Body)
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("shutdown: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not stop within 10s")
	}
	var p api.Pod
	if err := env.Store.Get(ctx, "/registry/pods/default/during", &p); err != nil {
		t.Fatalf("the pod created during the shutdown: %v", err)
	}
	if _, err := client.For[api.Pod](env.Admin).Get(ctx, "default", "before"); err == nil {
		t.Error("the stopped server still answers")
	}
}
