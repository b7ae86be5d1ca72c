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

func joinToken(t *testing.T, env *apiservertest.Env, req api.JoinTokenRequest) string {
	t.Helper()
	var tok api.JoinToken
	if err := env.Admin.Do(context.Background(), "POST", "/api/v1/jointokens", nil, req, &tok); err != nil {
		t.Fatalf("join token: %v", err)
	}
	return tok.Token
}

func joinAs(t *testing.T, env *apiservertest.Env, token, node string) (*client.Client, error) {
	t.Helper()
	var cred api.NodeCredential
	err := env.Client(t, token).Do(context.Background(), "POST", "/api/v1/join", nil, api.JoinRequest{NodeName: node}, &cred)
	if err != nil {
		return nil, err
	}
	return env.Client(t, cred.Token), nil
}

func TestJoinTokens(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{AuthCacheTTL: 50 * time.Millisecond})
	ctx := context.Background()
	tenant := env.Tenant(t, "team-a")
	if err := tenant.Do(ctx, "POST", "/api/v1/jointokens", nil, api.JoinTokenRequest{}, nil); client.Code(err) != http.StatusForbidden {
		t.Fatalf("tenant minting a join token: %v, want 403", err)
	}
	if err := env.Admin.Do(ctx, "POST", "/api/v1/jointokens", nil, map[string]any{"ttlSeconds": -5}, nil); client.Code(err) != http.StatusBadRequest {
		t.Fatalf("negative ttl: %v, want 400", err)
	}

	tok := joinToken(t, env, api.JoinTokenRequest{TTLSeconds: 60})
	// A join token is good for nothing but joining.
	if _, _, err := client.For[api.Pod](env.Client(t, tok)).List(ctx, "default", client.ListOptions{}); client.Code(err) != http.StatusForbidden {
		t.Fatalf("join token reading pods: %v, want 403", err)
	}
	if _, err := joinAs(t, env, tok, "Bad_Name"); client.Code(err) != http.StatusBadRequest {
		t.Fatalf("join with an invalid name: %v, want 400", err)
	}
	if _, err := joinAs(t, env, tok, "node-1"); err != nil {
		t.Fatalf("join: %v", err)
	}
	// Single use.
	if _, err := joinAs(t, env, tok, "node-2"); client.Code(err) != http.StatusUnauthorized {
		t.Fatalf("second use of a join token: %v, want 401", err)
	}

	bound := joinToken(t, env, api.JoinTokenRequest{NodeName: "node-9"})
	if _, err := joinAs(t, env, bound, "node-8"); client.Code(err) != http.StatusForbidden {
		t.Fatalf("join as another name than the token's: %v, want 403", err)
	}

	short := joinToken(t, env, api.JoinTokenRequest{TTLSeconds: 1})
	time.Sleep(1100 * time.Millisecond) // the expiry itself is what is tested
	if _, err := joinAs(t, env, short, "node-3"); client.Code(err) != http.StatusUnauthorized {
		t.Fatalf("expired join token: %v, want 401", err)
	}
}

func TestNodeCredentialActsOnlyOnItsOwn(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	n1, err := joinAs(t, env, joinToken(t, env, api.JoinTokenRequest{}), "n1")
	if err != nil {
		t.Fatal(err)
	}
	nodes := client.For[api.Node](n1)
	if _, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}); err != nil {
		t.Fatalf("node creating its Node: %v", err)
	}
	if _, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n2"}}); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node creating another Node: %v, want 403", err)
	}
	if _, err := client.For[api.Node](env.Admin).Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "n2"}}); err != nil {
		t.Fatal(err)
	}
	other, _ := client.For[api.Node](env.Admin).Get(ctx, "", "n2")
	other.Labels = map[string]string{"taken": "yes"}
	if _, err := nodes.Update(ctx, other); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node updating another Node: %v, want 403", err)
	}
	me, _ := nodes.Get(ctx, "", "n1")
	me.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "CloudletReady"}}
	if _, err := nodes.UpdateStatus(ctx, me); err != nil {
		t.Fatalf("node updating its status: %v", err)
	}

	// Pods: only those bound to it, and lists must say so.
	mine := newPod("default", "mine")
	mine.Spec.NodeName = "n1"
	theirs := newPod("default", "theirs")
	theirs.Spec.NodeName = "n2"
	for _, p := range []*api.Pod{mine, theirs} {
		if _, err := client.For[api.Pod](env.Admin).Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	pods := client.For[api.Pod](n1)
	if _, _, err := pods.List(ctx, "", client.ListOptions{}); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node listing all pods: %v, want 403", err)
	}
	if _, _, err := pods.List(ctx, "", client.ListOptions{FieldSelector: "spec.nodeName=n2"}); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node listing another node's pods: %v, want 403", err)
	}
	got, _, err := pods.List(ctx, "", client.ListOptions{FieldSelector: "spec.nodeName=n1"})
	if err != nil || len(got) != 1 || got[0].Name != "mine" {
		t.Fatalf("node listing its pods: %v (err %v)", got, err)
	}
	w, err := pods.Watch(ctx, "", client.ListOptions{FieldSelector: "spec.nodeName=n1"})
	if err != nil {
		t.Fatalf("node watching its pods: %v", err)
	}
	w.Stop()
	if _, err := pods.Get(ctx, "default", "theirs"); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node reading another node's pod: %v, want 403", err)
	}
	p, err := pods.Get(ctx, "default", "mine")
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = api.PodRunning
	if _, err := pods.UpdateStatus(ctx, p); err != nil {
		t.Fatalf("node updating its pod's status: %v", err)
	}
	p.Labels = map[string]string{"x": "y"}
	if _, err := pods.Update(ctx, p); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node updating a pod's spec or metadata: %v, want 403", err)
	}
	th, _ := client.For[api.Pod](env.Admin).Get(ctx, "default", "theirs")
	th.Status.Phase = api.PodFailed
	if _, err := pods.UpdateStatus(ctx, th); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node updating another node's pod status: %v, want 403", err)
	}
	if err := pods.Delete(ctx, "default", "theirs", client.DeleteOptions{}); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node deleting another node's pod: %v, want 403", err)
	}
	if _, err := pods.Create(ctx, newPod("default", "new")); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node creating a pod: %v, want 403", err)
	}

	// Its lease, and no one else's.
	leases := client.For[api.Lease](n1)
	if _, err := leases.Create(ctx, &api.Lease{ObjectMeta: api.ObjectMeta{Name: "n1", Namespace: api.NamespaceNodeLease}}); err != nil {
		t.Fatalf("node creating its lease: %v", err)
	}
	if _, err := leases.Create(ctx, &api.Lease{ObjectMeta: api.ObjectMeta{Name: "n2", Namespace: api.NamespaceNodeLease}}); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node creating another's lease: %v, want 403", err)
	}
	// Nothing else.
	if _, _, err := client.For[api.Namespace](n1).List(ctx, "", client.ListOptions{}); client.Code(err) != http.StatusForbidden {
		t.Fatalf("node listing namespaces: %v, want 403", err)
	}
}
