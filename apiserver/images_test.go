package apiserver_test

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/test"
)

const (
	imagesPath = "/apis/images.cloudmgr.dev/v1/images"
	airgapRef  = "airgap.example/busybox:1"
)

func airgapImage(t *testing.T) ([]byte, string) {
	t.Helper()
	tarball, manifest, err := test.RenamedImage(airgapRef)
	if err != nil {
		t.Fatal(err)
	}
	return tarball, manifest
}

func nodeToken(t *testing.T, env *apiservertest.Env, node string) string {
	t.Helper()
	tok, err := env.Server.IssueToken(context.Background(), apiserver.TokenSpec{Role: apiserver.RoleNode, User: "node:" + node, Node: node})
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// blobFiles lists the blobs in the image store.
func blobFiles(t *testing.T, env *apiservertest.Env) []string {
	t.Helper()
	entries, err := os.ReadDir(filepath.Join(env.Dir, "images", "blobs", "sha256"))
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	return out
}

func imageCount(t *testing.T, env *apiservertest.Env) int {
	t.Helper()
	var list api.ImageList
	if err := env.Admin.Do(context.Background(), "GET", imagesPath, nil, nil, &list); err != nil {
		t.Fatal(err)
	}
	return len(list.Items)
}

// Loading an image layout records an Image and serves it through /v2 to a
// node, as a containerd mirror asks for it.
func TestImageLoadAndServe(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	tarball, manifest := airgapImage(t)

	r := rawRequest(t, env, env.AdminToken, "POST", imagesPath, "application/x-tar", tarball)
	if r.Code != http.StatusCreated {
		t.Fatalf("load: %d %s", r.Code, r.Body)
	}
	var list api.ImageList
	if err := json.Unmarshal(r.Body, &list); err != nil || len(list.Items) != 1 {
		t.Fatalf("load answer %s: %v", r.Body, err)
	}
	img := list.Items[0]
	if img.Spec.Ref != airgapRef || img.Status.Digest != manifest || img.Name != api.ImageObjectName(airgapRef) ||
		img.Status.Size <= 2<<20 || len(img.Status.Platforms) != 1 || img.Status.LoadedAt == nil {
		t.Fatalf("loaded %+v", img)
	}
	var got api.Image
	if err := env.Admin.Do(context.Background(), "GET", imagesPath+"/"+img.Name, nil, nil, &got); err != nil || got.Status.Digest != manifest {
		t.Fatalf("get image %s: %+v, %v", img.Name, got, err)
	}

	node := nodeToken(t, env, "n1")
	r = rawRequest(t, env, node, "GET", "/v2/", "", nil)
	if r.Code != http.StatusOK || r.Header.Get("Docker-Distribution-API-Version") != "registry/2.0" {
		t.Fatalf("GET /v2/: %d %v", r.Code, r.Header)
	}
	// As a mirror asks (ns=host), and with the host in the name.
	for _, p := range []string{"/v2/busybox/manifests/1?ns=airgap.example", "/v2/airgap.example/busybox/manifests/1", "/v2/busybox/manifests/" + manifest + "?ns=airgap.example"} {
		r = rawRequest(t, env, node, "GET", p, "", nil)
		if r.Code != http.StatusOK || r.Header.Get("Docker-Content-Digest") != manifest ||
			r.Header.Get("Content-Type") != "application/vnd.oci.image.manifest.v1+json" || digestOf(r.Body) != manifest {
			t.Fatalf("GET %s: %d %v %s", p, r.Code, r.Header, r.Body)
		}
	}
	var m struct {
		Config struct{ Digest string }
		Layers []struct{ Digest string }
	}
	if err := json.Unmarshal(r.Body, &m); err != nil || len(m.Layers) != 1 {
		t.Fatalf("manifest %s: %v", r.Body, err)
	}
	for _, d := range []string{m.Config.Digest, m.Layers[0].Digest} {
		r = rawRequest(t, env, node, "GET", "/v2/busybox/blobs/"+d+"?ns=airgap.example", "", nil)
		if r.Code != http.StatusOK || digestOf(r.Body) != d || r.Header.Get("Docker-Content-Digest") != d {
			t.Fatalf("GET blob %s: %d %v", d, r.Code, r.Header)
		}
		r = rawRequest(t, env, node, "HEAD", "/v2/busybox/blobs/"+d+"?ns=airgap.example", "", nil)
		if r.Code != http.StatusOK || r.Header.Get("Content-Length") == "" || len(r.Body) != 0 {
			t.Fatalf("HEAD blob %s: %d %v", d, r.Code, r.Header)
		}
		// A blob is served only to the repositories whose images hold it.
		r = rawRequest(t, env, node, "GET", "/v2/other/blobs/"+d+"?ns=airgap.example", "", nil)
		if r.Code != http.StatusNotFound {
			t.Fatalf("blob of another repository: %d", r.Code)
		}
	}
	for _, p := range []string{"/v2/busybox/manifests/2?ns=airgap.example", "/v2/busybox/manifests/1?ns=docker.io", "/v2/library/busybox/manifests/1?ns=docker.io"} {
		r = rawRequest(t, env, node, "GET", p, "", nil)
		if r.Code != http.StatusNotFound || !bytes.Contains(r.Body, []byte("MANIFEST_UNKNOWN")) {
			t.Fatalf("GET %s: %d %s, want 404 MANIFEST_UNKNOWN", p, r.Code, r.Body)
		}
	}

	// Anonymous: 401 with a challenge; a tenant: 403; writes: 405.
	r = rawRequest(t, env, "", "GET", "/v2/busybox/manifests/1?ns=airgap.example", "", nil)
	if r.Code != http.StatusUnauthorized || r.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("anonymous: %d %v", r.Code, r.Header)
	}
	env.Tenant(t, "team-a")
	var tok apiserver.TenantToken
	if err := env.Admin.Do(context.Background(), "POST", "/api/v1/tenants/team-a/token", nil, map[string]string{}, &tok); err != nil {
		t.Fatal(err)
	}
	if r = rawRequest(t, env, tok.Token, "GET", "/v2/busybox/manifests/1?ns=airgap.example", "", nil); r.Code != http.StatusForbidden {
		t.Fatalf("tenant pull: %d", r.Code)
	}
	if r = rawRequest(t, env, env.AdminToken, "PUT", "/v2/busybox/manifests/1?ns=airgap.example", "", []byte("{}")); r.Code != http.StatusMethodNotAllowed {
		t.Fatalf("push: %d", r.Code)
	}
	// Only nodes and admins pull; only admins load.
	for _, token := range []string{tok.Token, node} {
		r = rawRequest(t, env, token, "POST", imagesPath, "application/x-tar", tarball)
		wantRawStatus(t, r, http.StatusForbidden, api.StatusReasonForbidden)
	}

	// Loading the same image again replaces the object and keeps the blobs.
	before := blobFiles(t, env)
	if r = rawRequest(t, env, env.AdminToken, "POST", imagesPath, "application/x-tar", tarball); r.Code != http.StatusCreated {
		t.Fatalf("load again: %d %s", r.Code, r.Body)
	}
	if after := blobFiles(t, env); len(after) != len(before) || len(before) != 3 || imageCount(t, env) != 1 {
		t.Fatalf("blobs %v then %v, %d images", before, after, imageCount(t, env))
	}

	// Deleting the image removes its blobs.
	r = rawRequest(t, env, env.AdminToken, "DELETE", imagesPath+"/"+img.Name, "", nil)
	if r.Code != http.StatusOK {
		t.Fatalf("delete: %d %s", r.Code, r.Body)
	}
	if left := blobFiles(t, env); len(left) != 0 {
		t.Fatalf("blobs left after delete: %v", left)
	}
	if r = rawRequest(t, env, node, "GET", "/v2/busybox/manifests/1?ns=airgap.example", "", nil); r.Code != http.StatusNotFound {
		t.Fatalf("deleted image still served: %d", r.Code)
	}
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// rewrite returns the tarball with each file passed through edit (nil
// drops the file).
func rewrite(t *testing.T, tarball []byte, edit func(name string, body []byte) []byte) []byte {
	t.Helper()
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(tarball))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if body = edit(h.Name, body); body == nil && h.Typeflag == tar.TypeReg {
			continue
		}
		h.Size = int64(len(body))
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		_, _ = tw.Write(body)
	}
	_ = tw.Close()
	return out.Bytes()
}

