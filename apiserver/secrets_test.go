package apiserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// secretValue is what the tests store; it must never come back in an
// error, nor reach the server's log.
const secretValue = "hunter2-do-not-print"

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// startLogged starts a server whose debug log is kept, to check it never
// shows a secret.
func startLogged(t *testing.T) (*apiservertest.Env, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	env := apiservertest.Start(t, apiservertest.Options{Log: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))})
	t.Cleanup(func() {
		if strings.Contains(logs.String(), secretValue) {
			t.Errorf("the server log shows a secret value")
		}
	})
	return env, logs
}

func TestSecretStringDataIsMergedAndNeverStored(t *testing.T) {
	env, _ := startLogged(t)
	ctx := context.Background()
	createNamespace(t, env.Admin, "shop")
	secrets := client.For[api.Secret](env.Admin)
	in := &api.Secret{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "shop"},
		Data:       map[string][]byte{"user": []byte("app"), "password": []byte("replaced")},
		StringData: map[string]string{"password": secretValue}}
	out, err := secrets.Create(ctx, in)
	if err != nil {
		t.Fatalf("create: %v", err)
	}
	if out.Type != api.SecretTypeOpaque || out.StringData != nil || string(out.Data["password"]) != secretValue || string(out.Data["user"]) != "app" {
		t.Fatalf("created secret: type %q, stringData %v, data keys %d", out.Type, out.StringData != nil, len(out.Data))
	}

	// The raw object as served: data in base64, no stringData.
	var raw map[string]any
	if err := env.Admin.Do(ctx, "GET", "/api/v1/namespaces/shop/secrets/db", nil, nil, &raw); err != nil {
		t.Fatal(err)
	}
	if _, ok := raw["stringData"]; ok {
		t.Errorf("GET returns stringData")
	}
	if d, _ := raw["data"].(map[string]any); d["password"] != "aHVudGVyMi1kby1ub3QtcHJpbnQ=" {
		t.Errorf("data.password as served = %v, want the base64 of the value", d["password"])
	}
	// And as stored in etcd.
	resp, err := env.Etcd.Client().Get(ctx, "/registry/secrets/shop/db")
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("etcd get: %v", err)
	}
	if bytes.Contains(resp.Kvs[0].Value, []byte("stringData")) {
		t.Errorf("etcd holds stringData: %s", resp.Kvs[0].Value)
	}

	// An update's stringData is merged too.
	out.StringData = map[string]string{"token": "t0k"}
	upd, err := secrets.Update(ctx, out)
	if err != nil {
		t.Fatalf("update: %v", err)
	}
	if upd.StringData != nil || string(upd.Data["token"]) != "t0k" || string(upd.Data["password"]) != secretValue {
		t.Errorf("updated secret: stringData %v, %d data keys", upd.StringData != nil, len(upd.Data))
	}
}

func TestSecretValidation(t *testing.T) {
	env, _ := startLogged(t)
	ctx := context.Background()
	createNamespace(t, env.Admin, "shop")
	secrets := client.For[api.Secret](env.Admin)
	yes := true
	cases := []struct {
		name   string
		secret *api.Secret
		fields []string // the causes' field paths
	}{
		{"bad key", &api.Secret{Data: map[string][]byte{"pass word": []byte(secretValue)}}, []string{"data[pass word]"}},
		{"bad stringData key", &api.Secret{StringData: map[string]string{"a/b": secretValue}}, []string{"data[a/b]"}},
		{"dockerconfigjson without its key", &api.Secret{Type: api.SecretTypeDockerConfigJSON, StringData: map[string]string{"config": secretValue}},
			[]string{"data[.dockerconfigjson]"}},
		{"dockerconfigjson not JSON", &api.Secret{Type: api.SecretTypeDockerConfigJSON, StringData: map[string]string{".dockerconfigjson": "{" + secretValue}},
			[]string{"data[.dockerconfigjson]"}},
		{"dockerconfigjson without auths", &api.Secret{Type: api.SecretTypeDockerConfigJSON, StringData: map[string]string{".dockerconfigjson": `{"x":"` + secretValue + `"}`}},
			[]string{"data[.dockerconfigjson].auths"}},
		{"unknown type", &api.Secret{Type: "example.com/mine", Immutable: &yes}, []string{"type"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.secret.Name, c.secret.Namespace = "s"+string(rune('a'+i)), "shop"
			_, err := secrets.Create(ctx, c.secret)
			var st *api.Status
			if !errors.As(err, &st) || st.Code != http.StatusUnprocessableEntity || st.Details == nil {
				t.Fatalf("create: %v, want 422 with details", err)
			}
			var fields []string
			for _, cause := range st.Details.Causes {
				fields = append(fields, cause.Field)
			}
			if strings.Join(fields, ",") != strings.Join(c.fields, ",") {
				t.Errorf("cause fields %q, want %q (%v)", fields, c.fields, err)
			}
			if strings.Contains(err.Error(), secretValue) {
				t.Errorf("the error shows the secret value: %v", err)
			}
			if _, err := secrets.Get(ctx, "shop", c.secret.Name); !client.IsNotFound(err) {
				t.Errorf("the invalid secret was stored: %v", err)
			}
		})
	}

	// Bad base64 in data: 400 at the field, without the text.
	body := `{"apiVersion":"v1","kind":"Secret","metadata":{"name":"b64"},"data":{"k":"` + secretValue + `!"}}`
	err := env.Admin.Do(ctx, "POST", "/api/v1/namespaces/shop/secrets", nil, json.RawMessage(body), nil)
	if client.Code(err) != http.StatusBadRequest || !strings.Contains(err.Error(), "data[k]") || strings.Contains(err.Error(), secretValue) {
		t.Errorf("bad base64: %v, want 400 naming data[k] without the value", err)
	}

	// An immutable secret keeps its data.
	imm, err := secrets.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Name: "imm", Namespace: "shop"}, Immutable: &yes, StringData: map[string]string{"k": "v"}})
	if err != nil {
		t.Fatal(err)
	}
	imm.StringData = map[string]string{"k": secretValue}
	if _, err := secrets.Update(ctx, imm); client.Code(err) != http.StatusUnprocessableEntity || !strings.Contains(err.Error(), "data: Forbidden") {
		t.Errorf("update of an immutable secret: %v, want 422 on data", err)
	}
}

