package apiserver_test

import (
	"context"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestUpdatePreconditions: a PUT with a stale resourceVersion is a 409
// Conflict that changes nothing; one without a resourceVersion succeeds.
func TestUpdatePreconditions(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	stale := createPod(t, env.Admin, "default", "web")

	fresh := *stale
	fresh.Labels = map[string]string{"v": "1"}
	cur, err := pods.Update(ctx, &fresh)
	if err != nil {
		t.Fatal(err)
	}
	if cur.ResourceVersion == stale.ResourceVersion {
		t.Fatal("an update kept the resourceVersion")
	}

	stale.Labels = map[string]string{"v": "stale"}
	_, err = pods.Update(ctx, stale)
	st := wantStatus(t, err, http.StatusConflict, api.StatusReasonConflict)
	if !strings.Contains(st.Message, `pods "web"`) || !strings.Contains(st.Message, "has been modified") {
		t.Errorf("message %q", st.Message)
	}
	_, err = pods.UpdateStatus(ctx, stale)
	wantStatus(t, err, http.StatusConflict, api.StatusReasonConflict)
	got, err := pods.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.ResourceVersion != cur.ResourceVersion || got.Labels["v"] != "1" {
		t.Errorf("after the refused update: rv %s labels %v, want rv %s labels v=1", got.ResourceVersion, got.Labels, cur.ResourceVersion)
	}

	unconditional := newPod("default", "web")
	unconditional.Labels = map[string]string{"v": "2"}
	out, err := pods.Update(ctx, unconditional)
	if err != nil {
		t.Fatalf("update without resourceVersion: %v", err)
	}
	if out.Labels["v"] != "2" || out.UID != got.UID {
		t.Errorf("stored labels %v uid %s, want v=2 and uid %s", out.Labels, out.UID, got.UID)
	}

	t.Run("missing object", func(t *testing.T) {
		_, err := pods.Update(ctx, newPod("default", "nope"))
		st := wantStatus(t, err, http.StatusNotFound, api.StatusReasonNotFound)
		if !strings.Contains(st.Message, `pods "nope" not found`) {
			t.Errorf("message %q", st.Message)
		}
	})
}

// TestStatusSubresource: /status changes only the status; the main
// resource changes everything but the status; create sets the status.
func TestStatusSubresource(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)

	// Answers are decoded into fresh objects: the typed client decodes into
	// the object sent, which keeps fields the server dropped.
	in := newPod("default", "web")
	in.Status = api.PodStatus{Phase: api.PodRunning, PodIP: "10.0.0.9"}
	created := &api.Pod{}
	if err := env.Admin.Do(ctx, "POST", "/api/v1/namespaces/default/pods", nil, in, created); err != nil {
		t.Fatal(err)
	}
	if created.Status.Phase != api.PodPending || created.Status.PodIP != "" {
		t.Errorf("status on create: %+v, want phase Pending only", created.Status)
	}

	s := *created
	s.Status = api.PodStatus{Phase: api.PodRunning, PodIP: "10.0.0.7"}
	s.Labels = map[string]string{"ignored": "yes"}
	s.Spec.Containers = []api.Container{{Name: "app", Image: "nginx:1.28"}}
	afterStatus := &api.Pod{}
	if err := env.Admin.Do(ctx, "PUT", "/api/v1/namespaces/default/pods/web/status", nil, &s, afterStatus); err != nil {
		t.Fatal(err)
	}
	if afterStatus.Status.Phase != api.PodRunning || afterStatus.Status.PodIP != "10.0.0.7" {
		t.Errorf("status after /status: %+v", afterStatus.Status)
	}
	if afterStatus.Labels != nil || afterStatus.Spec.Containers[0].Image != "nginx:1.27" || afterStatus.Generation != 1 {
		t.Errorf("/status changed more than the status: labels %v image %s generation %d",
			afterStatus.Labels, afterStatus.Spec.Containers[0].Image, afterStatus.Generation)
	}

	m := *afterStatus
	m.Status = api.PodStatus{Phase: api.PodFailed}
	m.Labels = map[string]string{"app": "web"}
	afterMain := &api.Pod{}
	if err := env.Admin.Do(ctx, "PUT", "/api/v1/namespaces/default/pods/web", nil, &m, afterMain); err != nil {
		t.Fatal(err)
	}
	if afterMain.Status.Phase != api.PodRunning || afterMain.Status.PodIP != "10.0.0.7" {
		t.Errorf("the main resource changed the status: %+v", afterMain.Status)
	}
	if afterMain.Labels["app"] != "web" {
		t.Errorf("labels after the main update: %v", afterMain.Labels)
	}
	got, err := pods.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, afterMain) {
		t.Errorf("read back\n%+v\nwant\n%+v", got, afterMain)
	}

	t.Run("invalid status", func(t *testing.T) {
		n := createNode(t, env.Admin, "node-1")
		n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: "Maybe"}}
		_, err := client.For[api.Node](env.Admin).UpdateStatus(ctx, n)
		st := wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid)
		wantCause(t, st, "status.conditions[0].status", `Unsupported value "Maybe"`)
	})
	t.Run("kind without status", func(t *testing.T) {
		r := rawRequest(t, env, env.AdminToken, "PUT", "/api/v1/tenants/acme/status", "application/json", []byte(`{}`))
		wantRawStatus(t, r, http.StatusNotFound, api.StatusReasonNotFound)
	})
	t.Run("method on status", func(t *testing.T) {
		r := rawRequest(t, env, env.AdminToken, "DELETE", "/api/v1/namespaces/default/pods/web/status", "", nil)
		wantRawStatus(t, r, http.StatusMethodNotAllowed, api.StatusReasonMethodNotAllowed)
	})
}

