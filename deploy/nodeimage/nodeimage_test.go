package main

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// readCPIO parses a newc archive (the test's own reader, independent of
// the writer) into its entries, checking the padding and the trailer.
func readCPIO(t *testing.T, b []byte) []*entry {
	t.Helper()
	var out []*entry
	off := 0
	hex := func(i int) uint32 {
		v, err := strconv.ParseUint(string(b[off+6+8*i:off+6+8*i+8]), 16, 32)
		if err != nil {
			t.Fatalf("header field %d at %d: %v", i, off, err)
		}
		return uint32(v)
	}
	for {
		if off%4 != 0 || off+110 > len(b) || string(b[off:off+6]) != "070701" {
			t.Fatalf("no newc header at offset %d", off)
		}
		mode, size, rmaj, rmin, nsize := hex(1), hex(6), hex(9), hex(10), hex(11)
		if hex(2) != 0 || hex(3) != 0 || hex(5) != 0 {
			t.Fatalf("uid/gid/mtime not zero at %d", off)
		}
		name := string(b[off+110 : off+110+int(nsize)-1])
		off += 110 + int(nsize)
		off = (off + 3) &^ 3
		if name == "TRAILER!!!" {
			if off != len(b) {
				t.Fatalf("%d bytes after the trailer", len(b)-off)
			}
			return out
		}
		data := b[off : off+int(size)]
		off = (off + int(size) + 3) &^ 3
		out = append(out, &entry{Path: "/" + name, Mode: mode, Data: data, DevMajor: rmaj, DevMinor: rmin})
	}
}

func TestCPIORoundTrip(t *testing.T) {
	tr := tree{}
	tr.file("init", 0o755, []byte("#!/bin/sh\n"))
	tr.file("etc/a/b", 0o644, []byte("12345"))
	tr.symlink("bin/sh", "/bin/busybox")
	tr.chardev("dev/console", 0o600, 5, 1)
	var buf bytes.Buffer
	if err := writeCPIO(&buf, tr.sorted()); err != nil {
		t.Fatal(err)
	}
	got := readCPIO(t, buf.Bytes())
	var paths []string
	for _, e := range got {
		paths = append(paths, e.Path)
	}
	want := []string{"/bin", "/bin/sh", "/dev", "/dev/console", "/etc", "/etc/a", "/etc/a/b", "/init"}
	if !slices.Equal(paths, want) {
		t.Fatalf("paths = %v, want %v (parents first, sorted)", paths, want)
	}
	byPath := map[string]*entry{}
	for _, e := range got {
		byPath[e.Path] = e
	}
	if e := byPath["/etc/a/b"]; e.Mode != modeFile|0o644 || string(e.Data) != "12345" {
		t.Errorf("/etc/a/b = %o %q", e.Mode, e.Data)
	}
	if e := byPath["/bin/sh"]; e.Mode != modeSymlink|0o777 || string(e.Data) != "/bin/busybox" {
		t.Errorf("/bin/sh = %o %q", e.Mode, e.Data)
	}
	if e := byPath["/dev/console"]; e.Mode != modeCharDev|0o600 || e.DevMajor != 5 || e.DevMinor != 1 {
		t.Errorf("/dev/console = %o %d:%d", e.Mode, e.DevMajor, e.DevMinor)
	}
	if e := byPath["/etc"]; e.Mode != modeDir|0o755 {
		t.Errorf("/etc mode %o", e.Mode)
	}
	var again bytes.Buffer
	_ = writeCPIO(&again, tr.sorted())
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("two writes of one tree differ")
	}
}

const fakeDep = `kernel/a/virtio_pci.ko: kernel/a/virtio_pci_modern_dev.ko kernel/a/virtio.ko kernel/a/virtio_ring.ko
kernel/a/virtio_pci_modern_dev.ko: kernel/a/virtio.ko kernel/a/virtio_ring.ko
kernel/a/virtio.ko: kernel/a/virtio_ring.ko
kernel/a/virtio_ring.ko:
kernel/b/virtio_net.ko: kernel/b/failover.ko kernel/a/virtio.ko kernel/a/virtio_ring.ko
kernel/b/failover.ko:
kernel/c/nf-dash.ko:
kernel/d/loop1.ko: kernel/d/loop2.ko
kernel/d/loop2.ko: kernel/d/loop1.ko
`

