package configdrive

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

func TestBuildAndRead(t *testing.T) {
	files := map[string][]byte{
		"bootstrap.json": []byte(`{"server":"https://10.0.2.2:6443"}`),
		"ca.crt":         []byte("-----BEGIN CERTIFICATE-----\nx\n-----END CERTIFICATE-----\n"),
	}
	img, err := Build(files)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(img[32768:32768+2048], []byte("CIDATA")) && !bytes.Contains(img[32768:32768+2048], []byte("cidata")) {
		t.Fatalf("primary volume descriptor has no %q label", VolumeLabel)
	}
	got, err := Read(img)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(files) {
		t.Fatalf("read %d files, want %d: %v", len(got), len(files), keys(got))
	}
	for n, want := range files {
		if !bytes.Equal(got[n], want) {
			t.Errorf("%s: read %q, want %q (names read: %v)", n, got[n], want, keys(got))
		}
	}
}

// TestReadableByIsoinfo checks the image with an independent reader when
// genisoimage's isoinfo is installed (deploy/setup.sh installs it).
func TestReadableByIsoinfo(t *testing.T) {
	isoinfo, err := exec.LookPath("isoinfo")
	if err != nil {
		t.Fatalf("isoinfo not found (Debian genisoimage; run `make setup`): %v", err)
	}
	img, err := Build(map[string][]byte{"bootstrap.json": []byte("{}\n")})
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "cidata.iso")
	if err := os.WriteFile(p, img, 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(isoinfo, "-i", p, "-x", "/bootstrap.json;1").CombinedOutput()
	if err != nil || string(out) != "{}\n" {
		t.Fatalf("isoinfo -x: %q, %v", out, err)
	}
	pvd, err := exec.Command(isoinfo, "-d", "-i", p).CombinedOutput()
	if err != nil || !bytes.Contains(bytes.ToLower(pvd), []byte("volume id: cidata")) {
		t.Fatalf("isoinfo -d: %s, %v", pvd, err)
	}
}

func TestBuildRejectsBadNames(t *testing.T) {
	for _, n := range []string{"", "a/b", "UPPER.txt"} {
		if _, err := Build(map[string][]byte{n: nil}); err == nil {
			t.Errorf("name %q accepted", n)
		}
	}
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}
