package apiserver_test

import (
	"context"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestTenantCannotTouchAnotherTenant: every verb of tenant A on tenant B's
// namespace and objects is 403, and B's objects are unchanged afterwards.
func TestTenantCannotTouchAnotherTenant(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	a, b := env.Tenant(t, "team-a"), env.Tenant(t, "team-b")
	createPod(t, a, "team-a", "web")
	bPod := createPod(t, b, "team-b", "db")
	bNS, err := client.For[api.Namespace](b).Get(ctx, "", "team-b")
	if err != nil {
		t.Fatal(err)
	}

	pods, nss := client.For[api.Pod](a), client.For[api.Namespace](a)
	cases := []struct {
		name string
		do   func() error
	}{
		{"get pod", func() error { _, err := pods.Get(ctx, "team-b", "db"); return err }},
		{"list pods", func() error { _, _, err := pods.List(ctx, "team-b", client.ListOptions{}); return err }},
		{"watch pods", func() error {
			w, err := pods.Watch(ctx, "team-b", client.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"create pod", func() error { _, err := pods.Create(ctx, newPod("team-b", "intruder")); return err }},
		{"update pod", func() error {
			p := *bPod
			p.Labels = map[string]string{"owned": "by-a"}
			_, err := pods.Update(ctx, &p)
			return err
		}},
		{"update pod status", func() error {
			p := *bPod
			p.Status.Phase = api.PodFailed
			_, err := pods.UpdateStatus(ctx, &p)
			return err
		}},
		{"delete pod", func() error { return pods.Delete(ctx, "team-b", "db", client.DeleteOptions{}) }},
		{"get namespace", func() error { _, err := nss.Get(ctx, "", "team-b"); return err }},
		{"update namespace", func() error {
			n := *bNS
			n.Labels = map[string]string{apiserver.LabelTenant: "team-a"}
			_, err := nss.Update(ctx, &n)
			return err
		}},
		{"delete namespace", func() error { return nss.Delete(ctx, "", "team-b", client.DeleteOptions{}) }},
		{"create pod in default", func() error { _, err := pods.Create(ctx, newPod("default", "intruder")); return err }},
		{"get default namespace", func() error { _, err := nss.Get(ctx, "", "default"); return err }},
		{"create pod across namespaces", func() error {
			return a.Do(ctx, "POST", "/api/v1/pods", nil, newPod("team-a", "x"), nil)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			st := wantStatus(t, tc.do(), http.StatusForbidden, api.StatusReasonForbidden)
			if !strings.Contains(st.Message, `User "tenant:team-a"`) {
				t.Errorf("message %q does not name the user", st.Message)
			}
		})
	}

	p, err := client.For[api.Pod](env.Admin).Get(ctx, "team-b", "db")
	if err != nil {
		t.Fatal(err)
	}
	if p.ResourceVersion != bPod.ResourceVersion || p.DeletionTimestamp != nil {
		t.Errorf("B's pod changed: resourceVersion %s -> %s, deletionTimestamp %v", bPod.ResourceVersion, p.ResourceVersion, p.DeletionTimestamp)
	}
	n, err := client.For[api.Namespace](env.Admin).Get(ctx, "", "team-b")
	if err != nil {
		t.Fatal(err)
	}
	if n.ResourceVersion != bNS.ResourceVersion || n.Labels[apiserver.LabelTenant] != "team-b" {
		t.Errorf("B's namespace changed: resourceVersion %s -> %s, labels %v", bNS.ResourceVersion, n.ResourceVersion, n.Labels)
	}
	if names := podNames(t, env.Admin, ""); !slices.Equal(names, []string{"team-a/web", "team-b/db"}) {
		t.Errorf("pods after the attempts: %v", names)
	}
}

// TestTenantSeesOnlyItsOwn: lists across namespaces are narrowed to the
// tenant's namespaces; cluster kinds are readable or hidden as documented.
func TestTenantSeesOnlyItsOwn(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	a, b := env.Tenant(t, "team-a"), env.Tenant(t, "team-b")
	createPod(t, a, "team-a", "web")
	createPod(t, b, "team-b", "db")
	createPod(t, env.Admin, "default", "sys")
	if _, err := client.For[api.Node](env.Admin).Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "node-1"}}); err != nil {
		t.Fatal(err)
	}

	if got := podNames(t, a, ""); !slices.Equal(got, []string{"team-a/web"}) {
		t.Errorf("A lists pods across namespaces: %v, want only team-a/web", got)
	}
	if got := podNames(t, b, ""); !slices.Equal(got, []string{"team-b/db"}) {
		t.Errorf("B lists pods across namespaces: %v, want only team-b/db", got)
	}
	if got := namespaceNames(t, a); !slices.Equal(got, []string{"team-a"}) {
		t.Errorf("A lists namespaces: %v, want [team-a]", got)
	}

	hidden := []*api.KindInfo{kind(t, env, "Tenant"), kind(t, env, "NodePool"), kind(t, env, "Hypervisor")}
	for _, k := range hidden {
		t.Run("list "+k.Resource, func(t *testing.T) {
			_, _, err := a.List(ctx, k, "", client.ListOptions{})
			wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
		})
	}
	t.Run("list nodes", func(t *testing.T) {
		nodes, _, err := client.For[api.Node](a).List(ctx, "", client.ListOptions{})
		if err != nil {
			t.Fatalf("got %v, want 200", err)
		}
		if len(nodes) != 1 || nodes[0].Name != "node-1" {
			t.Errorf("nodes: %v", nodes)
		}
	})
	t.Run("get node", func(t *testing.T) {
		if _, err := client.For[api.Node](a).Get(ctx, "", "node-1"); err != nil {
			t.Fatalf("got %v, want 200", err)
		}
	})
	t.Run("create node", func(t *testing.T) {
		_, err := client.For[api.Node](a).Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "node-2"}})
		wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
	})
	t.Run("delete node", func(t *testing.T) {
		err := client.For[api.Node](a).Delete(ctx, "", "node-1", client.DeleteOptions{})
		wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
	})
	t.Run("mint a token", func(t *testing.T) {
		err := a.Do(ctx, "POST", "/api/v1/tenants/team-b/token", nil, map[string]string{}, nil)
		wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
	})
}