// TestGeneration: the generation starts at 1 and counts spec changes only;
// clients cannot set it, nor other server-owned metadata.
func TestGeneration(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	nss := client.For[api.Namespace](env.Admin)
	ns := createNamespace(t, env.Admin, "gen")
	uid, created := ns.UID, ns.CreationTimestamp
	steps := []struct {
		name   string
		change func(*api.Namespace)
		want   int64
	}{
		{"labels", func(n *api.Namespace) { n.Labels = map[string]string{"a": "b"} }, 1},
		{"annotations", func(n *api.Namespace) { n.Annotations = map[string]string{"note": "x"} }, 1},
		{"spec.finalizers through a plain update (kept)", func(n *api.Namespace) { n.Spec.Finalizers = nil }, 1},
		{"spec", func(n *api.Namespace) { n.Spec.Finalizers = []string{"example.com/cleanup"} }, 2},
		{"same spec again", func(n *api.Namespace) {}, 2},
		{"client-set generation", func(n *api.Namespace) { n.Generation = 99 }, 2},
		{"server-owned metadata", func(n *api.Namespace) {
			n.UID = "forged"
			n.CreationTimestamp = api.Time{}
		}, 2},
		{"spec back", func(n *api.Namespace) { n.Spec.Finalizers = nil }, 3},
	}
	for _, step := range steps {
		cur, err := nss.Get(ctx, "", "gen")
		if err != nil {
			t.Fatal(err)
		}
		step.change(cur)
		out, err := nss.Update(ctx, cur)
		if strings.HasPrefix(step.name, "spec") && err == nil {
			// Namespace spec.finalizers change through the finalize
			// subresource only.
			if out.Generation != step.want-1 && step.want > 1 {
				t.Errorf("%s: a plain update changed the spec: generation %d", step.name, out.Generation)
			}
			if step.want > 1 {
				step.change(out)
				err = env.Admin.FinalizeNamespace(ctx, out)
			}
		}
		if err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		if out.Generation != step.want {
			t.Errorf("%s: generation %d, want %d", step.name, out.Generation, step.want)
		}
		if out.UID != uid || !out.CreationTimestamp.Equal(created.Time) {
			t.Errorf("%s: uid %s created %v, want %s %v", step.name, out.UID, out.CreationTimestamp, uid, created)
		}
	}

	pods := client.For[api.Pod](env.Admin)
	p := createPod(t, env.Admin, "default", "web")
	p.Spec.Containers[0].Image = "nginx:1.28"
	p, err := pods.Update(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if p.Generation != 2 {
		t.Errorf("pod image change: generation %d, want 2", p.Generation)
	}
	p.Status.Phase = api.PodRunning
	if p, err = pods.UpdateStatus(ctx, p); err != nil {
		t.Fatal(err)
	}
	if p.Generation != 2 {
		t.Errorf("pod status change: generation %d, want 2", p.Generation)
	}
}

// TestPodSpecImmutable: only images, added tolerations and a first
// nodeName may change in a pod's spec; a manifest without the defaults is
// not a change.
func TestPodSpecImmutable(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	createPod(t, env.Admin, "default", "web")

	cases := []struct {
		name   string
		change func(*api.Pod)
		field  string // "" when the update must succeed
	}{
		{"labels on a manifest without defaults", func(p *api.Pod) {}, ""},
		{"image", func(p *api.Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, ""},
		{"command", func(p *api.Pod) { p.Spec.Containers[0].Command = []string{"sh"} }, "spec"},
		{"restart policy", func(p *api.Pod) { p.Spec.RestartPolicy = api.RestartPolicyNever }, "spec"},
		{"another container", func(p *api.Pod) {
			p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: "side", Image: "busybox"})
		}, "spec"},
		{"add a toleration", func(p *api.Pod) {
			p.Spec.Tolerations = []api.Toleration{{Key: "gpu", Operator: api.TolerationOpExists}}
		}, ""},
		{"remove a toleration", func(p *api.Pod) { p.Spec.Tolerations = nil }, "spec.tolerations"},
		{"bind", func(p *api.Pod) { p.Spec.NodeName = "node-1" }, ""},
		{"rebind", func(p *api.Pod) { p.Spec.NodeName = "node-2" }, "spec"},
		{"unbind", func(p *api.Pod) { p.Spec.NodeName = "" }, "spec"},
	}
	// Each step starts from a fresh manifest holding what was accepted so far.
	accepted := newPod("default", "web")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := newPod("default", "web")
			p.Labels = map[string]string{"step": strings.ReplaceAll(tc.name, " ", "-")}
			p.Spec = *deepCopySpec(accepted.Spec)
			tc.change(p)
			before, err := pods.Get(ctx, "default", "web")
			if err != nil {
				t.Fatal(err)
			}
			out, err := pods.Update(ctx, p)
			if tc.field == "" {
				if err != nil {
					t.Fatalf("got %v, want success", err)
				}
				accepted.Spec = *deepCopySpec(p.Spec)
				if out.Spec.RestartPolicy != api.RestartPolicyAlways || *out.Spec.TerminationGracePeriodSeconds != 30 {
					t.Errorf("defaults lost: %+v", out.Spec)
				}
				return
			}
			st := wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid)
			wantCause(t, st, tc.field, "Forbidden")
			after, err := pods.Get(ctx, "default", "web")
			if err != nil {
				t.Fatal(err)
			}
			if after.ResourceVersion != before.ResourceVersion {
				t.Errorf("a refused update changed the pod")
			}
		})
	}
	got, err := pods.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if got.Spec.NodeName != "node-1" || got.Spec.Containers[0].Image != "nginx:1.28" || len(got.Spec.Tolerations) != 1 {
		t.Errorf("final spec %+v", got.Spec)
	}
}

