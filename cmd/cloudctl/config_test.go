package main

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/client"
)

const testCA = `-----BEGIN CERTIFICATE-----
MIIBhTCCASugAwIBAgIQIRi6zePL6mKjOipn+dNuaTAKBggqhkjOPQQDAjASMRAw
DgYDVQQKEwdBY21lIENvMB4XDTE3MTAyMDE5NDMwNloXDTE4MTAyMDE5NDMwNlow
EjEQMA4GA1UEChMHQWNtZSBDbzBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABD0d
7VNhbWvZLWPuj/RtHFjvtJBEwOkhbN/BnnE8rnZR8+sbwnc/KhCk3FhnpHZnQz7B
5aETbbIgmuvewdjvSBSjYzBhMA4GA1UdDwEB/wQEAwICpDATBgNVHSUEDDAKBggr
BgEFBQcDATAPBgNVHRMBAf8EBTADAQH/MCkGA1UdEQQiMCCCDmxvY2FsaG9zdDo1
NDUzgg4xMjcuMC4wLjE6NTQ1MzAKBggqhkjOPQQDAgNIADBFAiEA2zpJEPQyz6/l
Wf86aX6PepsntZv2GYlA5UpabfT2EZICICpJ5h/iI+i341gBmLiAFQOyTDT+/wQc
6MF9+Yw1Yy0t
-----END CERTIFICATE-----
`

func loadTestConfig(t *testing.T, path string) *client.ConfigFile {
	t.Helper()
	f, err := client.LoadConfigFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func TestSetContextCreatesConfig(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "config")
	caPath := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(caPath, []byte(testCA), 0o600); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := runCLI(t, "--config", path, "config", "set-context", "lab",
		"--server", "https://10.0.0.1:6443", "--token", "s3cret", "--namespace", "dev", "--certificate-authority", caPath)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if want := "Context \"lab\" created.\nSwitched to context \"lab\".\n"; out != want {
		t.Errorf("stdout %q, want %q", out, want)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("config mode %v, want 0600", fi.Mode().Perm())
	}
	f := loadTestConfig(t, path)
	want := client.Context{Server: "https://10.0.0.1:6443", Token: "s3cret", Namespace: "dev",
		CertificateAuthorityData: base64.StdEncoding.EncodeToString([]byte(testCA))}
	if f.CurrentContext != "lab" || len(f.Contexts) != 1 || f.Contexts[0].Context != want {
		t.Errorf("config = %+v", f)
	}

	// Updating changes only the given fields.
	out, errOut, code = runCLI(t, "--config", path, "config", "set-context", "--current", "-n", "prod")
	if code != 0 || out != "Context \"lab\" modified.\n" {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	want.Namespace = "prod"
	if got := loadTestConfig(t, path).Contexts[0].Context; got != want {
		t.Errorf("context after update = %+v, want %+v", got, want)
	}
}

func TestSetContextErrors(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "config")
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"new context without server", []string{"set-context", "x", "--namespace", "a"}, `context "x" needs a server`},
		{"bad server", []string{"set-context", "x", "--server", "10.0.0.1:6443"}, "must be an http(s) URL"},
		{"CA is not PEM", []string{"set-context", "x", "--server", "https://h", "--certificate-authority", notPEM}, "no PEM certificate"},
		{"no name", []string{"set-context"}, "give either a context NAME or --current"},
		{"no current", []string{"set-context", "--current", "--server", "https://h"}, "no current context is set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, errOut, code := runCLI(t, append([]string{"--config", path, "config"}, tt.args...)...)
			if code == 0 || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stderr %q, want an error containing %q", code, errOut, tt.want)
			}
		})
	}
	if _, err := os.Stat(path); err == nil {
		t.Errorf("a failed set-context wrote %s", path)
	}
}

func TestSetContextTokenFromStdin(t *testing.T) {
	path := filepath.Join(t.TempDir(), "config")
	out, errOut, code := runCLIWith(t, t.Context(), "tok-from-stdin\n", "--config", path, "config", "set-context", "a", "--server", "https://h", "--token-file", "-")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if strings.Contains(out, "tok-from-stdin") {
		t.Errorf("set-context printed the token: %q", out)
	}
	if tok := loadTestConfig(t, path).Contexts[0].Context.Token; tok != "tok-from-stdin" {
		t.Errorf("token %q", tok)
	}
}