// TestTenantCreatesNamespace: a namespace a tenant creates is labelled as
// the tenant's, whatever the body says, and is usable by it alone; the
// tenant cannot give a namespace away by relabelling it.
func TestTenantCreatesNamespace(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	a, b := env.Tenant(t, "team-a"), env.Tenant(t, "team-b")

	in := &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "a-extra", Labels: map[string]string{apiserver.LabelTenant: "team-b", "env": "dev"}}}
	ns, err := client.For[api.Namespace](a).Create(ctx, in)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{apiserver.LabelTenant: "team-a", "env": "dev"}
	if !reflect.DeepEqual(ns.Labels, want) {
		t.Errorf("labels %v, want %v", ns.Labels, want)
	}
	createPod(t, a, "a-extra", "web")
	if got := namespaceNames(t, a); !slices.Equal(got, []string{"a-extra", "team-a"}) {
		t.Errorf("A lists namespaces: %v", got)
	}
	if got := podNames(t, a, ""); !slices.Equal(got, []string{"a-extra/web"}) {
		t.Errorf("A lists pods: %v", got)
	}
	_, err = client.For[api.Pod](b).Get(ctx, "a-extra", "web")
	wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
	if got := namespaceNames(t, b); !slices.Equal(got, []string{"team-b"}) {
		t.Errorf("B lists namespaces: %v", got)
	}

	t.Run("existing name", func(t *testing.T) {
		_, err := client.For[api.Namespace](a).Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "team-b"}})
		wantStatus(t, err, http.StatusConflict, api.StatusReasonAlreadyExists)
		n, err := client.For[api.Namespace](env.Admin).Get(ctx, "", "team-b")
		if err != nil {
			t.Fatal(err)
		}
		if n.Labels[apiserver.LabelTenant] != "team-b" {
			t.Errorf("team-b labels %v", n.Labels)
		}
	})

	relabels := []struct {
		name   string
		labels map[string]string
	}{
		{"relabel to another tenant", map[string]string{apiserver.LabelTenant: "team-b"}},
		{"drop the tenant label", map[string]string{"env": "dev"}}, // as a PUT of a manifest without it does
		{"no labels", nil},
	}
	for _, tc := range relabels {
		t.Run(tc.name, func(t *testing.T) {
			cur, err := client.For[api.Namespace](a).Get(ctx, "", "a-extra")
			if err != nil {
				t.Fatal(err)
			}
			cur.Labels = tc.labels
			out, err := client.For[api.Namespace](a).Update(ctx, cur)
			if err != nil {
				t.Fatalf("update: %v", err)
			}
			if got := out.Labels[apiserver.LabelTenant]; got != "team-a" {
				t.Errorf("tenant label after update: %q, want team-a", got)
			}
			if _, err := client.For[api.Pod](b).Get(ctx, "a-extra", "web"); client.Code(err) != http.StatusForbidden {
				t.Errorf("B reads A's pod after the relabel: %v, want 403", err)
			}
			if _, err := client.For[api.Pod](a).Get(ctx, "a-extra", "web"); err != nil {
				t.Errorf("A reads its pod after the relabel: %v", err)
			}
		})
	}
}