// Bad tarballs are refused with 400 and a clear message, and leave
// nothing behind: no Image object, no blob, no staged file.
func TestImageLoadBadInput(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{MaxImageBytes: 3 << 20})
	tarball, _ := airgapImage(t)
	keep := func(_ string, b []byte) []byte { return b }
	for _, tc := range []struct {
		name, msg string
		code      int
		body      []byte
	}{
		{"not a tar", "not a tar archive", 400, []byte(strings.Repeat("hello, not a tarball\n", 100))},
		{"empty", "empty", 400, nil},
		{"truncated", "truncated", 400, tarball[:len(tarball)/2]},
		{"no index", "neither index.json", 400, rewrite(t, tarball, func(n string, b []byte) []byte {
			if n == "index.json" {
				return nil
			}
			return b
		})},
		{"digest mismatch", "digest mismatch", 400, rewrite(t, tarball, func(n string, b []byte) []byte {
			if strings.HasPrefix(n, "blobs/") && len(b) > 1<<20 {
				b = bytes.Clone(b)
				b[len(b)/2] ^= 0xff
			}
			return b
		})},
		{"missing layer", "blob missing", 400, rewrite(t, tarball, func(n string, b []byte) []byte {
			if strings.HasPrefix(n, "blobs/") && len(b) > 1<<20 {
				return nil
			}
			return b
		})},
		{"no name", "has no image name", 400, rewrite(t, tarball, func(n string, b []byte) []byte {
			if n == "index.json" {
				return bytes.ReplaceAll(b, []byte("io.containerd.image.name"), []byte("x"))
			}
			return b
		})},
		{"too large", "larger than", 413, rewrite(t, tarball, func(n string, b []byte) []byte {
			if strings.HasPrefix(n, "blobs/") && len(b) > 1<<20 {
				return bytes.Repeat(b, 2)
			}
			return b
		})},
		{"sane", "", 201, rewrite(t, tarball, keep)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := rawRequest(t, env, env.AdminToken, "POST", imagesPath, "application/x-tar", tc.body)
			if r.Code != tc.code || (tc.msg != "" && (r.Status == nil || !strings.Contains(r.Status.Message, tc.msg))) {
				t.Fatalf("%d %s, want %d with %q", r.Code, r.Body, tc.code, tc.msg)
			}
			if tc.code == 201 {
				return
			}
			if n := imageCount(t, env); n != 0 {
				t.Errorf("%d images recorded", n)
			}
			if b := blobFiles(t, env); len(b) != 0 {
				t.Errorf("blobs left: %v", b)
			}
			if tmp, _ := os.ReadDir(filepath.Join(env.Dir, "images", "tmp")); len(tmp) != 0 {
				t.Errorf("staging left: %v", tmp)
			}
		})
	}
	r := rawRequest(t, env, env.AdminToken, "POST", imagesPath, "application/json", []byte(`{"spec":{"ref":"a/b:1"}}`))
	wantRawStatus(t, r, http.StatusUnsupportedMediaType, api.StatusReasonUnsupportedMediaType)
	r = rawRequest(t, env, env.AdminToken, "PUT", imagesPath+"/"+api.ImageObjectName(airgapRef), "application/json", []byte(`{}`))
	wantRawStatus(t, r, http.StatusMethodNotAllowed, api.StatusReasonMethodNotAllowed)
}
