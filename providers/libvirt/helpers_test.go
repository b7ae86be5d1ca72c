package libvirt

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cloudmgr/cloud/test"
)

// TestMain holds the project libvirtd's lock, shared, while the package's
// tests run, so that a test elsewhere that stops the daemon waits for
// them (test.LockLibvirt).
func TestMain(m *testing.M) {
	unlock, err := test.LockLibvirt(false)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	unlock()
	os.Exit(code)
}

// libvirtURI is the project's libvirtd for driver ("qemu" or "test"), or
// a test failure saying how to start it.
func libvirtURI(t *testing.T, driver string) string {
	t.Helper()
	uri, err := test.LibvirtURI(driver)
	if err != nil {
		t.Fatal(err)
	}
	return uri
}

// newProvider makes a provider with the hypervisor "hv1" at uri; its log
// goes to the returned buffer (and to the test log).
func newProvider(t *testing.T, uri string, cfg Config) (*Provider, *test.SyncBuffer) {
	t.Helper()
	logs := &test.SyncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if cfg.Hypervisors == nil {
		cfg.Hypervisors = map[string]string{"hv1": uri}
	}
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.Close()
		if t.Failed() {
			t.Logf("provider log:\n%s", logs.String())
		}
	})
	return p, logs
}

// rawConn opens a go-libvirt connection of the test's own to the driver
// URI uri (with ?socket=) through the daemon.
func rawConn(t *testing.T, uri string) *golibvirt.Libvirt {
	t.Helper()
	tgt, err := parseURI(uri, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	l := golibvirt.NewWithDialer(tgt.dialer)
	if err := l.ConnectToURI(tgt.driver); err != nil {
		t.Fatalf("connect to %s: %v (is libvirtd up? run `make deps`)", uri, err)
	}
	t.Cleanup(func() { _ = l.Disconnect() })
	return l
}

// poolVolumes lists the names of the volumes in pool with prefix.
func poolVolumes(t *testing.T, l *golibvirt.Libvirt, pool, prefix string) []string {
	t.Helper()
	pl, err := l.StoragePoolLookupByName(pool)
	if err != nil {
		t.Fatal(err)
	}
	if err := l.StoragePoolRefresh(pl, 0); err != nil {
		t.Fatal(err)
	}
	vols, _, err := l.StoragePoolListAllVolumes(pl, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, v := range vols {
		if strings.HasPrefix(v.Name, prefix) {
			names = append(names, v.Name)
		}
	}
	sort.Strings(names)
	return names
}

// domainNames lists the names of all domains.
func domainNames(t *testing.T, l *golibvirt.Libvirt) []string {
	t.Helper()
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, d := range doms {
		names = append(names, d.Name)
	}
	sort.Strings(names)
	return names
}

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// cloudKernel is the Debian cloud kernel setup.sh installs and its
// modules directory.
func cloudKernel(t *testing.T) (kernel, modules string) {
	t.Helper()
	ks, _ := filepath.Glob("/boot/vmlinuz-*-cloud-amd64")
	if len(ks) == 0 {
		t.Fatal("no /boot/vmlinuz-*-cloud-amd64: run `make setup` (linux-image-cloud-amd64)")
	}
	sort.Strings(ks)
	kernel = ks[len(ks)-1]
	modules = "/lib/modules/" + strings.TrimPrefix(kernel, "/boot/vmlinuz-")
	return kernel, modules
}

// testInitramfs builds a gzipped newc initramfs: static busybox, the
// modules named (with their dependencies, in load order) and /init.
func testInitramfs(t *testing.T, modulesDir string, modules []string, initScript string) []byte {
	t.Helper()
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox-static: %v (run `make setup`)", err)
	}
	dep, err := os.ReadFile(filepath.Join(modulesDir, "modules.dep"))
	if err != nil {
		t.Fatal(err)
	}
	deps := map[string][]string{} // module file name -> dependency paths
	paths := map[string]string{}
	for _, line := range strings.Split(string(dep), "\n") {
		mod, rest, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		base := strings.TrimSuffix(filepath.Base(mod), ".ko")
		paths[base] = mod
		for _, d := range strings.Fields(rest) {
			deps[base] = append(deps[base], strings.TrimSuffix(filepath.Base(d), ".ko"))
		}
	}
	var order []string
	seen := map[string]bool{}
	var visit func(string)
	visit = func(m string) {
		if seen[m] {
			return
		}
		seen[m] = true
		if _, ok := paths[m]; !ok {
			t.Fatalf("module %s is not in %s/modules.dep", m, modulesDir)
		}
		for _, d := range deps[m] {
			visit(d)
		}
		order = append(order, m)
	}
	for _, m := range modules {
		visit(m)
	}

	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	w := &cpioWriter{w: zw}
	for _, d := range []string{"bin", "dev", "proc", "sys", "mnt", "tmp", "lib", "lib/modules"} {
		w.dir(d)
	}
	w.file("bin/busybox", bb, 0o755)
	for _, a := range []string{"sh", "mount", "echo", "cat", "insmod", "sleep", "ls", "poweroff"} {
		w.symlink("bin/"+a, "busybox")
	}
	var orderFile strings.Builder
	for _, m := range order {
		data, err := os.ReadFile(filepath.Join(modulesDir, paths[m]))
		if err != nil {
			t.Fatalf("module %s: %v (compressed modules are not handled)", m, err)
		}
		w.file("lib/modules/"+m+".ko", data, 0o644)
		fmt.Fprintf(&orderFile, "%s.ko\n", m)
	}
	w.file("lib/modules/order", []byte(orderFile.String()), 0o644)
	w.file("init", []byte(initScript), 0o755)
	w.trailer()
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// cpioWriter writes the newc format the kernel unpacks.
type cpioWriter struct {
	w   *gzip.Writer
	ino int
}

func (c *cpioWriter) entry(name string, mode uint32, data []byte) {
	c.ino++
	hdr := fmt.Sprintf("070701%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X%08X",
		c.ino, mode, 0, 0, 1, 0, len(data), 0, 0, 0, 0, len(name)+1, 0)
	c.w.Write([]byte(hdr + name + "\x00"))
	c.pad(len(hdr) + len(name) + 1)
	c.w.Write(data)
	c.pad(len(data))
}

func (c *cpioWriter) pad(n int) {
	if r := n % 4; r != 0 {
		c.w.Write(make([]byte, 4-r))
	}
}

func (c *cpioWriter) dir(name string)                      { c.entry(name, 0o040755, nil) }
func (c *cpioWriter) file(name string, d []byte, m uint32) { c.entry(name, 0o100000|m, d) }
func (c *cpioWriter) symlink(name, target string)          { c.entry(name, 0o120777, []byte(target)) }
func (c *cpioWriter) trailer()                             { c.entry("TRAILER!!!", 0, nil) }

func mustDomain(t *testing.T, l *golibvirt.Libvirt, name string) golibvirt.Domain {
	t.Helper()
	d, err := l.DomainLookupByName(name)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// poolPath is the directory of a dir pool.
func poolPath(t *testing.T, l *golibvirt.Libvirt, pool string) string {
	t.Helper()
	pl, err := l.StoragePoolLookupByName(pool)
	if err != nil {
		t.Fatal(err)
	}
	x, err := l.StoragePoolGetXMLDesc(pl, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(x, "<path>")
	dir, _, _ := strings.Cut(rest, "</path>")
	if dir == "" {
		t.Fatalf("pool %s has no path:\n%s", pool, x)
	}
	return dir
}

// imageVolumeName is the name of the image volume of file's content.
func imageVolumeName(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(data)
	return imagePrefix + hex.EncodeToString(sum[:])[:32]
}
