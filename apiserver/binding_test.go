package apiserver_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// getPod reads a pod as the admin.
func getPod(t testing.TB, env *apiservertest.Env, ns, name string) *api.Pod {
	t.Helper()
	p, err := client.For[api.Pod](env.Admin).Get(context.Background(), ns, name)
	if err != nil {
		t.Fatalf("get pod %s/%s: %v", ns, name, err)
	}
	return p
}

// TestBindPod: a binding sets the node, PodScheduled=True and clears the
// nominated node in one write, answering 201 with the stored pod; the body
// is the one documented for the subresource.
func TestBindPod(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	createNode(t, env.Admin, "node-1")
	p := createPod(t, env.Admin, "default", "web")

	// The scheduler first nominated the pod elsewhere and said why it waits.
	p.Status.NominatedNodeName = "node-9"
	api.SetPodCondition(&p.Status, api.PodCondition{Type: api.PodScheduled, Status: api.ConditionFalse,
		Reason: "Unschedulable", Message: "0/1 nodes are available: 1 Insufficient cpu."})
	p, err := client.For[api.Pod](env.Scheduler).UpdateStatus(ctx, p)
	if err != nil {
		t.Fatalf("scheduler status update: %v", err)
	}

	body := fmt.Sprintf(`{"apiVersion":"v1","kind":"Binding","metadata":{"name":"web","uid":%q},"target":{"name":"node-1"}}`, p.UID)
	r := rawRequest(t, env, env.SchedulerToken, "POST", "/api/v1/namespaces/default/pods/web/binding", "application/json", []byte(body))
	if r.Code != http.StatusCreated {
		t.Fatalf("bind: HTTP %d %s", r.Code, r.Body)
	}
	var answered api.Pod
	if err := env.Scheme.DecodeInto(r.Body, &answered); err != nil {
		t.Fatalf("binding answer is not a pod: %v\n%s", err, r.Body)
	}
	stored := getPod(t, env, "default", "web")
	if answered.ResourceVersion != stored.ResourceVersion {
		t.Errorf("answer at resourceVersion %s, stored %s", answered.ResourceVersion, stored.ResourceVersion)
	}
	if stored.Spec.NodeName != "node-1" || stored.Status.NominatedNodeName != "" {
		t.Fatalf("stored node %q nominated %q, want node-1 and none", stored.Spec.NodeName, stored.Status.NominatedNodeName)
	}
	c := api.PodConditionByType(&stored.Status, api.PodScheduled)
	if c == nil || c.Status != api.ConditionTrue || c.Reason != "" || c.Message != "" || c.LastTransitionTime.IsZero() {
		t.Fatalf("PodScheduled condition %+v, want True without the old reason", c)
	}
	if len(stored.Status.Conditions) != 1 {
		t.Errorf("conditions %+v, want the one PodScheduled", stored.Status.Conditions)
	}
	// One write: the revision moved by exactly one etcd transaction.
	before, _ := api.ParseResourceVersion(p.ResourceVersion)
	after, _ := api.ParseResourceVersion(stored.ResourceVersion)
	if after != before+1 {
		t.Errorf("resourceVersion %d -> %d: the binding took more than one write", before, after)
	}
}

