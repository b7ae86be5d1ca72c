package apiserver_test

import (
	"context"
	"net/http"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestControllerRole: the controller manager's token may read everything
// (the garbage collector follows owners on every kind), delete namespaced
// objects, and write pods, events, namespaces' and nodes' state; not
// tokens, tenants, bindings, nor create or change secrets or
// infrastructure kinds.
func TestControllerRole(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	createNode(t, env.Admin, "node-1")
	env.Tenant(t, "team-a")
	createPod(t, env.Admin, "team-a", "web")
	bindMe := createPod(t, env.Admin, "team-a", "bind-me")
	if err := env.Admin.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "creds"}, StringData: map[string]string{"k": "v"}}); err != nil {
		t.Fatal(err)
	}
	c := env.ControllerManager(t)
	pods, nodes, nss := client.For[api.Pod](c), client.For[api.Node](c), client.For[api.Namespace](c)
	watch := func(k *api.KindInfo) error {
		w, err := c.Watch(ctx, k, "", client.ListOptions{})
		if err == nil {
			w.Stop()
		}
		return err
	}
	allowed := []struct {
		name string
		do   func() error
	}{
		{"list pods everywhere", func() error { _, _, err := pods.List(ctx, "", client.ListOptions{}); return err }},
		{"list secrets (owner references, for the garbage collector)", func() error {
			_, _, err := client.For[api.Secret](c).List(ctx, "", client.ListOptions{})
			return err
		}},
		{"watch pods", func() error { return watch(pods.Kind()) }},
		{"watch nodes", func() error { return watch(nodes.Kind()) }},
		{"list namespaces", func() error { _, _, err := nss.List(ctx, "", client.ListOptions{}); return err }},
		{"list tenants", func() error { _, _, err := client.For[api.Tenant](c).List(ctx, "", client.ListOptions{}); return err }},
		{"list leases", func() error {
			_, _, err := client.For[api.Lease](c).List(ctx, api.NamespaceNodeLease, client.ListOptions{})
			return err
		}},
		{"list node pools", func() error { _, _, err := client.For[api.NodePool](c).List(ctx, "", client.ListOptions{}); return err }},
		{"create pod", func() error { _, err := pods.Create(ctx, newPod("team-a", "made")); return err }},
		{"update pod", func() error {
			p, err := pods.Get(ctx, "team-a", "web")
			if err != nil {
				return err
			}
			p.Labels = map[string]string{"adopted": "yes"}
			_, err = pods.Update(ctx, p)
			return err
		}},
		{"update pod status", func() error {
			p, err := pods.Get(ctx, "team-a", "web")
			if err != nil {
				return err
			}
			p.Status.Reason = "Evicted"
			_, err = pods.UpdateStatus(ctx, p)
			return err
		}},
		{"delete pod", func() error { return pods.Delete(ctx, "team-a", "made", client.DeleteOptions{}) }},
		{"create event", func() error {
			return c.Create(ctx, &api.Event{ObjectMeta: api.ObjectMeta{Namespace: "team-a", GenerateName: "web."},
				InvolvedObject: api.ObjectReference{Kind: "Pod", Namespace: "team-a", Name: "web"},
				Type:           api.EventTypeNormal, Reason: "Created", Message: "created"})
		}},
		{"list events", func() error { _, _, err := client.For[api.Event](c).List(ctx, "", client.ListOptions{}); return err }},
		{"update node", func() error {
			n, err := nodes.Get(ctx, "", "node-1")
			if err != nil {
				return err
			}
			n.Spec.Unschedulable = true
			_, err = nodes.Update(ctx, n)
			return err
		}},
		{"update node status", func() error {
			n, err := nodes.Get(ctx, "", "node-1")
			if err != nil {
				return err
			}
			_, err = nodes.UpdateStatus(ctx, n)
			return err
		}},
		{"update namespace", func() error {
			n, err := nss.Get(ctx, "", "team-a")
			if err != nil {
				return err
			}
			_, err = nss.Update(ctx, n)
			return err
		}},
	}
	for _, tc := range allowed {
		t.Run("may "+tc.name, func(t *testing.T) {
			if err := tc.do(); err != nil {
				t.Fatalf("got %v, want success", err)
			}
		})
	}
	forbiddenOps := []struct {
		name string
		do   func() error
	}{
		{"create secret", func() error {
			return c.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "forged"}, StringData: map[string]string{"k": "v"}})
		}},
		{"update secret", func() error {
			s, err := client.For[api.Secret](c).Get(ctx, "team-a", "creds")
			if err != nil {
				return err
			}
			s.StringData = map[string]string{"k": "changed"}
			_, err = client.For[api.Secret](c).Update(ctx, s)
			return err
		}},
		{"create tenant", func() error {
			_, err := client.For[api.Tenant](c).Create(ctx, &api.Tenant{ObjectMeta: api.ObjectMeta{Name: "evil"}})
			return err
		}},
		{"mint a tenant token", func() error { return c.Do(ctx, "POST", "/api/v1/tenants/team-a/token", nil, map[string]string{}, nil) }},
		{"mint a join token", func() error { return c.Do(ctx, "POST", "/api/v1/jointokens", nil, api.JoinTokenRequest{}, nil) }},
		{"bind", func() error { return c.Bind(ctx, "team-a", "bind-me", bindMe.UID, "node-1") }},
		{"create node", func() error {
			_, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "node-2"}})
			return err
		}},
		{"delete node", func() error { return nodes.Delete(ctx, "", "node-1", client.DeleteOptions{}) }},
		{"create namespace", func() error {
			_, err := nss.Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "x"}})
			return err
		}},
		{"create priority class", func() error {
			_, err := client.For[api.PriorityClass](c).Create(ctx, &api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: "high"}, Value: 1000})
			return err
		}},
		{"create node pool", func() error {
			_, err := client.For[api.NodePool](c).Create(ctx, &api.NodePool{ObjectMeta: api.ObjectMeta{Name: "p"}})
			return err
		}},
		{"read metrics", func() error { return c.Do(ctx, "GET", "/metrics", nil, nil, nil) }},
	}
	for _, tc := range forbiddenOps {
		t.Run("may not "+tc.name, func(t *testing.T) {
			wantStatus(t, tc.do(), http.StatusForbidden, api.StatusReasonForbidden)
		})
	}
}

// TestControllerTokenReplaced: a new controller token revokes the previous
// one (a new leader fences the old one's controllers out).
func TestControllerTokenReplaced(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	first, err := env.Server.ControllerToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	second, err := env.Server.ControllerToken(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.Server.Authenticate(ctx, first); err == nil {
		t.Fatal("a replaced controller token still authenticates")
	}
	id, err := env.Server.Authenticate(ctx, second)
	if err != nil || id.Role != apiserver.RoleController || id.Name != apiserver.ControllerUser {
		t.Fatalf("current controller token: %+v, %v", id, err)
	}
}
