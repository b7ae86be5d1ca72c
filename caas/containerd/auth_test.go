package containerd

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/caas"
)

// privateImage is the image make deps pushes to the registry that
// requires a login.
func privateImage() string {
	reg := os.Getenv("CLOUDMGR_AUTH_REGISTRY")
	if reg == "" {
		reg = "127.0.0.1:5056"
	}
	return reg + "/cloudmgr/busybox:private"
}

// registryLogin reads the login make deps made for that registry.
func registryLogin(t *testing.T) caas.RegistryAuth {
	t.Helper()
	path := filepath.Join(repoRoot(), ".run", "registry-auth", "credentials")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("registry login: %v; run `make deps` to start the registry that requires a login", err)
	}
	u, p, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	if !ok {
		t.Fatalf("%s: expected user:password", path)
	}
	return caas.RegistryAuth{Username: u, Password: p}
}

// newAuthTestRuntime is newTestRuntime that also reaches the registry
// with a login over plain HTTP.
func newAuthTestRuntime(t *testing.T) *Runtime {
	t.Helper()
	rt := newTestRuntime(t)
	rt.cfg.PlainHTTPRegistries = append(rt.cfg.PlainHTTPRegistries, registryHost(privateImage()))
	return rt
}

// TestEnsureImageWithLogin pulls from the real registry that requires a
// login: with the right one the image arrives and runs.
func TestEnsureImageWithLogin(t *testing.T) {
	rt := newAuthTestRuntime(t)
	ctx := testContext(t)
	login := registryLogin(t)
	digest, err := rt.EnsureImage(ctx, privateImage(), false, &login)
	if err != nil {
		t.Fatalf("pull with the right login: %v", err)
	}
	if !strings.HasPrefix(digest, "sha256:") {
		t.Fatalf("digest %q", digest)
	}
	// Present now: no second pull, so no login needed.
	if again, err := rt.EnsureImage(ctx, privateImage(), false, nil); err != nil || again != digest {
		t.Fatalf("image present: %q, %v", again, err)
	}
	spec := pod(t, rt, ctx)
	spec.Name, spec.Image, spec.Command = "private", privateImage(), []string{"true"}
	spec.LogPath = filepath.Join(t.TempDir(), "private.log")
	id, err := rt.StartContainer(ctx, spec)
	if err != nil {
		t.Fatalf("start a container of the private image: %v", err)
	}
	if st := waitExited(t, rt, ctx, id, 30*time.Second); st.ExitCode != 0 {
		t.Fatalf("exit code %d", st.ExitCode)
	}
}

// TestEnsureImageLoginRefused: no login or a wrong password is
// ErrUnauthorized, with no password in the error, and leaves no image.
func TestEnsureImageLoginRefused(t *testing.T) {
	rt := newAuthTestRuntime(t)
	ctx := testContext(t)
	login := registryLogin(t)
	wrong := caas.RegistryAuth{Username: login.Username, Password: login.Password + "-wrong"}
	unknown := caas.RegistryAuth{Username: "nobody", Password: "nothing"}
	for name, auth := range map[string]*caas.RegistryAuth{"no login": nil, "wrong password": &wrong, "unknown user": &unknown} {
		t.Run(name, func(t *testing.T) {
			_, err := rt.EnsureImage(ctx, privateImage(), true, auth)
			if !errors.Is(err, caas.ErrUnauthorized) {
				t.Fatalf("got %v, want ErrUnauthorized", err)
			}
			t.Logf("%s: %v", name, err)
			if auth != nil && strings.Contains(err.Error(), auth.Password) {
				t.Errorf("the error shows the password: %v", err)
			}
		})
	}
	if _, err := rt.client.GetImage(ctx, privateImage()); err == nil {
		t.Errorf("a refused pull left the image behind")
	}
}

// TestLoginOnlyForItsRegistry: the login given for one registry is not
// offered to another host.
func TestLoginOnlyForItsRegistry(t *testing.T) {
	for _, tc := range []struct {
		ref, host string
		want      bool
	}{
		{"127.0.0.1:5056/cloudmgr/busybox:private", "127.0.0.1:5056", true},
		{"127.0.0.1:5056/cloudmgr/busybox:private", "127.0.0.1:5055", false},
		{"127.0.0.1:5056/cloudmgr/busybox:private", "127.0.0.1", false},
		{"busybox:1.36", "registry-1.docker.io", true},
		{"docker.io/library/busybox", "registry-1.docker.io", true},
		{"busybox", "evil.example", false},
		{"reg.example/app", "reg.example.evil.example", false},
		{"Not A Ref", "", false},
	} {
		if got := sameRegistry(tc.host, registryHost(tc.ref)); got != tc.want {
			t.Errorf("login for %s offered to %s: %v, want %v", tc.ref, tc.host, got, tc.want)
		}
	}
}