// TestBindRefusals: every way a binding can be wrong answers its own code,
// names the field or the reason, and leaves the pod as it was.
func TestBindRefusals(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	createNode(t, env.Admin, "node-1")
	createNode(t, env.Admin, "node-2")
	web := createPod(t, env.Admin, "default", "web")
	bound := createPod(t, env.Admin, "default", "bound")
	if err := env.Scheduler.Bind(ctx, "default", "bound", bound.UID, "node-1"); err != nil {
		t.Fatal(err)
	}
	leaving := newPod("default", "leaving")
	leaving.Finalizers = []string{"example.com/hold"}
	if _, err := client.For[api.Pod](env.Admin).Create(ctx, leaving); err != nil {
		t.Fatal(err)
	}
	if err := client.For[api.Pod](env.Admin).Delete(ctx, "default", "leaving", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	const path = "/api/v1/namespaces/default/pods/%s/binding"
	cases := []struct {
		name, pod, body string
		code            int
		reason          api.StatusReason
		field, msg      string
	}{
		{name: "already bound", pod: "bound", body: `{"target":{"name":"node-2"}}`,
			code: 409, reason: api.StatusReasonConflict, msg: "pod default/bound is already assigned to node node-1"},
		{name: "already bound to the same node", pod: "bound", body: `{"target":{"name":"node-1"}}`,
			code: 409, reason: api.StatusReasonConflict, msg: "already assigned to node node-1"},
		{name: "another incarnation", pod: "web", body: `{"metadata":{"uid":"0000-old"},"target":{"name":"node-1"}}`,
			code: 409, reason: api.StatusReasonConflict, msg: "deleted and created again"},
		{name: "stale resourceVersion", pod: "web", body: `{"metadata":{"resourceVersion":"1"},"target":{"name":"node-1"}}`,
			code: 409, reason: api.StatusReasonConflict, msg: "resourceVersion"},
		{name: "being deleted", pod: "leaving", body: `{"target":{"name":"node-1"}}`,
			code: 409, reason: api.StatusReasonConflict, msg: "being deleted"},
		{name: "pod gone", pod: "nope", body: `{"target":{"name":"node-1"}}`,
			code: 404, reason: api.StatusReasonNotFound, msg: `pods "nope" not found`},
		{name: "node gone", pod: "web", body: `{"target":{"name":"node-7"}}`,
			code: 422, reason: api.StatusReasonInvalid, field: "target.name", msg: `node "node-7" not found`},
		{name: "no target", pod: "web", body: `{"apiVersion":"v1","kind":"Binding"}`,
			code: 422, reason: api.StatusReasonInvalid, field: "target.name", msg: "Required value"},
		{name: "target not a node name", pod: "web", body: `{"target":{"name":"Node_1"}}`,
			code: 422, reason: api.StatusReasonInvalid, field: "target.name", msg: "Node_1"},
		{name: "target of another kind", pod: "web", body: `{"target":{"kind":"Pod","name":"node-1"}}`,
			code: 422, reason: api.StatusReasonInvalid, field: "target.kind", msg: "Unsupported value"},
		{name: "unknown field", pod: "web", body: `{"target":{"nam":"node-1"}}`,
			code: 400, reason: api.StatusReasonBadRequest, field: "target.nam", msg: "unknown field"},
		{name: "not a binding", pod: "web", body: `{"apiVersion":"v1","kind":"Pod","target":{"name":"node-1"}}`,
			code: 400, reason: api.StatusReasonBadRequest, msg: "a v1 Binding is expected"},
		{name: "name of another pod", pod: "web", body: `{"metadata":{"name":"other"},"target":{"name":"node-1"}}`,
			code: 400, reason: api.StatusReasonBadRequest, msg: "does not match the name of the pod"},
		{name: "empty body", pod: "web", body: ``,
			code: 400, reason: api.StatusReasonBadRequest, msg: "empty"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var before *api.Pod
			if tc.pod != "nope" {
				before = getPod(t, env, "default", tc.pod)
			}
			var body []byte
			if tc.body != "" {
				body = []byte(tc.body)
			}
			r := rawRequest(t, env, env.SchedulerToken, "POST", fmt.Sprintf(path, tc.pod), "application/json", body)
			st := wantRawStatus(t, r, tc.code, tc.reason)
			if tc.field != "" {
				wantCause(t, st, tc.field, tc.msg)
			} else if !strings.Contains(st.Message, tc.msg) {
				t.Errorf("message %q does not say %q", st.Message, tc.msg)
			}
			if before != nil {
				if after := getPod(t, env, "default", tc.pod); after.ResourceVersion != before.ResourceVersion {
					t.Errorf("refused binding changed the pod: resourceVersion %s -> %s", before.ResourceVersion, after.ResourceVersion)
				}
			}
		})
	}
	// The typed client answers with the same errors.
	if err := env.Scheduler.Bind(ctx, "default", "web", "0000-old", "node-1"); !client.IsConflict(err) {
		t.Errorf("typed bind of another incarnation: %v, want a conflict", err)
	}
	if err := env.Scheduler.Bind(ctx, "default", "web", web.UID, "node-7"); !client.IsInvalid(err) {
		t.Errorf("typed bind to a missing node: %v, want invalid", err)
	}
	if err := env.Scheduler.Bind(ctx, "default", "nope", "", "node-1"); !client.IsNotFound(err) {
		t.Errorf("typed bind of a missing pod: %v, want not found", err)
	}
	if r := rawRequest(t, env, env.SchedulerToken, "PUT", fmt.Sprintf(path, "web"), "application/json", []byte(`{"target":{"name":"node-1"}}`)); r.Code != http.StatusMethodNotAllowed {
		t.Errorf("PUT on the binding: HTTP %d, want 405", r.Code)
	}
	if r := rawRequest(t, env, env.AdminToken, "POST", "/api/v1/nodes/node-1/binding", "application/json", []byte(`{"target":{"name":"node-1"}}`)); r.Code != http.StatusNotFound {
		t.Errorf("binding of a node: HTTP %d, want 404", r.Code)
	}
}

