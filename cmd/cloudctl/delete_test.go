package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
)

func TestDeleteGracePeriods(t *testing.T) {
	tests := []struct {
		name  string
		flags []string
		query string
	}{
		{"object's own", nil, ""},
		{"explicit", []string{"--grace-period", "10"}, "gracePeriodSeconds=10"},
		{"now", []string{"--now"}, "gracePeriodSeconds=1"},
		{"force", []string{"--force"}, "gracePeriodSeconds=0"},
		{"force with zero", []string{"--force", "--grace-period=0"}, "gracePeriodSeconds=0"},
		{"cascade background", []string{"--cascade=background"}, ""},
		{"cascade foreground", []string{"--cascade=foreground"}, "propagationPolicy=Foreground"},
		{"cascade orphan", []string{"--cascade", "orphan"}, "propagationPolicy=Orphan"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeAPI(t, map[string]http.HandlerFunc{
				"DELETE /api/v1/namespaces/dev/pods/web": objectOf(testPod("dev", "web", "Running")),
			})
			cfg := writeConfig(t, f.URL, "dev")
			out, errOut, code := runCLI(t, append([]string{"--config", cfg, "delete", "pod", "web"}, tt.flags...)...)
			if code != 0 || out != "pod \"web\" deleted\n" {
				t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
			}
			if q := f.last().Query; q != tt.query {
				t.Errorf("query %q, want %q", q, tt.query)
			}
			if force := strings.Contains(errOut, "Immediate deletion"); force != strings.Contains(strings.Join(tt.flags, " "), "--force") {
				t.Errorf("force warning shown=%v, stderr %q", force, errOut)
			}
		})
	}
}

func TestDeleteFlagConflicts(t *testing.T) {
	cfg := writeConfig(t, unreachableServer(t), "dev")
	for _, flags := range [][]string{
		{"--now", "--grace-period", "5"},
		{"--now", "--force"},
		{"--force", "--grace-period", "5"},
		{"--grace-period", "-2"},
		{"--cascade", "sideways"},
	} {
		_, errOut, code := runCLI(t, append([]string{"--config", cfg, "delete", "pod", "web"}, flags...)...)
		if code != 1 || !strings.Contains(errOut, "Usage:") {
			t.Errorf("%v: exit %d, stderr %q", flags, code, errOut)
		}
	}
	if _, errOut, code := runCLI(t, "--config", cfg, "delete", "pods"); code != 1 || !strings.Contains(errOut, "no name was specified") {
		t.Errorf("delete without names: exit %d, stderr %q", code, errOut)
	}
}

func TestDeleteNotFound(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"DELETE /api/v1/nodes/n1": objectOf(&api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}),
	})
	cfg := writeConfig(t, f.URL, "dev")
	out, errOut, code := runCLI(t, "--config", cfg, "delete", "node", "gone", "n1")
	if code != 1 || out != "node \"n1\" deleted\n" || errOut != "Error from server (NotFound): no route DELETE /api/v1/nodes/gone\n" {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "--config", cfg, "delete", "node/gone", "node/n1", "--ignore-not-found")
	if code != 0 || out != "node \"n1\" deleted\n" || errOut != "" {
		t.Errorf("--ignore-not-found: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestDeleteFromFilesAndSelector(t *testing.T) {
	f, store := newStoreAPI(t)
	cfg := writeConfig(t, f.URL, "team")
	if _, errOut, code := runCLI(t, "--config", cfg, "apply", "-f", "testdata/manifests"); code != 0 {
		t.Fatal(errOut)
	}
	// Deleted in reverse order of the manifest: dependents before what
	// they live in.
	out, errOut, code := runCLI(t, "--config", cfg, "delete", "-f", "testdata/manifests/02-pods.yml")
	if code != 0 || out != "pod \"pinned\" deleted\npod \"web\" deleted\n" {
		t.Errorf("delete -f: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, ok := store.objects["/api/v1/namespaces/other/pods/pinned"]; ok {
		t.Error("pod other/pinned still stored")
	}

	lf := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/namespaces/dev/pods":      listOf("Pod", "9", testPod("dev", "a", "Running"), testPod("dev", "b", "Running")),
		"DELETE /api/v1/namespaces/dev/pods/a": objectOf(testPod("dev", "a", "Running")),
		"DELETE /api/v1/namespaces/dev/pods/b": objectOf(testPod("dev", "b", "Running")),
	})
	cfg = writeConfig(t, lf.URL, "dev")
	out, errOut, code = runCLI(t, "--config", cfg, "delete", "pods", "-l", "app=web", "--now")
	if code != 0 || out != "pod \"a\" deleted\npod \"b\" deleted\n" {
		t.Errorf("delete -l: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := lf.log(); got[0] != "GET /api/v1/namespaces/dev/pods?labelSelector=app%3Dweb" || got[1] != "DELETE /api/v1/namespaces/dev/pods/a?gracePeriodSeconds=1" {
		t.Errorf("requests %q", got)
	}
}