func TestModuleLoadOrder(t *testing.T) {
	deps, err := parseModulesDep(strings.NewReader(fakeDep))
	if err != nil {
		t.Fatal(err)
	}
	order, err := deps.loadOrder([]string{"virtio_net", "virtio_pci", "nf_dash", "unix"}, map[string]bool{"unix": true})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"kernel/b/failover.ko", "kernel/a/virtio_ring.ko", "kernel/a/virtio.ko", "kernel/b/virtio_net.ko",
		"kernel/a/virtio_pci_modern_dev.ko", "kernel/a/virtio_pci.ko", "kernel/c/nf-dash.ko"}
	if !slices.Equal(order, want) {
		t.Fatalf("order = %v\nwant    %v", order, want)
	}
	if _, err := deps.loadOrder([]string{"nosuch"}, nil); err == nil || !strings.Contains(err.Error(), "nosuch") {
		t.Errorf("unknown module: err = %v", err)
	}
	if _, err := deps.loadOrder([]string{"loop1"}, nil); err == nil || !strings.Contains(err.Error(), "cycle") {
		t.Errorf("cycle: err = %v", err)
	}
	if _, err := parseModulesDep(strings.NewReader("no colon here\n")); err == nil {
		t.Error("a line without a colon was accepted")
	}
}