func deepCopySpec(s api.PodSpec) *api.PodSpec {
	out := s
	out.Containers = make([]api.Container, len(s.Containers))
	for i, c := range s.Containers {
		c.Command = append([]string(nil), c.Command...)
		out.Containers[i] = c
	}
	out.Tolerations = append([]api.Toleration(nil), s.Tolerations...)
	return &out
}

// TestDefaultsVisibleOnRead: defaults are stored, so every read shows them.
func TestDefaultsVisibleOnRead(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	in := &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "web"},
		Spec: api.PodSpec{Containers: []api.Container{
			{Name: "latest", Image: "nginx", Ports: []api.ContainerPort{{ContainerPort: 80}}},
			{Name: "pinned", Image: "registry.example.com:5000/app:1.2"},
			{Name: "digest", Image: "app@sha256:0123"},
			{Name: "explicit", Image: "busybox:latest", ImagePullPolicy: api.PullNever},
		}},
	}
	created, err := pods.Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	got, err := pods.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	listed, _, err := pods.List(ctx, "default", client.ListOptions{})
	if err != nil || len(listed) != 1 {
		t.Fatalf("list: %v %v", listed, err)
	}
	for name, p := range map[string]*api.Pod{"create": created, "get": got, "list": listed[0]} {
		t.Run(name, func(t *testing.T) {
			s := p.Spec
			if s.RestartPolicy != api.RestartPolicyAlways {
				t.Errorf("restartPolicy %q", s.RestartPolicy)
			}
			if s.TerminationGracePeriodSeconds == nil || *s.TerminationGracePeriodSeconds != 30 {
				t.Errorf("terminationGracePeriodSeconds %v", s.TerminationGracePeriodSeconds)
			}
			if s.SchedulerName != "default-scheduler" {
				t.Errorf("schedulerName %q", s.SchedulerName)
			}
			wantPull := []api.PullPolicy{api.PullAlways, api.PullIfNotPresent, api.PullIfNotPresent, api.PullNever}
			for i, c := range s.Containers {
				if c.ImagePullPolicy != wantPull[i] {
					t.Errorf("container %s: imagePullPolicy %q, want %q", c.Name, c.ImagePullPolicy, wantPull[i])
				}
			}
			if s.Containers[0].Ports[0].Protocol != api.ProtocolTCP {
				t.Errorf("port protocol %q", s.Containers[0].Ports[0].Protocol)
			}
			if p.Status.Phase != api.PodPending || p.UID == "" || p.CreationTimestamp.IsZero() || p.Generation != 1 || p.ResourceVersion == "" {
				t.Errorf("server-set fields: phase %q uid %q created %v generation %d rv %q",
					p.Status.Phase, p.UID, p.CreationTimestamp, p.Generation, p.ResourceVersion)
			}
		})
	}
	ns, err := client.For[api.Namespace](env.Admin).Get(ctx, "", "default")
	if err != nil {
		t.Fatal(err)
	}
	if ns.Status.Phase != api.NamespaceActive {
		t.Errorf("namespace phase %q", ns.Status.Phase)
	}
}

