package containerd

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/caas"
	"github.com/cloudmgr/cloud/test"
)

// The runtime pulls an image that exists in no registry through the
// control plane it was loaded into, runs it, and still pulls images the
// control plane does not hold from their own registry.
func TestPullThroughControlPlaneMirror(t *testing.T) {
	const ref = "airgap.example/busybox:1"
	env := apiservertest.Start(t, apiservertest.Options{})
	tarball, manifest, err := test.RenamedImage(ref)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("POST", env.URL+"/apis/images.cloudmgr.dev/v1/images", bytes.NewReader(tarball))
	req.Header.Set("Content-Type", "application/x-tar")
	req.Header.Set("Authorization", "Bearer "+env.AdminToken)
	hc, err := mirrorHost(&MirrorConfig{URL: env.URL, CA: env.CAPEM})
	if err != nil {
		t.Fatal(err)
	}
	resp, err := hc.Client.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("load: %v %v", resp, err)
	}
	resp.Body.Close()

	token, err := env.Server.IssueToken(context.Background(), apiserver.TokenSpec{Role: apiserver.RoleNode, User: "node:n1", Node: "n1"})
	if err != nil {
		t.Fatal(err)
	}
	rt := newTestRuntime(t)
	if rt.mirror, err = mirrorHost(&MirrorConfig{URL: env.URL, CA: env.CAPEM, Token: token}); err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	got, err := rt.EnsureImage(ctx, ref, false, nil)
	if err != nil || got != manifest {
		t.Fatalf("EnsureImage(%s) = %s, %v; want %s", ref, got, err, manifest)
	}

	spec := pod(t, rt, ctx)
	spec.Image, spec.Name = ref, "hello"
	spec.Command = []string{"sh", "-c", "echo air-gapped"}
	spec.LogPath = filepath.Join(t.TempDir(), "hello.log")
	id, err := rt.StartContainer(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	if st := waitExited(t, rt, ctx, id, 30*time.Second); st.ExitCode != 0 {
		t.Fatalf("exit %d", st.ExitCode)
	}
	if out, _ := os.ReadFile(spec.LogPath); !strings.Contains(string(out), "air-gapped") {
		t.Fatalf("log %q", out)
	}

	// Not loaded: the mirror answers 404 and the image's registry serves it.
	start := time.Now()
	if _, err := rt.EnsureImage(ctx, testImage(), true, nil); err != nil {
		t.Fatalf("pull %s past the mirror: %v", testImage(), err)
	}
	t.Logf("pull past the mirror took %s", time.Since(start))

	// The mirror's 404 must not hide why the image's own registry failed:
	// a registry that is down is unavailable, not "not found"; a missing
	// image is still not found.
	port, err := test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	down := fmt.Sprintf("127.0.0.1:%d", port)
	rt.cfg.PlainHTTPRegistries = append(rt.cfg.PlainHTTPRegistries, down)
	if _, err := rt.EnsureImage(ctx, down+"/cloudmgr/busybox:test", false, nil); !errors.Is(err, caas.ErrRegistryUnavailable) {
		t.Fatalf("pull from a registry that is down, past the mirror: %v; want ErrRegistryUnavailable", err)
	}
	missing := strings.SplitN(testImage(), "/", 2)[0] + "/cloudmgr/does-not-exist:1"
	if _, err := rt.EnsureImage(ctx, missing, false, nil); !errors.Is(err, caas.ErrImageNotFound) {
		t.Fatalf("pull of a missing image past the mirror: %v; want ErrImageNotFound", err)
	}
}
