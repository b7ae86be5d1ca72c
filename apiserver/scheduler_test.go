package apiserver_test

import (
	"context"
	"net/http"
	"sync"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestSchedulerRole: the scheduler's token may do what scheduling needs
// and nothing else.
func TestSchedulerRole(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	createNode(t, env.Admin, "node-1")
	tenant := env.Tenant(t, "team-a")
	createPod(t, tenant, "team-a", "web")
	createPod(t, tenant, "team-a", "victim")
	bindMe := createPod(t, tenant, "team-a", "bind-me")
	secret := &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "creds"}, StringData: map[string]string{"k": "v"}}
	if err := env.Admin.Create(ctx, secret); err != nil {
		t.Fatal(err)
	}
	s := env.Scheduler
	pods, nodes := client.For[api.Pod](s), client.For[api.Node](s)
	pcs := client.For[api.PriorityClass](s)
	watch := func(k *api.KindInfo, ns string, opts client.ListOptions) error {
		w, err := s.Watch(ctx, k, ns, opts)
		if err == nil {
			w.Stop()
		}
		return err
	}
	event := &api.Event{ObjectMeta: api.ObjectMeta{Namespace: "team-a", GenerateName: "web."},
		InvolvedObject: api.ObjectReference{Kind: "Pod", Namespace: "team-a", Name: "web"},
		Type:           api.EventTypeWarning, Reason: "FailedScheduling", Message: "0/1 nodes are available: 1 Insufficient cpu."}

	allowed := []struct {
		name string
		do   func() error
	}{
		{"list pods everywhere", func() error { _, _, err := pods.List(ctx, "", client.ListOptions{}); return err }},
		{"watch unbound pods", func() error {
			return watch(pods.Kind(), "", client.ListOptions{FieldSelector: "spec.nodeName="})
		}},
		{"get pod", func() error { _, err := pods.Get(ctx, "team-a", "web"); return err }},
		{"list nodes", func() error { _, _, err := nodes.List(ctx, "", client.ListOptions{}); return err }},
		{"watch nodes", func() error { return watch(nodes.Kind(), "", client.ListOptions{}) }},
		{"get node", func() error { _, err := nodes.Get(ctx, "", "node-1"); return err }},
		{"list priority classes", func() error { _, _, err := pcs.List(ctx, "", client.ListOptions{}); return err }},
		{"watch priority classes", func() error { return watch(pcs.Kind(), "", client.ListOptions{}) }},
		{"bind", func() error { return s.Bind(ctx, "team-a", "bind-me", bindMe.UID, "node-1") }},
		{"update pod status", func() error {
			p, err := pods.Get(ctx, "team-a", "web")
			if err != nil {
				return err
			}
			p.Status.NominatedNodeName = "node-1"
			_, err = pods.UpdateStatus(ctx, p)
			return err
		}},
		{"create event", func() error { return s.Create(ctx, event) }},
		{"delete pod", func() error { return pods.Delete(ctx, "team-a", "victim", client.DeleteOptions{}) }},
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
		{"create pod", func() error { _, err := pods.Create(ctx, newPod("team-a", "mine")); return err }},
		{"update pod", func() error {
			p, err := client.For[api.Pod](env.Admin).Get(ctx, "team-a", "web")
			if err != nil {
				return err
			}
			p.Labels = map[string]string{"x": "y"}
			_, err = pods.Update(ctx, p)
			return err
		}},
		{"create node", func() error {
			_, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "node-2"}})
			return err
		}},
		{"update node", func() error {
			n, err := client.For[api.Node](env.Admin).Get(ctx, "", "node-1")
			if err != nil {
				return err
			}
			n.Spec.Unschedulable = true
			_, err = nodes.Update(ctx, n)
			return err
		}},
		{"update node status", func() error {
			n, err := client.For[api.Node](env.Admin).Get(ctx, "", "node-1")
			if err != nil {
				return err
			}
			_, err = nodes.UpdateStatus(ctx, n)
			return err
		}},
		{"delete node", func() error { return nodes.Delete(ctx, "", "node-1", client.DeleteOptions{}) }},
		{"create priority class", func() error {
			_, err := pcs.Create(ctx, &api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: "high"}, Value: 1000})
			return err
		}},
		{"list namespaces", func() error {
			_, _, err := client.For[api.Namespace](s).List(ctx, "", client.ListOptions{})
			return err
		}},
		{"get secret", func() error { _, err := client.For[api.Secret](s).Get(ctx, "team-a", "creds"); return err }},
		{"list tenants", func() error { _, _, err := client.For[api.Tenant](s).List(ctx, "", client.ListOptions{}); return err }},
		{"list events", func() error {
			_, _, err := client.For[api.Event](s).List(ctx, "team-a", client.ListOptions{})
			return err
		}},
		{"list leases", func() error {
			_, _, err := client.For[api.Lease](s).List(ctx, api.NamespaceNodeLease, client.ListOptions{})
			return err
		}},
		{"mint a join token", func() error { return s.Do(ctx, "POST", "/api/v1/jointokens", nil, api.JoinTokenRequest{}, nil) }},
		{"mint a tenant token", func() error { return s.Do(ctx, "POST", "/api/v1/tenants/team-a/token", nil, map[string]string{}, nil) }},
		{"read pod logs", func() error {
			rc, err := s.Logs(ctx, "team-a", "bind-me", client.LogOptions{})
			if err == nil {
				rc.Close()
			}
			return err
		}},
		{"read metrics", func() error { return s.Do(ctx, "GET", "/metrics", nil, nil, nil) }},
	}
	for _, tc := range forbiddenOps {
		t.Run("may not "+tc.name, func(t *testing.T) {
			wantStatus(t, tc.do(), http.StatusForbidden, api.StatusReasonForbidden)
		})
	}
}

