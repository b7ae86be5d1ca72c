package main

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"strings"
	"testing"
)

// untar returns the regular files and symlink targets of a tarball.
func untar(t *testing.T, b []byte) (files map[string][]byte, links map[string]string) {
	t.Helper()
	files, links = map[string][]byte{}, map[string]string{}
	tr := tar.NewReader(bytes.NewReader(b))
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		switch h.Typeflag {
		case tar.TypeReg:
			data, _ := io.ReadAll(tr)
			files[h.Name] = data
		case tar.TypeSymlink:
			links[h.Name] = h.Linkname
		}
	}
}

func TestBuildIsReproducibleAndConsistent(t *testing.T) {
	bin := []byte("\x7fELF fake busybox")
	applets := Applets("bin/busybox\nbin/sh\nusr/bin/env\nlinuxrc\nsbin/init\n")
	if strings.Join(applets, " ") != "bin/sh usr/bin/env sbin/init" {
		t.Fatalf("applets %v", applets)
	}
	a, err := Build(bin, applets, "amd64", "127.0.0.1:5055/cloudmgr/busybox:test", "")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Build(bin, applets, "amd64", "127.0.0.1:5055/cloudmgr/busybox:test", "")
	if !bytes.Equal(a.Tar, b.Tar) {
		t.Fatal("two builds differ")
	}

	files, _ := untar(t, a.Tar)
	blob := func(d string) []byte { return files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] }
	var index struct {
		Manifests []Descriptor `json:"manifests"`
	}
	if err := json.Unmarshal(files["index.json"], &index); err != nil || len(index.Manifests) != 1 {
		t.Fatalf("index.json %s: %v", files["index.json"], err)
	}
	m := index.Manifests[0]
	if m.Digest != a.Manifest || m.Annotations["org.opencontainers.image.ref.name"] != "test" || digest(blob(m.Digest)) != m.Digest {
		t.Fatalf("index entry %+v", m)
	}
	var manifest struct {
		Config Descriptor   `json:"config"`
		Layers []Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(blob(m.Digest), &manifest); err != nil {
		t.Fatal(err)
	}
	var config struct {
		Architecture, OS string
		Config           struct{ Cmd []string }
		RootFS           struct {
			DiffIDs []string `json:"diff_ids"`
		} `json:"rootfs"`
	}
	if err := json.Unmarshal(blob(manifest.Config.Digest), &config); err != nil {
		t.Fatal(err)
	}
	if config.Architecture != "amd64" || config.OS != "linux" || strings.Join(config.Config.Cmd, " ") != "sh" ||
		len(config.RootFS.DiffIDs) != 1 || config.RootFS.DiffIDs[0] != manifest.Layers[0].Digest {
		t.Fatalf("config %+v, layers %+v", config, manifest.Layers)
	}

	layerFiles, links := untar(t, blob(manifest.Layers[0].Digest))
	if !bytes.Equal(layerFiles["bin/busybox"], bin) || links["bin/sh"] != "/bin/busybox" || links["usr/bin/env"] != "/bin/busybox" {
		t.Fatalf("layer files %v links %v", layerFiles, links)
	}
	if _, ok := links["linuxrc"]; ok {
		t.Fatal("linuxrc linked")
	}
	if _, ok := layerFiles[ReleaseFile]; ok {
		t.Fatalf("the default image has %s", ReleaseFile)
	}
}

// layerOf returns the digest and the regular files of an image's only
// layer, read back through its index and manifest.
func layerOf(t *testing.T, img *Image) (string, map[string][]byte) {
	t.Helper()
	files, _ := untar(t, img.Tar)
	blob := func(d string) []byte { return files["blobs/sha256/"+strings.TrimPrefix(d, "sha256:")] }
	var manifest struct {
		Layers []Descriptor `json:"layers"`
	}
	if err := json.Unmarshal(blob(img.Manifest), &manifest); err != nil || len(manifest.Layers) != 1 {
		t.Fatalf("manifest %s: %v", blob(img.Manifest), err)
	}
	d := manifest.Layers[0].Digest
	layer := blob(d)
	if digest(layer) != d || d != img.Layer {
		t.Fatalf("layer %s: blob digest %s, image says %s", d, digest(layer), img.Layer)
	}
	lf, _ := untar(t, layer)
	return d, lf
}

func TestBuildReleaseAddsTheFile(t *testing.T) {
	bin := []byte("\x7fELF fake busybox")
	applets := []string{"bin/sh", "bin/cat"}
	base, err := Build(bin, applets, "amd64", "127.0.0.1:5055/cloudmgr/busybox:test", "")
	if err != nil {
		t.Fatal(err)
	}
	v2, err := Build(bin, applets, "amd64", "127.0.0.1:5055/cloudmgr/busybox:v2", "v2")
	if err != nil {
		t.Fatal(err)
	}
	again, _ := Build(bin, applets, "amd64", "127.0.0.1:5055/cloudmgr/busybox:v2", "v2")
	if !bytes.Equal(v2.Tar, again.Tar) {
		t.Fatal("two builds with -release v2 differ")
	}
	baseLayer, baseFiles := layerOf(t, base)
	v2Layer, v2Files := layerOf(t, v2)
	if baseLayer == v2Layer || base.Config == v2.Config || base.Manifest == v2.Manifest {
		t.Fatalf("release v2 did not change the image: layer %s, config %s, manifest %s", v2Layer, v2.Config, v2.Manifest)
	}
	if got, ok := v2Files[ReleaseFile]; !ok || string(got) != "v2\n" {
		t.Fatalf("%s in the v2 layer: %q (present %t)", ReleaseFile, got, ok)
	}
	if _, ok := baseFiles[ReleaseFile]; ok {
		t.Fatalf("the default image has %s", ReleaseFile)
	}
	// Everything else is the same file set.
	delete(v2Files, ReleaseFile)
	if len(v2Files) != len(baseFiles) || !bytes.Equal(v2Files["bin/busybox"], bin) {
		t.Fatalf("v2 files %d, default %d", len(v2Files), len(baseFiles))
	}
}
