package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
)

// unreachableServer fails the test when the CLI contacts it.
func unreachableServer(t *testing.T) string {
	f := newFakeAPIWithFallback(t, nil, func(w http.ResponseWriter, r *http.Request) {
		t.Errorf("unexpected request %s %s", r.Method, r.URL.Path)
		writeStatus(w, 500, api.StatusReasonInternalError, "unexpected")
	})
	return f.URL
}

func TestApplyReportsEveryBrokenDocumentBeforeSending(t *testing.T) {
	cfg := writeConfig(t, unreachableServer(t), "dev")
	out, errOut, code := runCLI(t, "--config", cfg, "apply", "-f", "testdata/bad.yaml")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if out != "" {
		t.Errorf("stdout %q, want nothing applied", out)
	}
	lines := strings.Split(strings.TrimSpace(errOut), "\n")
	if len(lines) != 2 {
		t.Fatalf("want 2 error lines, got:\n%s", errOut)
	}
	mustContain(t, "first error", lines[0], "error: testdata/bad.yaml (document 2)", "spec.containers[0].imagee", "unknown field")
	mustContain(t, "second error", lines[1], "error: testdata/bad.yaml (document 3)", "metadata.name", "Bad_Name")
}

func TestApplyMalformedYAML(t *testing.T) {
	path := filepath.Join(t.TempDir(), "broken.yaml")
	os.WriteFile(path, []byte("apiVersion: v1\nkind: Pod\nmetadata:\n  name: [unclosed\n"), 0o600)
	_, errOut, code := runCLI(t, "--server", unreachableServer(t), "--config", filepath.Join(t.TempDir(), "none"), "apply", "-f", path)
	if code != 1 || !strings.HasPrefix(errOut, "error: "+path) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}