// TestSchedulerStatusWritesOnlySchedulingFields: through the status
// subresource the scheduler changes a pod's conditions and nominated node
// and nothing else of what the node agent reports.
func TestSchedulerStatusWritesOnlySchedulingFields(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	createPod(t, env.Admin, "default", "web")
	p := getPod(t, env, "default", "web")
	p.Status.Phase = api.PodRunning
	p.Status.PodIP = "10.0.0.9"
	p.Status.NominatedNodeName = "node-3"
	api.SetPodCondition(&p.Status, api.PodCondition{Type: api.PodScheduled, Status: api.ConditionFalse,
		Reason: "Unschedulable", Message: "0/12 nodes are available: 8 Insufficient cpu, 4 node(s) had untolerated taint."})
	out, err := client.For[api.Pod](env.Scheduler).UpdateStatus(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	stored := getPod(t, env, "default", "web")
	if stored.Status.Phase != api.PodPending || stored.Status.PodIP != "" {
		t.Errorf("scheduler changed phase %q / podIP %q", stored.Status.Phase, stored.Status.PodIP)
	}
	c := api.PodConditionByType(&stored.Status, api.PodScheduled)
	if stored.Status.NominatedNodeName != "node-3" || c == nil || c.Reason != "Unschedulable" || c.Status != api.ConditionFalse {
		t.Errorf("scheduling fields not stored: nominated %q, condition %+v", stored.Status.NominatedNodeName, c)
	}
	if out.ResourceVersion != stored.ResourceVersion || out.Status.Phase != api.PodPending {
		t.Errorf("answer %s phase %q, stored %s", out.ResourceVersion, out.Status.Phase, stored.ResourceVersion)
	}
}

// TestSchedulerTokenReplaced: each SchedulerToken call revokes the token
// of the previous one, so restarts do not pile tokens up; concurrent calls
// leave exactly one token working.
func TestSchedulerTokenReplaced(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	countTokens := func() int {
		t.Helper()
		resp, err := env.Store.Client().Get(ctx, "/registry/tokens/", clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return int(resp.Count)
	}
	before := countTokens()
	first := env.SchedulerToken
	id, err := env.Server.Authenticate(ctx, first)
	if err != nil || id.Role != apiserver.RoleScheduler || id.Name != apiserver.SchedulerUser {
		t.Fatalf("env scheduler token: %+v, %v", id, err)
	}
	var tokens []string
	for range 3 {
		tok, err := env.Server.SchedulerToken(ctx)
		if err != nil {
			t.Fatal(err)
		}
		tokens = append(tokens, tok)
	}
	if n := countTokens(); n != before {
		t.Fatalf("%d tokens stored after three restarts, want %d", n, before)
	}
	for _, old := range append([]string{first}, tokens[:2]...) {
		if _, err := env.Server.Authenticate(ctx, old); err == nil {
			t.Fatal("a replaced scheduler token still authenticates")
		}
	}
	if _, _, err := client.For[api.Node](env.Client(t, tokens[2])).List(ctx, "", client.ListOptions{}); err != nil {
		t.Fatalf("the current scheduler token: %v", err)
	}

	var wg sync.WaitGroup
	got := make([]string, 6)
	for i := range got {
		wg.Add(1)
		go func() {
			defer wg.Done()
			tok, err := env.Server.SchedulerToken(ctx)
			if err != nil {
				t.Errorf("concurrent SchedulerToken: %v", err)
			}
			got[i] = tok
		}()
	}
	wg.Wait()
	valid := 0
	for _, tok := range append(got, tokens[2]) {
		if _, err := env.Server.Authenticate(ctx, tok); err == nil {
			valid++
		}
	}
	if valid != 1 || countTokens() != before {
		t.Fatalf("%d valid scheduler tokens and %d stored after concurrent calls, want 1 and %d", valid, countTokens(), before)
	}
}
