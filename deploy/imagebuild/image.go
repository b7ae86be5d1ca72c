package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"sort"
	"strings"
	"time"
)

// Media types of the OCI image spec.
const (
	mediaIndex    = "application/vnd.oci.image.index.v1+json"
	mediaManifest = "application/vnd.oci.image.manifest.v1+json"
	mediaConfig   = "application/vnd.oci.image.config.v1+json"
	mediaLayer    = "application/vnd.oci.image.layer.v1.tar"
)

// epoch is the fixed time of every file and of the image, so that builds
// are reproducible.
var epoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Descriptor points at a blob (OCI content descriptor).
type Descriptor struct {
	MediaType   string            `json:"mediaType"`
	Digest      string            `json:"digest"`
	Size        int64             `json:"size"`
	Platform    *Platform         `json:"platform,omitempty"`
	Annotations map[string]string `json:"annotations,omitempty"`
}

// Platform names the architecture and OS of a manifest.
type Platform struct {
	Architecture string `json:"architecture"`
	OS           string `json:"os"`
}

// Image is a built image: the layout tarball and the digests in it.
type Image struct {
	Tar      []byte
	Manifest string // digest of the manifest
	Config   string // digest of the config, the image ID
	Layer    string // digest of the only (uncompressed) layer, also its diff ID
}

// ReleaseFile is the file, in the image, that holds the release given to
// Build; the default image (release "") has none.
const ReleaseFile = "etc/cloudmgr-release"

// Build makes the root filesystem layer (busybox at /bin/busybox, applets as
// symbolic links to it, a minimal /etc) and wraps it in an OCI image layout
// whose index names the image ref. A non-empty release adds /ReleaseFile
// holding it and a line, so that the image differs from the default one;
// with release "" the image is the same, digest for digest, as before the
// option existed.
func Build(busybox []byte, applets []string, arch, ref, release string) (*Image, error) {
	layer, err := rootfs(busybox, applets, release)
	if err != nil {
		return nil, err
	}
	layerDesc := describe(mediaLayer, layer)
	createdBy := "cloudmgr deploy/imagebuild: Debian busybox-static"
	if release != "" {
		createdBy += ", release " + release
	}
	config, err := json.Marshal(map[string]any{
		"created":      epoch.Format(time.RFC3339),
		"architecture": arch,
		"os":           "linux",
		"config": map[string]any{
			"Env": []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"},
			"Cmd": []string{"sh"},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{layerDesc.Digest}},
		"history": []map[string]string{{
			"created":    epoch.Format(time.RFC3339),
			"created_by": createdBy,
		}},
	})
	if err != nil {
		return nil, err
	}
	configDesc := describe(mediaConfig, config)
	manifest, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaManifest,
		"config":        configDesc,
		"layers":        []Descriptor{layerDesc},
	})
	if err != nil {
		return nil, err
	}
	manifestDesc := describe(mediaManifest, manifest)
	manifestDesc.Platform = &Platform{Architecture: arch, OS: "linux"}
	manifestDesc.Annotations = map[string]string{
		"io.containerd.image.name":          ref,
		"org.opencontainers.image.ref.name": tagOf(ref),
	}
	index, err := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mediaIndex,
		"manifests":     []Descriptor{manifestDesc},
	})
	if err != nil {
		return nil, err
	}

	var files []file
	for _, blob := range [][]byte{layer, config, manifest} {
		files = append(files, file{name: "blobs/sha256/" + strings.TrimPrefix(digest(blob), "sha256:"), mode: 0o644, data: blob})
	}
	files = append(files,
		file{name: "oci-layout", mode: 0o644, data: []byte(`{"imageLayoutVersion":"1.0.0"}`)},
		file{name: "index.json", mode: 0o644, data: index},
	)
	out, err := writeTar(append([]file{{name: "blobs/", dir: true}, {name: "blobs/sha256/", dir: true}}, files...))
	if err != nil {
		return nil, err
	}
	return &Image{Tar: out, Manifest: manifestDesc.Digest, Config: configDesc.Digest, Layer: layerDesc.Digest}, nil
}

// rootfs returns the layer tarball of the image's root filesystem, with
// ReleaseFile when release is set.
func rootfs(busybox []byte, applets []string, release string) ([]byte, error) {
	files := []file{{name: "bin/busybox", mode: 0o755, data: busybox}}
	for _, d := range []string{"bin", "dev", "etc", "home", "proc", "root", "sbin", "sys", "usr", "usr/bin", "usr/sbin", "var", "var/run"} {
		files = append(files, file{name: d + "/", dir: true, mode: 0o755})
	}
	files = append(files,
		file{name: "tmp/", dir: true, mode: 0o1777},
		file{name: "etc/passwd", mode: 0o644, data: []byte("root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n")},
		file{name: "etc/group", mode: 0o644, data: []byte("root:x:0:\nnobody:x:65534:\n")},
		file{name: "etc/hostname", mode: 0o644, data: []byte("busybox\n")},
	)
	if release != "" {
		files = append(files, file{name: ReleaseFile, mode: 0o644, data: []byte(release + "\n")})
	}
	for _, a := range applets {
		files = append(files, file{name: a, link: "/bin/busybox", mode: 0o777})
	}
	return writeTar(files)
}

// file is one entry of a tarball: a regular file, a directory or a symlink.
type file struct {
	name string
	mode int64
	data []byte
	dir  bool
	link string
}

// writeTar writes the entries sorted by name (parents before children),
// owned by root, all with the fixed time.
func writeTar(files []file) ([]byte, error) {
	sort.Slice(files, func(i, j int) bool { return files[i].name < files[j].name })
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	seen := map[string]bool{}
	for _, f := range files {
		if seen[f.name] {
			continue
		}
		seen[f.name] = true
		h := &tar.Header{Name: f.name, Mode: f.mode, ModTime: epoch, Uname: "root", Gname: "root"}
		switch {
		case f.dir:
			h.Typeflag = tar.TypeDir
			if h.Mode == 0 {
				h.Mode = 0o755
			}
		case f.link != "":
			h.Typeflag, h.Linkname = tar.TypeSymlink, f.link
		default:
			h.Typeflag, h.Size = tar.TypeReg, int64(len(f.data))
		}
		if err := tw.WriteHeader(h); err != nil {
			return nil, fmt.Errorf("tar %s: %w", f.name, err)
		}
		if h.Typeflag == tar.TypeReg {
			if _, err := tw.Write(f.data); err != nil {
				return nil, err
			}
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func digest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

func describe(mediaType string, b []byte) Descriptor {
	return Descriptor{MediaType: mediaType, Digest: digest(b), Size: int64(len(b))}
}

// tagOf returns the tag of a reference such as host:port/repo:tag, or
// "latest" when it has none.
func tagOf(ref string) string {
	last := path.Base(ref)
	if i := strings.LastIndex(last, ":"); i >= 0 {
		return last[i+1:]
	}
	return "latest"
}
