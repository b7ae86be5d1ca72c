package main

import (
	"net/http"
	"path/filepath"
	"strings"
	"testing"
)

func TestVersion(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /version": objectOf(map[string]string{"version": "v0.4.2", "goVersion": "go1.26.8", "platform": "linux/amd64"}),
	})
	cfg := writeConfig(t, f.URL, "")
	out, errOut, code := runCLI(t, "--config", cfg, "version")
	want := "Client Version: dev\nServer Version: v0.4.2\nServer Go Version: go1.26.8, Platform: linux/amd64\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestVersionServerDown(t *testing.T) {
	f := newFakeAPI(t, nil)
	url := f.URL
	f.Close()
	cfg := writeConfig(t, url, "")
	out, errOut, code := runCLI(t, "--config", cfg, "version")
	if code != 1 || out != "Client Version: dev\n" || !strings.HasPrefix(errOut, "error: get server version: ") {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	// No config at all: the client version still prints.
	out, errOut, code = runCLI(t, "--config", filepath.Join(t.TempDir(), "none"), "version")
	if code != 1 || out != "Client Version: dev\n" || !strings.Contains(errOut, "no server configured") {
		t.Errorf("no config: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, _, code := runCLI(t, "--config", filepath.Join(t.TempDir(), "none"), "version", "--client"); code != 0 || out != "Client Version: dev\n" {
		t.Errorf("--client: exit %d, stdout %q", code, out)
	}
}