// TestHostModuleOrder: on this machine's cloud kernel every module the
// image loads comes after all it depends on.
func TestHostModuleOrder(t *testing.T) {
	k, err := newestCloudKernel("/boot")
	if err != nil {
		t.Fatal(err)
	}
	kver, _ := kernelVersion(k)
	f, err := os.Open(filepath.Join("/lib/modules", kver, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	deps, err := parseModulesDep(f)
	if err != nil {
		t.Fatal(err)
	}
	order, err := deps.loadOrder(modules, nil)
	if err != nil {
		t.Fatal(err)
	}
	pos := map[string]int{}
	for i, m := range order {
		pos[m] = i
	}
	for _, m := range order {
		for _, d := range deps[m] {
			if p, ok := pos[d]; !ok || p > pos[m] {
				t.Errorf("%s is loaded before its dependency %s", m, d)
			}
		}
	}
	names := map[string]bool{}
	for _, m := range order {
		names[moduleName(m)] = true
	}
	for _, m := range []string{"virtio_ring", "virtio", "virtio_pci", "virtio_net", "virtio_blk", "isofs", "cdrom", "overlay"} {
		if !names[m] {
			t.Errorf("%s is not loaded", m)
		}
	}
}

func TestSharedLibs(t *testing.T) {
	libs, err := sharedLibs([]string{"/usr/sbin/runc"})
	if err != nil {
		t.Fatal(err)
	}
	joined := strings.Join(libs, " ")
	for _, want := range []string{"libseccomp.so.2", "libc.so.6", "/lib64/ld-linux-x86-64.so.2"} {
		if !strings.Contains(joined, want) {
			t.Errorf("runc's libraries %v lack %s", libs, want)
		}
	}
	if libs, err := sharedLibs([]string{"/usr/bin/busybox"}); err != nil || len(libs) != 0 {
		t.Errorf("static busybox needs %v (%v), want nothing", libs, err)
	}
}

func TestVersionLess(t *testing.T) {
	if !versionLess("vmlinuz-6.1.0-9-cloud-amd64", "vmlinuz-6.1.0-56-cloud-amd64") {
		t.Error("6.1.0-9 should sort before 6.1.0-56")
	}
}

// testOptions builds from this machine's kernel and busybox, with runc
// standing in for all three container binaries and small files for the
// Go commands (whose content the test controls), so a build is quick.
func testOptions(t *testing.T, out string, cloudletContent *string) options {
	return options{out: out, repo: ".", modulesRoot: "/lib/modules", busybox: "/usr/bin/busybox",
		containerd: "/usr/sbin/runc", shim: "/usr/sbin/runc", runc: "/usr/sbin/runc",
		goBuild: func(repo, pkg, out string) error {
			return os.WriteFile(out, []byte(*cloudletContent+pkg), 0o755)
		}}
}

func TestBuildCachedAndDeterministic(t *testing.T) {
	content := "v1"
	outA, outB := t.TempDir(), t.TempDir()
	res, err := build(testOptions(t, outA, &content))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Rebuilt || !strings.Contains(res.String(), "built") {
		t.Fatalf("first build: %s", res)
	}
	res, err = build(testOptions(t, outA, &content))
	if err != nil {
		t.Fatal(err)
	}
	if res.Rebuilt || !strings.Contains(res.String(), "up to date") {
		t.Fatalf("second build with the same inputs: %s", res)
	}
	if _, err := build(testOptions(t, outB, &content)); err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(filepath.Join(outA, "initrd.img"))
	b, _ := os.ReadFile(filepath.Join(outB, "initrd.img"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Fatalf("two builds of the same inputs differ (%d and %d bytes)", len(a), len(b))
	}

	// A changed input rebuilds, naming it.
	content = "v2"
	res, err = build(testOptions(t, outA, &content))
	if err != nil {
		t.Fatal(err)
	}
	if !res.Rebuilt || !strings.Contains(res.Reason, "/usr/bin/cloudlet") {
		t.Fatalf("after cloudlet changed: %s", res)
	}
	// A missing output rebuilds.
	_ = os.Remove(filepath.Join(outA, "initrd.img"))
	if res, err = build(testOptions(t, outA, &content)); err != nil || !res.Rebuilt {
		t.Fatalf("after initrd.img was removed: %s %v", res, err)
	}

	// The image holds what the guest's init needs.
	zr, err := gzip.NewReader(bytes.NewReader(mustRead(t, filepath.Join(outA, "initrd.img"))))
	if err != nil {
		t.Fatal(err)
	}
	raw, err := io.ReadAll(zr)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]*entry{}
	for _, e := range readCPIO(t, raw) {
		files[e.Path] = e
	}
	kernel, _ := newestCloudKernel("/boot")
	kver, _ := kernelVersion(kernel)
	for _, p := range []string{"/init", "/bin/busybox", "/usr/bin/containerd", "/usr/bin/containerd-shim-runc-v2", "/usr/bin/runc",
		"/usr/bin/cloudlet", "/usr/bin/cloudmgr-logger", "/etc/containerd/config.toml", "/etc/udhcpc.script",
		"/etc/containerd/certs.d/" + registryInGuest + "/hosts.toml", "/lib64/ld-linux-x86-64.so.2",
		"/lib/modules/" + kver + "/load-order", "/dev/console", "/newroot", "/etc/acpi/PWRF/00000080"} {
		if files[p] == nil {
			t.Errorf("the image lacks %s", p)
		}
	}
	for _, applet := range []string{"/bin/sh", "/sbin/switch_root", "/sbin/insmod", "/sbin/udhcpc"} {
		if e := files[applet]; e == nil || e.Mode&0o170000 != modeSymlink || string(e.Data) != "/bin/busybox" {
			t.Errorf("applet %s is not a link to /bin/busybox: %+v", applet, e)
		}
	}
	if e := files["/init"]; e == nil || e.Mode&0o777 != 0o755 {
		t.Errorf("/init is not executable")
	}
	for _, m := range strings.Fields(string(files["/lib/modules/"+kver+"/load-order"].Data)) {
		if files[fmt.Sprintf("/lib/modules/%s/%s", kver, m)] == nil {
			t.Errorf("load-order names %s, which the image lacks", m)
		}
	}
	if !bytes.Contains(files["/usr/bin/cloudlet"].Data, []byte("v2")) {
		t.Error("the image holds an old cloudlet")
	}
}

func mustRead(t *testing.T, p string) []byte {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