func TestSecretTenantIsolation(t *testing.T) {
	env, _ := startLogged(t)
	ctx := context.Background()
	a, b := env.Tenant(t, "team-a"), env.Tenant(t, "team-b")
	if _, err := client.For[api.Secret](a).Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Name: "db", Namespace: "team-a"},
		StringData: map[string]string{"password": secretValue}}); err != nil {
		t.Fatalf("tenant creates a secret in its namespace: %v", err)
	}
	got, err := client.For[api.Secret](a).Get(ctx, "team-a", "db")
	if err != nil || string(got.Data["password"]) != secretValue {
		t.Fatalf("tenant reads its own secret: %v", err)
	}
	bs := client.For[api.Secret](b)
	if _, err := bs.Get(ctx, "team-a", "db"); client.Code(err) != http.StatusForbidden {
		t.Errorf("another tenant's get: %v, want 403", err)
	}
	if _, _, err := bs.List(ctx, "team-a", client.ListOptions{}); client.Code(err) != http.StatusForbidden {
		t.Errorf("another tenant's list: %v, want 403", err)
	}
	if w, err := bs.Watch(ctx, "team-a", client.ListOptions{}); client.Code(err) != http.StatusForbidden {
		if w != nil {
			w.Stop()
		}
		t.Errorf("another tenant's watch: %v, want 403", err)
	}
	if _, err := bs.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Name: "x", Namespace: "team-a"}}); client.Code(err) != http.StatusForbidden {
		t.Errorf("another tenant's create: %v, want 403", err)
	}
	if err := bs.Delete(ctx, "team-a", "db", client.DeleteOptions{}); client.Code(err) != http.StatusForbidden {
		t.Errorf("another tenant's delete: %v, want 403", err)
	}
	all, _, err := bs.List(ctx, "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range all {
		if s.Namespace != "team-b" {
			t.Errorf("team-b lists secret %s/%s", s.Namespace, s.Name)
		}
	}
}

func TestNodeGetsOnlySecretsOfItsPods(t *testing.T) {
	env, _ := startLogged(t)
	ctx := context.Background()
	createNamespace(t, env.Admin, "shop")
	n1, err := joinAs(t, env, joinToken(t, env, api.JoinTokenRequest{}), "n1")
	if err != nil {
		t.Fatal(err)
	}
	n2, err := joinAs(t, env, joinToken(t, env, api.JoinTokenRequest{}), "n2")
	if err != nil {
		t.Fatal(err)
	}
	admin := client.For[api.Secret](env.Admin)
	for _, name := range []string{"pull", "other"} {
		if _, err := admin.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "shop"},
			StringData: map[string]string{"password": secretValue}}); err != nil {
			t.Fatal(err)
		}
	}
	pod := newPod("shop", "web")
	pod.Spec.NodeName = "n1"
	pod.Spec.ImagePullSecrets = []api.LocalObjectReference{{Name: "pull"}, {Name: "missing"}}
	if _, err := client.For[api.Pod](env.Admin).Create(ctx, pod); err != nil {
		t.Fatal(err)
	}

	s1 := client.For[api.Secret](n1)
	got, err := s1.Get(ctx, "shop", "pull")
	if err != nil || string(got.Data["password"]) != secretValue {
		t.Fatalf("node gets the pull secret of its pod: %v", err)
	}
	// A referenced secret that does not exist is reported as missing, so
	// the node can say why the pod waits.
	if _, err := s1.Get(ctx, "shop", "missing"); !client.IsNotFound(err) {
		t.Errorf("node gets a referenced, missing secret: %v, want 404", err)
	}
	forbiddenCases := []struct {
		name string
		do   func() error
	}{
		{"secret no pod of the node references", func() error { _, err := s1.Get(ctx, "shop", "other"); return err }},
		{"another node's pod's secret", func() error { _, err := client.For[api.Secret](n2).Get(ctx, "shop", "pull"); return err }},
		{"list", func() error { _, _, err := s1.List(ctx, "shop", client.ListOptions{}); return err }},
		{"list everywhere", func() error { _, _, err := s1.List(ctx, "", client.ListOptions{}); return err }},
		{"watch", func() error {
			w, err := s1.Watch(ctx, "shop", client.ListOptions{})
			if err == nil {
				w.Stop()
			}
			return err
		}},
		{"update", func() error { _, err := s1.Update(ctx, got); return err }},
		{"delete", func() error { return s1.Delete(ctx, "shop", "pull", client.DeleteOptions{}) }},
		{"create", func() error {
			_, err := s1.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Name: "mine", Namespace: "shop"}})
			return err
		}},
	}
	for _, c := range forbiddenCases {
		t.Run(c.name, func(t *testing.T) {
			if err := c.do(); client.Code(err) != http.StatusForbidden {
				t.Errorf("got %v, want 403", err)
			}
		})
	}

	// Once the pod is gone, so is the node's access.
	if err := client.For[api.Pod](env.Admin).Delete(ctx, "shop", "web", client.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s1.Get(ctx, "shop", "pull"); client.Code(err) != http.StatusForbidden {
		t.Errorf("node gets the secret after its pod was deleted: %v, want 403", err)
	}
}
