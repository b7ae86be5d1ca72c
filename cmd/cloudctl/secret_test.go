package main

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// TestCreateSecretDockerRegistry creates registry credentials against the
// real API server and checks that get and describe never show them.
func TestCreateSecretDockerRegistry(t *testing.T) {
	env, cfg := realServerConfig(t)
	const password = "pa55-never-shown"
	cli := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		return runCLIWith(t, t.Context(), stdin, append([]string{"--config", cfg}, args...)...)
	}
	if _, errOut, code := cli("", "create", "namespace-less"); code == 0 {
		t.Fatalf("unknown create subcommand succeeded: %s", errOut)
	}
	out, errOut, code := cli("", "create", "secret", "docker-registry", "regcred",
		"--docker-server=127.0.0.1:5056", "--docker-username=ci", "--docker-password="+password)
	if code != 0 || out != "secret/regcred created\n" {
		t.Fatalf("create: exit %d, out %q, err %q", code, out, errOut)
	}
	out2, errOut2, code := cli(password+"\n", "create", "secret", "docker-registry", "fromstdin", "-n", "default",
		"--docker-server=https://127.0.0.1:5056", "--docker-username=ci", "--docker-password-stdin")
	if code != 0 {
		t.Fatalf("create from stdin: exit %d: %s", code, errOut2)
	}
	for _, s := range []string{out, errOut, out2, errOut2} {
		if strings.Contains(s, password) {
			t.Errorf("create printed the password: %q", s)
		}
	}

	s, err := client.For[api.Secret](env.Admin).Get(context.Background(), "default", "regcred")
	if err != nil {
		t.Fatal(err)
	}
	if s.Type != api.SecretTypeDockerConfigJSON {
		t.Errorf("type %q", s.Type)
	}
	var dc struct {
		Auths map[string]struct{ Username, Password, Auth string }
	}
	if err := json.Unmarshal(s.Data[api.DockerConfigJSONKey], &dc); err != nil {
		t.Fatalf("stored .dockerconfigjson: %v", err)
	}
	e := dc.Auths["127.0.0.1:5056"]
	if e.Username != "ci" || e.Password != password || e.Auth != base64.StdEncoding.EncodeToString([]byte("ci:"+password)) {
		t.Errorf("stored login for 127.0.0.1:5056: user %q, password matches %v, auth matches %v", e.Username, e.Password == password, e.Auth == base64.StdEncoding.EncodeToString([]byte("ci:"+password)))
	}

	out, errOut, code = cli("", "get", "secrets")
	if code != 0 {
		t.Fatalf("get secrets: %s", errOut)
	}
	if !regexp.MustCompile(`(?m)^NAME +TYPE +DATA +AGE\n(fromstdin|regcred) +kubernetes.io/dockerconfigjson +1 +\S+\n`).MatchString(out) {
		t.Errorf("get secrets:\n%s", out)
	}
	out, errOut, code = cli("", "describe", "secret", "regcred")
	if code != 0 {
		t.Fatalf("describe: %s", errOut)
	}
	size := len(s.Data[api.DockerConfigJSONKey])
	mustContain(t, "describe", out, "Name:", "regcred", "Type:", "kubernetes.io/dockerconfigjson", "Data\n====\n.dockerconfigjson:  "+strconv.Itoa(size)+" bytes")
	if strings.Contains(out, password) || strings.Contains(out, e.Auth) || strings.Contains(out, "auths") {
		t.Errorf("describe shows the credentials:\n%s", out)
	}

	bad := []struct {
		name string
		args []string
		want string
	}{
		{"no password", []string{"create", "secret", "docker-registry", "x", "--docker-username=ci"}, "--docker-password (or --docker-password-stdin) is required"},
		{"no user", []string{"create", "secret", "docker-registry", "x", "--docker-password=" + password}, "--docker-username is required"},
		{"bad name", []string{"create", "secret", "docker-registry", "Bad_Name", "--docker-username=ci", "--docker-password=" + password}, "invalid secret name"},
		{"no name", []string{"create", "secret", "docker-registry", "--docker-username=ci", "--docker-password=" + password}, "accepts 1 arg"},
		{"exists", []string{"create", "secret", "docker-registry", "regcred", "--docker-username=ci", "--docker-password=" + password}, "AlreadyExists"},
	}
	for _, b := range bad {
		t.Run(b.name, func(t *testing.T) {
			out, errOut, code := cli("", b.args...)
			if code == 0 {
				t.Fatalf("exit 0, out %q", out)
			}
			mustContain(t, "stderr", errOut, b.want)
			if strings.Contains(out+errOut, password) {
				t.Errorf("the error shows the password: %s", errOut)
			}
		})
	}
}

// TestApplySecretWithStringData: stringData in a manifest is merged into
// data before it is sent, so applying it again changes nothing.
func TestApplySecretWithStringData(t *testing.T) {
	env, cfg := realServerConfig(t)
	manifest := filepath.Join(t.TempDir(), "secret.yaml")
	if err := os.WriteFile(manifest, []byte("apiVersion: v1\nkind: Secret\nmetadata:\n  name: app\nstringData:\n  token: t0ken-value\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"secret/app created\n", "secret/app unchanged\n"} {
		out, errOut, code := runCLI(t, "--config", cfg, "apply", "-f", manifest)
		if code != 0 || out != want {
			t.Fatalf("apply: exit %d, out %q, want %q; %s", code, out, want, errOut)
		}
	}
	s, err := client.For[api.Secret](env.Admin).Get(context.Background(), "default", "app")
	if err != nil || string(s.Data["token"]) != "t0ken-value" || s.Type != api.SecretTypeOpaque {
		t.Fatalf("applied secret: %v", err)
	}
}