// TestBindRecreatedPod: a decision about a pod that was deleted and
// created again under its name is refused, and the new pod stays unbound.
func TestBindRecreatedPod(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	createNode(t, env.Admin, "node-1")
	old := createPod(t, env.Admin, "default", "web")
	if err := client.For[api.Pod](env.Admin).Delete(ctx, "default", "web", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	createPod(t, env.Admin, "default", "web")
	err := env.Scheduler.Bind(ctx, "default", "web", old.UID, "node-1")
	if st := wantStatus(t, err, http.StatusConflict, api.StatusReasonConflict); !strings.Contains(st.Message, old.UID) {
		t.Errorf("message %q does not name the stale uid", st.Message)
	}
	if p := getPod(t, env, "default", "web"); p.Spec.NodeName != "" {
		t.Fatalf("the new pod was bound to %s by a decision about the old one", p.Spec.NodeName)
	}
}

// TestConcurrentBindsBindOnce: many schedulers racing to bind one pod to
// different nodes: exactly one wins, the others get 409, and the pod is on
// the winner's node.
func TestConcurrentBindsBindOnce(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	const n = 8
	for i := range n {
		createNode(t, env.Admin, fmt.Sprintf("node-%d", i))
	}
	for round := range 5 {
		name := fmt.Sprintf("web-%d", round)
		p := createPod(t, env.Admin, "default", name)
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				errs[i] = env.Scheduler.Bind(ctx, "default", name, p.UID, fmt.Sprintf("node-%d", i))
			}()
		}
		wg.Wait()
		winner := -1
		for i, err := range errs {
			switch {
			case err == nil && winner >= 0:
				t.Fatalf("round %d: nodes %d and %d both won", round, winner, i)
			case err == nil:
				winner = i
			case !client.IsConflict(err):
				t.Fatalf("round %d: bind to node-%d: %v, want success or conflict", round, i, err)
			}
		}
		if winner < 0 {
			t.Fatalf("round %d: no bind won", round)
		}
		if got := getPod(t, env, "default", name).Spec.NodeName; got != fmt.Sprintf("node-%d", winner) {
			t.Fatalf("round %d: pod on %s, winner node-%d", round, got, winner)
		}
	}
}

// TestOnlyBindingsAndAdminsChooseNodes: a tenant may neither create a pod
// with a node nor set one by update nor bind; an administrator may do all
// three; a bound pod's node is fixed for everyone.
func TestOnlyBindingsAndAdminsChooseNodes(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	createNode(t, env.Admin, "node-1")
	tenant := env.Tenant(t, "team-a")
	pods := client.For[api.Pod](tenant)

	placed := newPod("team-a", "placed")
	placed.Spec.NodeName = "node-1"
	_, err := pods.Create(ctx, placed)
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), "spec.nodeName", "binding subresource")
	if _, err := pods.Get(ctx, "team-a", "placed"); !client.IsNotFound(err) {
		t.Fatalf("refused pod was stored: %v", err)
	}

	web := createPod(t, tenant, "team-a", "web")
	web.Spec.NodeName = "node-1"
	_, err = pods.Update(ctx, web)
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), "spec.nodeName", "binding subresource")

	err = tenant.Bind(ctx, "team-a", "web", "", "node-1")
	if st := wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden); !strings.Contains(st.Message, "pods/binding") {
		t.Errorf("message %q does not name pods/binding", st.Message)
	}
	if p := getPod(t, env, "team-a", "web"); p.Spec.NodeName != "" {
		t.Fatalf("tenant bound its pod to %s", p.Spec.NodeName)
	}

	// An administrator may create bound pods and bind.
	adminPod := newPod("team-a", "admin-placed")
	adminPod.Spec.NodeName = "node-1"
	if _, err := client.For[api.Pod](env.Admin).Create(ctx, adminPod); err != nil {
		t.Fatalf("admin create with nodeName: %v", err)
	}
	if err := env.Admin.Bind(ctx, "team-a", "web", "", "node-1"); err != nil {
		t.Fatalf("admin bind: %v", err)
	}
	// Re-applying the tenant's manifest (no node) to its bound pod keeps
	// the node for the tenant's other changes.
	bound := getPod(t, env, "team-a", "web")
	bound.Labels = map[string]string{"tier": "front"}
	if _, err := pods.Update(ctx, bound); err != nil {
		t.Fatalf("tenant update of its bound pod: %v", err)
	}
}