func createNode(t testing.TB, c *client.Client, name string) *api.Node {
	t.Helper()
	n, err := client.For[api.Node](c).Create(context.Background(), &api.Node{ObjectMeta: api.ObjectMeta{Name: name}})
	if err != nil {
		t.Fatalf("create node %s: %v", name, err)
	}
	return n
}

// TestGenerateName: a create with generateName and no name gets a unique
// name made from the prefix; two such creates get two names.
func TestGenerateName(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	pods := client.For[api.Pod](env.Admin)
	names := map[string]bool{}
	for range 2 {
		p := &api.Pod{
			ObjectMeta: api.ObjectMeta{GenerateName: "web-", Namespace: "default"},
			Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}},
		}
		got, err := pods.Create(context.Background(), p)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(got.Name, "web-") || len(got.Name) != len("web-")+5 || got.GenerateName != "web-" {
			t.Fatalf("generated name %q (generateName %q)", got.Name, got.GenerateName)
		}
		names[got.Name] = true
	}
	if len(names) != 2 {
		t.Fatalf("two creates gave names %v", names)
	}
	bad := &api.Pod{
		ObjectMeta: api.ObjectMeta{GenerateName: "Bad_", Namespace: "default"},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}},
	}
	if _, err := pods.Create(context.Background(), bad); client.Code(err) != 422 {
		t.Fatalf("invalid generateName: %v, want 422", err)
	}
}
