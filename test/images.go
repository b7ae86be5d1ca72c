package test

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
)

// BusyboxTarball is the OCI image layout `make deps` builds with
// deploy/imagebuild, relative to the repository root.
const BusyboxTarball = ".run/images/busybox.tar"

// RepoRoot is the root of the repository.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..")
}

// RenamedImage returns the busybox image layout of `make deps` with its
// index renamed to ref (a name no registry has, to prove air-gapped
// loading), and the manifest digest.
func RenamedImage(ref string) ([]byte, string, error) {
	p := filepath.Join(RepoRoot(), BusyboxTarball)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, "", fmt.Errorf("%w; run `make deps` to build the test image", err)
	}
	var out bytes.Buffer
	tw := tar.NewWriter(&out)
	tr := tar.NewReader(bytes.NewReader(data))
	manifest := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", p, err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			return nil, "", fmt.Errorf("%s: %w", p, err)
		}
		if h.Name == "index.json" {
			var idx map[string]any
			if err := json.Unmarshal(body, &idx); err != nil {
				return nil, "", fmt.Errorf("%s: index.json: %w", p, err)
			}
			ms, _ := idx["manifests"].([]any)
			if len(ms) != 1 {
				return nil, "", fmt.Errorf("%s: index.json: want one manifest, have %d", p, len(ms))
			}
			m := ms[0].(map[string]any)
			m["annotations"] = map[string]any{"io.containerd.image.name": ref}
			manifest, _ = m["digest"].(string)
			if body, err = json.Marshal(idx); err != nil {
				return nil, "", err
			}
			h.Size = int64(len(body))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, "", err
		}
		if _, err := tw.Write(body); err != nil {
			return nil, "", err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, "", err
	}
	return out.Bytes(), manifest, nil
}

// BusyboxV2Tarball is the second version of the test image that `make deps`
// builds (deploy/imagebuild -release v2), relative to the repository root:
// the same files plus ReleaseFile.
const BusyboxV2Tarball = ".run/images/busybox-v2.tar"

// ReleaseFile is the file of the v2 test image that holds "v2\n"; the
// default test image has none.
const ReleaseFile = "/etc/cloudmgr-release"

// BusyboxImage returns the reference of the test image `make deps` pushes
// to registry (host:port).
func BusyboxImage(registry string) string { return registry + "/cloudmgr/busybox:test" }

// BusyboxV2Image returns the reference of the second, different version of
// the test image (with ReleaseFile) that `make deps` pushes to registry.
func BusyboxV2Image(registry string) string { return registry + "/cloudmgr/busybox:v2" }