func TestApplyUnknownKindAndMissingFile(t *testing.T) {
	cfg := writeConfig(t, unreachableServer(t), "")
	_, errOut, code := runCLIWith(t, t.Context(), "apiVersion: v1\nkind: Gadget\nmetadata:\n  name: g\n", "--config", cfg, "apply", "-f", "-")
	if code != 1 || !strings.Contains(errOut, "STDIN (document 1)") || !strings.Contains(errOut, `"Gadget"`) {
		t.Errorf("unknown kind: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "--config", cfg, "apply", "-f", "testdata/nope.yaml")
	if code != 1 || errOut != "error: the path \"testdata/nope.yaml\" does not exist\n" {
		t.Errorf("missing file: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "--config", cfg, "apply")
	if code != 1 || !strings.Contains(errOut, "must specify at least one file with -f") {
		t.Errorf("no -f: exit %d, stderr %q", code, errOut)
	}
}

func TestSetNamespace(t *testing.T) {
	s := api.NewScheme()
	pods, _ := s.Lookup("pods")
	nodes, _ := s.Lookup("nodes")
	tests := []struct {
		name     string
		kind     *api.KindInfo
		objNS    string
		ns       string
		explicit bool
		want     string
		wantErr  string
	}{
		{"filled from context", pods, "", "dev", false, "dev", ""},
		{"filled from flag", pods, "", "dev", true, "dev", ""},
		{"own namespace wins over context", pods, "prod", "dev", false, "prod", ""},
		{"own namespace equal to flag", pods, "dev", "dev", true, "dev", ""},
		{"own namespace differs from flag", pods, "prod", "dev", true, "", `the namespace from the provided object "prod" does not match the namespace "dev"`},
		{"cluster-scoped kind untouched", nodes, "", "dev", true, "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj := tt.kind.New()
			obj.GetObjectMeta().Namespace = tt.objNS
			err := setNamespace(manifest{source: "x.yaml", index: 2, obj: obj, kind: tt.kind}, tt.ns, tt.explicit)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !strings.Contains(err.Error(), "x.yaml (document 2)") {
					t.Errorf("err = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := obj.GetObjectMeta().Namespace; got != tt.want {
				t.Errorf("namespace %q, want %q", got, tt.want)
			}
		})
	}
}

func TestDecodeDirectorySplitsDocumentsInOrder(t *testing.T) {
	sources, err := readSources([]string{"testdata/manifests"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	ms, errs := decodeManifests(api.NewScheme(), sources)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	var got []string
	for _, m := range ms {
		got = append(got, m.where()+" "+objectName(m.kind, m.obj))
	}
	want := []string{
		"testdata/manifests/01-namespace.yaml (document 1) namespace/dev",
		"testdata/manifests/02-pods.yml (document 1) pod/web",
		"testdata/manifests/02-pods.yml (document 2) pod/pinned",
		"testdata/manifests/03-pool.json (document 1) nodepool.iaas.cloudmgr.dev/private",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestApplyCreatesThenLeavesUnchanged(t *testing.T) {
	f, _ := newStoreAPI(t)
	cfg := writeConfig(t, f.URL, "team")
	out, errOut, code := runCLI(t, "--config", cfg, "apply", "-f", "testdata/manifests")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "namespace/dev created\npod/web created\npod/pinned created\nnodepool.iaas.cloudmgr.dev/private created\n"
	if out != want {
		t.Errorf("stdout:\n%s\nwant:\n%s", out, want)
	}
	posts := []string{}
	for _, l := range f.log() {
		if strings.HasPrefix(l, "POST") {
			posts = append(posts, l)
		}
	}
	wantPosts := []string{
		"POST /api/v1/namespaces",
		"POST /api/v1/namespaces/team/pods",
		"POST /api/v1/namespaces/other/pods",
		"POST /apis/iaas.cloudmgr.dev/v1alpha1/nodepools",
	}
	if strings.Join(posts, "\n") != strings.Join(wantPosts, "\n") {
		t.Errorf("creates:\n%s\nwant:\n%s", strings.Join(posts, "\n"), strings.Join(wantPosts, "\n"))
	}
	if auth := f.last().Auth; auth != "Bearer test-token" {
		t.Errorf("Authorization %q", auth)
	}

	out, _, code = runCLI(t, "--config", cfg, "apply", "-f", "testdata/manifests")
	want = "namespace/dev unchanged\npod/web unchanged\npod/pinned unchanged\nnodepool.iaas.cloudmgr.dev/private unchanged\n"
	if code != 0 || out != want {
		t.Errorf("second apply: exit %d, stdout:\n%s", code, out)
	}
}

func TestApplyConfiguresKeepingServerFields(t *testing.T) {
	f, store := newStoreAPI(t)
	cfg := writeConfig(t, f.URL, "dev")
	dir := t.TempDir()
	path := filepath.Join(dir, "pod.yaml")
	pod := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n  labels: {app: web}\nspec:\n  containers:\n  - name: web\n    image: nginx:1.27\n"
	os.WriteFile(path, []byte(pod), 0o600)
	if _, errOut, code := runCLI(t, "--config", cfg, "apply", "-f", path); code != 0 {
		t.Fatal(errOut)
	}
	// The scheduler binds the pod and a finalizer appears.
	store.set("/api/v1/namespaces/dev/pods/web", func(o map[string]any) {
		o["spec"].(map[string]any)["nodeName"] = "node-1"
		o["metadata"].(map[string]any)["finalizers"] = []any{"cloudmgr.dev/cleanup"}
	})
	if out, _, _ := runCLI(t, "--config", cfg, "apply", "-f", path); out != "pod/web unchanged\n" {
		t.Errorf("apply after binding: %q, want unchanged", out)
	}

	os.WriteFile(path, []byte(strings.Replace(pod, "app: web", "app: web, tier: front", 1)), 0o600)
	out, errOut, code := runCLI(t, "--config", cfg, "apply", "-f", path)
	if code != 0 || out != "pod/web configured\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	puts := f.bodies("PUT", "/api/v1/namespaces/dev/pods/web")
	if len(puts) != 1 {
		t.Fatalf("want 1 PUT, got %d", len(puts))
	}
	mustContain(t, "PUT body", puts[0], `"resourceVersion":"2"`, `"uid":"uid-1"`, `"nodeName":"node-1"`, `"cloudmgr.dev/cleanup"`, `"tier":"front"`)
	obj := store.object(t, "/api/v1/namespaces/dev/pods/web")
	if got := obj["metadata"].(map[string]any)["labels"].(map[string]any)["tier"]; got != "front" {
		t.Errorf("stored labels not updated: %v", obj["metadata"])
	}
}

func TestApplyRetriesOnceOnConflict(t *testing.T) {
	f, store := newStoreAPI(t)
	cfg := writeConfig(t, f.URL, "dev")
	path := filepath.Join(t.TempDir(), "ns.yaml")
	os.WriteFile(path, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n"), 0o600)
	runCLI(t, "--config", cfg, "apply", "-f", path)
	os.WriteFile(path, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {x: one}\n"), 0o600)

	conflicts := 1 // guarded by store.mu
	store.mu.Lock()
	store.beforePut = func(w http.ResponseWriter, _ string) bool {
		if conflicts == 0 {
			return false
		}
		conflicts--
		writeStatus(w, 409, api.StatusReasonConflict, "the object has been modified")
		return true
	}
	store.mu.Unlock()
	out, errOut, code := runCLI(t, "--config", cfg, "apply", "-f", path)
	if code != 0 || out != "namespace/a configured\n" {
		t.Errorf("one conflict: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	store.mu.Lock()
	conflicts = 2
	store.mu.Unlock()
	os.WriteFile(path, []byte("apiVersion: v1\nkind: Namespace\nmetadata:\n  name: a\n  labels: {x: two}\n"), 0o600)
	out, errOut, code = runCLI(t, "--config", cfg, "apply", "-f", path)
	if code != 1 || out != "" || errOut != "Error from server (Conflict): error when applying "+path+" (document 1): the object has been modified\n" {
		t.Errorf("two conflicts: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestApplyGoesOnAfterAFailure(t *testing.T) {
	f := newFakeAPIWithFallback(t, map[string]http.HandlerFunc{
		"POST /api/v1/namespaces/dev/pods": func(w http.ResponseWriter, _ *http.Request) {
			writeStatus(w, 403, api.StatusReasonForbidden, `pods is forbidden: tenant "acme" may not write namespace "dev"`)
		},
	}, newFakeStore().serve)
	cfg := writeConfig(t, f.URL, "dev")
	input := "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec: {containers: [{name: c, image: busybox}]}\n---\n" +
		"apiVersion: v1\nkind: Namespace\nmetadata: {name: ns1}\n"
	out, errOut, code := runCLIWith(t, t.Context(), input, "--config", cfg, "apply", "-f", "-")
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if out != "namespace/ns1 created\n" {
		t.Errorf("stdout %q", out)
	}
	if want := `Error from server (Forbidden): error when applying STDIN (document 1): pods is forbidden: tenant "acme" may not write namespace "dev"` + "\n"; errOut != want {
		t.Errorf("stderr %q, want %q", errOut, want)
	}
}

func TestApplyNamespaceFlagConflict(t *testing.T) {
	cfg := writeConfig(t, unreachableServer(t), "dev")
	_, errOut, code := runCLI(t, "--config", cfg, "-n", "prod", "apply", "-f", "testdata/manifests/02-pods.yml")
	if code != 1 || !strings.Contains(errOut, `02-pods.yml (document 2): the namespace from the provided object "other" does not match the namespace "prod"`) {
		t.Errorf("exit %d, stderr %q", code, errOut)
	}
}