// twoContexts writes a config with contexts a (current) and b.
func twoContexts(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	f := client.NewConfigFile("a", client.Context{Server: "https://a.example:6443", Token: "token-a", Namespace: "dev",
		CertificateAuthorityData: base64.StdEncoding.EncodeToString([]byte(testCA))})
	f.SetContext("b", client.Context{Server: "https://b.example:6443", Token: "token-b"})
	if err := f.Save(path); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUseContext(t *testing.T) {
	path := twoContexts(t)
	out, _, code := runCLI(t, "--config", path, "config", "use-context", "b")
	if code != 0 || out != "Switched to context \"b\".\n" {
		t.Fatalf("exit %d, stdout %q", code, out)
	}
	if cur := loadTestConfig(t, path).CurrentContext; cur != "b" {
		t.Errorf("current context %q, want b", cur)
	}
	out, _, _ = runCLI(t, "--config", path, "config", "current-context")
	if out != "b\n" {
		t.Errorf("current-context printed %q", out)
	}
	_, errOut, code := runCLI(t, "--config", path, "config", "use-context", "nope")
	if code != 1 || errOut != "error: no context exists with the name: \"nope\"\n" {
		t.Errorf("unknown context: exit %d, stderr %q", code, errOut)
	}
	if cur := loadTestConfig(t, path).CurrentContext; cur != "b" {
		t.Errorf("a failed use-context changed the current context to %q", cur)
	}
}

func TestGetContexts(t *testing.T) {
	path := twoContexts(t)
	out, _, code := runCLI(t, "--config", path, "config", "get-contexts")
	want := `CURRENT   NAME   SERVER                   NAMESPACE
*         a      https://a.example:6443   dev
          b      https://b.example:6443   
`
	if code != 0 || out != want {
		t.Errorf("exit %d, got:\n%q\nwant:\n%q", code, out, want)
	}
}

func TestConfigViewRedacts(t *testing.T) {
	path := twoContexts(t)
	out, _, code := runCLI(t, "--config", path, "config", "view")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	if strings.Contains(out, "token-a") || strings.Contains(out, "token-b") || strings.Contains(out, "LS0t") {
		t.Errorf("config view leaks secrets:\n%s", out)
	}
	mustContain(t, "config view", out, "token: REDACTED", "certificate-authority-data: DATA+OMITTED", "current-context: a", "server: https://b.example:6443")

	raw, _, _ := runCLI(t, "--config", path, "config", "view", "--raw")
	mustContain(t, "config view --raw", raw, "token: token-a", "token: token-b", "certificate-authority-data: LS0t")
}

func TestDeleteContext(t *testing.T) {
	path := twoContexts(t)
	out, errOut, code := runCLI(t, "--config", path, "config", "delete-context", "a")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	mustContain(t, "stdout", out, "deleted context a from "+path)
	mustContain(t, "stderr", errOut, "removed your current context")
	f := loadTestConfig(t, path)
	if f.CurrentContext != "" || len(f.Contexts) != 1 || f.Contexts[0].Name != "b" {
		t.Errorf("config after delete = %+v", f)
	}
	if _, _, code := runCLI(t, "--config", path, "config", "delete-context", "a"); code == 0 {
		t.Error("deleting a missing context succeeded")
	}
	if _, errOut, code := runCLI(t, "--config", path, "config", "current-context"); code == 0 || !strings.Contains(errOut, "not set") {
		t.Errorf("current-context with none set: exit %d, stderr %q", code, errOut)
	}
}

func TestConfigFromEnvironment(t *testing.T) {
	path := twoContexts(t)
	t.Setenv("CLOUDCTL_CONFIG", path)
	t.Setenv("CLOUDCTL_CONTEXT", "b")
	out, _, code := runCLI(t, "config", "current-context")
	if code != 0 || out != "a\n" {
		t.Errorf("current-context from CLOUDCTL_CONFIG: exit %d, %q", code, out)
	}
	o := newRootOptions(nil, nil, nil)
	newRootCommand(o)
	ctx, err := o.currentContext()
	if err != nil || ctx.Server != "https://b.example:6443" {
		t.Errorf("CLOUDCTL_CONTEXT=b gave %+v, %v", ctx, err)
	}
}
