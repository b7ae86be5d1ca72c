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
	a, err := Build(bin, applets, "amd64", "127.0.0.1:5055/cloudmgr/busybox:test")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Build(bin, applets, "amd64", "127.0.0.1:5055/cloudmgr/busybox:test")
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
}