// TestDeletedTenantLosesAccess: deleting a tenant revokes its tokens.
func TestDeletedTenantLosesAccess(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{AuthCacheTTL: 100 * time.Millisecond})
	ctx := context.Background()
	a, b := env.Tenant(t, "team-a"), env.Tenant(t, "team-b")
	if got := podNames(t, b, "team-b"); len(got) != 0 {
		t.Fatalf("B's pods: %v", got)
	}
	if err := env.Admin.Delete(ctx, kind(t, env, "Tenant"), "", "team-b", client.DeleteOptions{}, nil); err != nil {
		t.Fatal(err)
	}
	var last error
	eventually(t, 5*time.Second, "B's token is refused", func() bool {
		_, _, last = client.For[api.Pod](b).List(ctx, "team-b", client.ListOptions{})
		return client.Code(last) == http.StatusUnauthorized
	})
	wantStatus(t, last, http.StatusUnauthorized, api.StatusReasonUnauthorized)
	if got := podNames(t, a, "team-a"); len(got) != 0 {
		t.Errorf("A's pods: %v", got)
	}
}

// TestCreateTenant: a tenant gets its namespace, labelled as its own, and
// a working token; a tenant over a foreign namespace is refused and leaves
// nothing behind.
func TestCreateTenant(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	tenants := kind(t, env, "Tenant")

	if err := env.Admin.Create(ctx, &api.Tenant{ObjectMeta: api.ObjectMeta{Name: "acme"}}); err != nil {
		t.Fatal(err)
	}
	ns, err := client.For[api.Namespace](env.Admin).Get(ctx, "", "acme")
	if err != nil {
		t.Fatalf("the tenant's namespace: %v", err)
	}
	if ns.Labels[apiserver.LabelTenant] != "acme" {
		t.Errorf("namespace labels %v", ns.Labels)
	}
	var tok apiserver.TenantToken
	if err := env.Admin.Do(ctx, "POST", "/api/v1/tenants/acme/token", nil, map[string]string{}, &tok); err != nil {
		t.Fatal(err)
	}
	if tok.Namespace != "acme" || !strings.HasPrefix(tok.Token, "cm_") {
		t.Errorf("token answer %+v", tok)
	}
	acme := env.Client(t, tok.Token)
	createPod(t, acme, "acme", "web")
	if got := podNames(t, acme, ""); !slices.Equal(got, []string{"acme/web"}) {
		t.Errorf("acme's pods: %v", got)
	}

	t.Run("again", func(t *testing.T) {
		err := env.Admin.Create(ctx, &api.Tenant{ObjectMeta: api.ObjectMeta{Name: "acme"}})
		wantStatus(t, err, http.StatusConflict, api.StatusReasonAlreadyExists)
	})
	t.Run("token of a missing tenant", func(t *testing.T) {
		err := env.Admin.Do(ctx, "POST", "/api/v1/tenants/nobody/token", nil, map[string]string{}, nil)
		wantStatus(t, err, http.StatusNotFound, api.StatusReasonNotFound)
	})

	createNamespace(t, env.Admin, "shared")
	cases := []struct {
		name       string
		namespaces []string
	}{
		{"over the default namespace", []string{"default"}},
		{"over an admin namespace", []string{"shared"}},
		{"over another tenant's namespace", []string{"acme"}},
		{"new namespaces before a foreign one", []string{"evil-1", "evil-2", "shared"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshot(t, env.Admin)
			err := env.Admin.Create(ctx, &api.Tenant{ObjectMeta: api.ObjectMeta{Name: "evil"}, Spec: api.TenantSpec{Namespaces: tc.namespaces}})
			st := wantStatus(t, err, http.StatusConflict, api.StatusReasonAlreadyExists)
			if !strings.Contains(st.Message, "does not belong to tenant") {
				t.Errorf("message %q", st.Message)
			}
			var got api.Tenant
			if err := env.Admin.Get(ctx, tenants, "", "evil", &got); !client.IsNotFound(err) {
				t.Errorf("get tenant evil: %v, want 404", err)
			}
			if after := snapshot(t, env.Admin); !reflect.DeepEqual(after, before) {
				t.Errorf("the store changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

func namespaceNames(t testing.TB, c *client.Client) []string {
	t.Helper()
	nss, _, err := client.For[api.Namespace](c).List(context.Background(), "", client.ListOptions{})
	if err != nil {
		t.Fatalf("list namespaces: %v", err)
	}
	out := make([]string, len(nss))
	for i, n := range nss {
		out[i] = n.Name
	}
	return out
}

func kind(t testing.TB, env *apiservertest.Env, name string) *api.KindInfo {
	t.Helper()
	k, ok := env.Scheme.Lookup(name)
	if !ok {
		t.Fatalf("no kind %s", name)
	}
	return k
}

// TestTenantCannotWriteVMStatus: a tenant creates and reads its VMs, but
// their status (provider ID, host) is the IaaS controllers' record: a
// tenant's status write is 403 and the status stays as it was.
func TestTenantCannotWriteVMStatus(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	a := env.Tenant(t, "team-a")
	vms := client.For[api.VirtualMachine](a)
	v, err := vms.Create(ctx, &api.VirtualMachine{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "box"},
		Spec: api.VirtualMachineSpec{CPUs: 1, Memory: api.MustParseQuantity("512Mi")}})
	if err != nil {
		t.Fatal(err)
	}
	v.Status.ProviderID = "libvirt://hv/someone-elses-vm"
	if _, err := vms.UpdateStatus(ctx, v); client.Code(err) != http.StatusForbidden {
		t.Fatalf("tenant status write: %v, want 403", err)
	}
	got, err := vms.Get(ctx, "team-a", "box")
	if err != nil {
		t.Fatal(err)
	}
	if got.Status.ProviderID != "" {
		t.Fatalf("status changed to %+v", got.Status)
	}
	got.Status.ProviderID = "libvirt://hv/x"
	if _, err := client.For[api.VirtualMachine](env.Admin).UpdateStatus(ctx, got); err != nil {
		t.Fatalf("admin status write: %v", err)
	}
}
