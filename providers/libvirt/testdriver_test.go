package libvirt

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/test"
)

// Fast cases against libvirt's test driver (test:///default) through the
// project's libvirtd: the same RPCs as QEMU, without booting anything.

// testDriverProvider returns a provider on test:///default (pool
// "default-pool", image "fake" made of random files) and a raw connection
// of the test's own to the same driver state.
func testDriverProvider(t *testing.T) (*Provider, *golibvirt.Libvirt, *test.SyncBuffer) {
	t.Helper()
	uri := libvirtURI(t, "test")
	// The test driver keeps its state while a connection is open: open
	// ours first so that the provider's shares it.
	raw := rawConn(t, uri)
	dir := t.TempDir()
	kernel := filepath.Join(dir, "vmlinuz")
	initrd := filepath.Join(dir, "initrd")
	// Content unique to the test, so that the image volumes are new.
	for _, f := range []string{kernel, initrd} {
		if err := os.WriteFile(f, []byte(f+time.Now().String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	p, logs := newProvider(t, uri, Config{
		Pool:   "default-pool",
		Images: map[string]Image{"fake": {Kernel: kernel, Initrd: initrd, Cmdline: "console=ttyS0"}},
	})
	// The test driver has no virStorageVolUpload (TestTestDriverRollback
	// checks that failure too): read the content and send nothing.
	p.upload = func(_ *golibvirt.Libvirt, _ golibvirt.StorageVol, r io.Reader, _ uint64) error {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	return p, raw, logs
}

func fakeSpec(name string) iaas.MachineSpec {
	return iaas.MachineSpec{
		Name: name, Hypervisor: "hv1", Group: "pool-a", Flavor: "small", Image: "fake",
		Labels:      map[string]string{"role": "worker"},
		ConfigDrive: map[string][]byte{"bootstrap.json": []byte(`{"token":"s3cr3t-join-token"}`)},
	}
}

// defineForeign defines a domain that is not this system's.
func defineForeign(t *testing.T, l *golibvirt.Libvirt, name string) golibvirt.Domain {
	t.Helper()
	dom, err := l.DomainDefineXML(`<domain type='test'><name>` + name + `</name><memory unit='MiB'>64</memory>` +
		`<os><type arch='x86_64'>hvm</type></os></domain>`)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.DomainUndefine(dom) })
	return dom
}

func TestTestDriverCreateListGetDelete(t *testing.T) {
	p, raw, logs := testDriverProvider(t)
	ctx := ctxT(t, time.Minute)
	foreign := defineForeign(t, raw, "foreign-vm")

	m, err := p.Create(ctx, fakeSpec("tdm-1"))
	if err != nil {
		t.Fatal(err)
	}
	host, _ := raw.ConnectGetHostname()
	if !strings.HasPrefix(m.ID, "libvirt://hv1/") || m.Name != "tdm-1" || m.Host != host || m.Hypervisor != "hv1" ||
		m.CPUs != 1 || m.MemoryMiB != 512 || m.State != iaas.StateRunning || m.Labels["role"] != "worker" || m.Provider != "libvirt" {
		t.Fatalf("created machine = %+v", m)
	}
	got, err := p.Get(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != m.ID || got.Name != "tdm-1" || got.State != iaas.StateRunning || got.Created.IsZero() || got.MemoryMiB != 512 {
		t.Fatalf("Get = %+v, want like %+v", got, m)
	}
	list, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Only machines (other tests' may share the driver's state), and of
	// this test's only this one.
	seen := 0
	for _, vm := range list {
		if vm.Name == "foreign-vm" || vm.Name == "test" {
			t.Fatalf("List has a foreign domain: %+v", vm)
		}
		if strings.HasPrefix(vm.Name, "tdm-") {
			seen++
			if vm.ID != m.ID {
				t.Fatalf("List has %+v, want only %s of this test", vm, m.ID)
			}
		}
	}
	if seen != 1 {
		t.Fatalf("List = %+v, want %s (domains there: %v)", list, m.ID, domainNames(t, raw))
	}
	// The foreign domains (the driver's "test" and ours) are not machines.
	if _, err := p.Get(ctx, machineID("hv1", foreign.UUID)); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("Get(foreign) = %v, want ErrNotFound", err)
	}
	if err := p.Delete(ctx, machineID("hv1", foreign.UUID)); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("Delete(foreign) = %v, want ErrNotFound", err)
	}
	if _, err := raw.DomainLookupByName("foreign-vm"); err != nil {
		t.Fatalf("the foreign domain was touched: %v", err)
	}
	prefix := "cloudmgr-tdm-1-"
	if vols := poolVolumes(t, raw, "default-pool", prefix); len(vols) != 2 {
		t.Fatalf("volumes %v, want the config drive and console log", vols)
	}

	if err := p.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, m.ID); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("second Delete = %v, want ErrNotFound", err)
	}
	if _, err := p.Get(ctx, m.ID); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("Get after Delete = %v, want ErrNotFound", err)
	}
	if vols := poolVolumes(t, raw, "default-pool", prefix); len(vols) != 0 {
		t.Fatalf("volumes left after Delete: %v", vols)
	}
	if strings.Contains(logs.String(), "s3cr3t") {
		t.Fatalf("the config drive reached the log:\n%s", logs.String())
	}
}

// TestTCPTransport reaches the project's libvirtd over TCP on loopback
// (qemu+tcp:// and test+tcp://, no auth, as a libvirtd with listen_tcp
// serves them), through a port of the test's own that forwards to the
// daemon's socket: host inspection, and a machine created, listed and
// deleted.
func TestTCPTransport(t *testing.T) {
	p, raw, _ := testDriverProvider(t)
	sock := strings.SplitN(libvirtURI(t, "test"), "socket=", 2)[1]
	px := startTCPProxy(t, sock)
	for name, uri := range map[string]string{"tcp-qemu": "qemu+tcp://" + px.path + "/system", "tcp-test": "test+tcp://" + px.path + "/default"} {
		if err := p.AddHypervisor(name, uri); err != nil {
			t.Fatalf("AddHypervisor(%s, %s): %v", name, uri, err)
		}
	}
	ctx := ctxT(t, time.Minute)
	host, err := raw.ConnectGetHostname()
	if err != nil {
		t.Fatal(err)
	}
	info, err := p.InspectHost(ctx, "tcp-qemu", "")
	if err != nil {
		t.Fatalf("InspectHost over TCP: %v", err)
	}
	if info.Hostname != host || info.CPUs <= 0 || info.MemoryMiB <= 0 || info.DomainType == "" {
		t.Fatalf("InspectHost over TCP = %+v, want host %s with CPUs and memory", info, host)
	}
	spec := fakeSpec("tcp-1")
	spec.Hypervisor = "tcp-test"
	m, err := p.Create(ctx, spec)
	if err != nil {
		t.Fatalf("Create over TCP: %v", err)
	}
	if !strings.HasPrefix(m.ID, "libvirt://tcp-test/") || m.State != iaas.StateRunning {
		t.Fatalf("created over TCP: %+v", m)
	}
	if _, err := raw.DomainLookupByName("tcp-1"); err != nil {
		t.Fatalf("the domain created over TCP is not in the daemon: %v", err)
	}
	if err := p.Delete(ctx, m.ID); err != nil {
		t.Fatalf("Delete over TCP: %v", err)
	}
	if _, err := raw.DomainLookupByName("tcp-1"); err == nil {
		t.Fatal("the domain deleted over TCP is still defined")
	}
	if px.accepted() < 2 {
		t.Fatalf("%d TCP connections, want one per hypervisor", px.accepted())
	}
}

func TestTestDriverNotFound(t *testing.T) {
	p, _, _ := testDriverProvider(t)
	ctx := ctxT(t, time.Minute)
	for _, id := range []string{
		"libvirt://hv1/3d5c9c7e-0000-4000-8000-000000000001",
		"libvirt://hv1/not-a-uuid",
		"openstack://x/y",
		"",
	} {
		if err := p.Delete(ctx, id); !errors.Is(err, iaas.ErrNotFound) {
			t.Errorf("Delete(%q) = %v, want ErrNotFound", id, err)
		}
		if _, err := p.Get(ctx, id); !errors.Is(err, iaas.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrNotFound", id, err)
		}
		if err := p.Start(ctx, id); !errors.Is(err, iaas.ErrNotFound) {
			t.Errorf("Start(%q) = %v, want ErrNotFound", id, err)
		}
	}
}

// TestTestDriverRollback fails Create after each step and checks that no
// domain and no volume of the machine is left, nor a half-uploaded image.
func TestTestDriverRollback(t *testing.T) {
	p, raw, _ := testDriverProvider(t)
	for _, stepName := range []string{"pool", "image", "configdrive", "console", "define", "start"} {
		t.Run(stepName, func(t *testing.T) {
			p.stepHook = failAt(stepName)
			defer func() { p.stepHook = nil }()
			name := "rb-" + stepName
			_, err := p.Create(ctxT(t, time.Minute), fakeSpec(name))
			if !errors.Is(err, errInjected) {
				t.Fatalf("Create = %v, want the injected failure", err)
			}
			assertGone(t, raw, "default-pool", name)
		})
	}
	// The context ends in the middle: everything made is undone all the
	// same.
	for _, stepName := range []string{"configdrive", "define", "start"} {
		t.Run("cancelled-after-"+stepName, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			p.stepHook = func(s string) error {
				if s == stepName {
					cancel()
				}
				return nil
			}
			defer func() { p.stepHook = nil }()
			name := "rb-cancel-" + stepName
			_, err := p.Create(ctx, fakeSpec(name))
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("Create = %v, want context.Canceled", err)
			}
			assertGone(t, raw, "default-pool", name)
		})
	}
	t.Run("upload-unsupported", func(t *testing.T) {
		saved := p.upload
		defer func() { p.upload = saved }()
		p.upload = func(l *golibvirt.Libvirt, vol golibvirt.StorageVol, r io.Reader, size uint64) error {
			return l.StorageVolUpload(vol, r, 0, size, 0)
		}
		// A new image, so that its kernel's upload is the one that fails.
		kernel := filepath.Join(t.TempDir(), "vmlinuz")
		if err := os.WriteFile(kernel, []byte(kernel+time.Now().String()), 0o600); err != nil {
			t.Fatal(err)
		}
		p.cfg.Images["fresh"] = Image{Kernel: kernel}
		spec := fakeSpec("rb-upload")
		spec.Image = "fresh"
		before := poolVolumes(t, raw, "default-pool", "cloudmgr-image-")
		_, err := p.Create(ctxT(t, time.Minute), spec)
		if err == nil || !strings.Contains(err.Error(), "not supported") || !strings.Contains(err.Error(), kernel) {
			t.Fatalf("Create = %v, want the driver's 'not supported'", err)
		}
		assertGone(t, raw, "default-pool", "rb-upload")
		if vols := poolVolumes(t, raw, "default-pool", "cloudmgr-image-"); len(vols) != len(before) {
			t.Fatalf("half-uploaded image volumes left: %v", vols)
		}
	})
	t.Run("missing-kernel-file", func(t *testing.T) {
		p.cfg.Images["gone"] = Image{Kernel: filepath.Join(t.TempDir(), "nope")}
		spec := fakeSpec("rb-gone")
		spec.Image = "gone"
		if _, err := p.Create(ctxT(t, time.Minute), spec); err == nil || !strings.Contains(err.Error(), "nope") {
			t.Fatalf("Create = %v, want the missing kernel named", err)
		}
		assertGone(t, raw, "default-pool", "rb-gone")
	})
	t.Run("bad-spec", func(t *testing.T) {
		for _, mut := range []func(*iaas.MachineSpec){
			func(s *iaas.MachineSpec) { s.Image = "unknown" },
			func(s *iaas.MachineSpec) { s.Flavor = "huge" },
			func(s *iaas.MachineSpec) { s.Network = "vlan:7" },
			func(s *iaas.MachineSpec) { s.Name = "Bad_Name" },
			func(s *iaas.MachineSpec) { s.Hypervisor = "nowhere" },
		} {
			spec := fakeSpec("rb-bad")
			mut(&spec)
			if _, err := p.Create(ctxT(t, time.Minute), spec); err == nil {
				t.Errorf("Create(%v) succeeded", spec)
			}
		}
		assertGone(t, raw, "default-pool", "rb-bad")
	})
	t.Run("name-taken", func(t *testing.T) {
		defineForeign(t, raw, "rb-taken")
		if _, err := p.Create(ctxT(t, time.Minute), fakeSpec("rb-taken")); err == nil || !strings.Contains(err.Error(), "already exists") {
			t.Fatalf("Create = %v, want 'already exists'", err)
		}
		if vols := poolVolumes(t, raw, "default-pool", "cloudmgr-rb-taken-"); len(vols) != 0 {
			t.Fatalf("volumes left: %v", vols)
		}
	})
}

// failAt is a step hook failing the named step.
func failAt(step string) func(string) error {
	return func(s string) error {
		if s == step {
			return errInjected
		}
		return nil
	}
}

func assertGone(t *testing.T, raw *golibvirt.Libvirt, pool, name string) {
	t.Helper()
	if _, err := raw.DomainLookupByName(name); err == nil {
		t.Errorf("domain %s is left (domains: %v)", name, domainNames(t, raw))
	}
	if vols := poolVolumes(t, raw, pool, "cloudmgr-"+name+"-"); len(vols) != 0 {
		t.Errorf("volumes left: %v", vols)
	}
}

func TestUnreachable(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "no-such-sock")
	p, _ := newProvider(t, "", Config{
		Hypervisors: map[string]string{
			"gone":   "qemu:///system?socket=" + missing,
			"closed": "qemu+tcp://127.0.0.1:1/system",
		},
		Images:      map[string]Image{"fake": {Kernel: "/dev/null"}},
		DialTimeout: 2 * time.Second,
	})
	ctx := ctxT(t, time.Minute)
	for _, hv := range []string{"gone", "closed"} {
		spec := fakeSpec("ur-1")
		spec.Hypervisor = hv
		if _, err := p.Create(ctx, spec); !errors.Is(err, iaas.ErrUnreachable) {
			t.Errorf("Create on %s = %v, want ErrUnreachable", hv, err)
		}
		if _, err := p.Get(ctx, "libvirt://"+hv+"/3d5c9c7e-0000-4000-8000-000000000001"); !errors.Is(err, iaas.ErrUnreachable) {
			t.Errorf("Get on %s = %v, want ErrUnreachable", hv, err)
		}
		if _, err := p.InspectHost(ctx, hv, ""); !errors.Is(err, iaas.ErrUnreachable) {
			t.Errorf("InspectHost on %s = %v, want ErrUnreachable", hv, err)
		}
	}
	if _, err := p.List(ctx); !errors.Is(err, iaas.ErrUnreachable) {
		t.Errorf("List = %v, want ErrUnreachable", err)
	}
	for _, uri := range []string{"qemu+libssh2://root@host/system", "qemu+tls://host/system", "qemu://host/system", "::"} {
		if err := p.AddHypervisor("x", uri); err == nil {
			t.Errorf("AddHypervisor(%q) accepted", uri)
		} else if strings.Contains(uri, "+") && !strings.Contains(err.Error(), "not supported yet") {
			t.Errorf("AddHypervisor(%q) = %v, want 'not supported yet'", uri, err)
		}
	}
}

// TestReconnect cuts the provider's connection (through a proxy socket)
// and checks that the next call reports ErrUnreachable once and the one
// after dials again.
func TestReconnect(t *testing.T) {
	uri := libvirtURI(t, "test")
	raw := rawConn(t, uri)
	_ = raw
	proxy := startProxy(t, strings.SplitN(uri, "socket=", 2)[1])
	p, _ := newProvider(t, "test:///default?socket="+proxy.path, Config{Pool: "default-pool"})
	ctx := ctxT(t, time.Minute)
	if _, err := p.List(ctx); err != nil {
		t.Fatal(err)
	}
	proxy.cut()
	// The broken connection is noticed (by the call or before it) and
	// dialled again.
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err := p.List(ctx)
		if err == nil {
			break
		}
		if !errors.Is(err, iaas.ErrUnreachable) {
			t.Fatalf("List after the cut = %v, want ErrUnreachable or success", err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("List keeps failing after the cut: %v", err)
		}
	}
	if proxy.accepted() < 2 {
		t.Fatalf("the provider did not dial again (%d connections)", proxy.accepted())
	}
	// With the hypervisor set changed at run time.
	p.RemoveHypervisor("hv1")
	if _, err := p.Get(ctx, "libvirt://hv1/3d5c9c7e-0000-4000-8000-000000000001"); err == nil || errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("Get on a removed hypervisor = %v, want an unknown-hypervisor error", err)
	}
	info, err := p.InspectHost(ctx, "hv2", uri)
	if err != nil {
		t.Fatal(err)
	}
	if info.CPUs <= 0 || info.MemoryMiB <= 0 || info.Hostname == "" || info.DomainType != "test" {
		t.Fatalf("InspectHost = %+v", info)
	}
	if got := p.Hypervisors(); len(got) != 1 || got[0] != "hv2" {
		t.Fatalf("Hypervisors = %v, want [hv2]", got)
	}
}

func TestFlavors(t *testing.T) {
	p, _ := newProvider(t, "test:///default", Config{})
	fs, _ := p.Flavors(context.Background())
	if len(fs) != 3 || fs[0] != (iaas.Flavor{Name: "small", CPUs: 1, MemoryMiB: 512}) {
		t.Fatalf("Flavors = %v", fs)
	}
	p2, _ := newProvider(t, "test:///default", Config{Flavors: []iaas.Flavor{{Name: "tiny", CPUs: 1, MemoryMiB: 256}}})
	if fs, _ := p2.Flavors(context.Background()); len(fs) != 1 || fs[0].Name != "tiny" {
		t.Fatalf("configured Flavors = %v", fs)
	}
}

func TestParseURI(t *testing.T) {
	for uri, want := range map[string]struct {
		driver string
		local  bool
	}{
		"qemu:///system":                     {"qemu:///system", true},
		"qemu+unix:///system?socket=/x/sock": {"qemu:///system", true},
		"test:///default?socket=/x/sock":     {"test:///default", true},
		"qemu+tcp://10.0.0.5/system":         {"qemu:///system", false},
		"qemu+tcp://10.0.0.5:16509/system":   {"qemu:///system", false},
	} {
		tgt, err := parseURI(uri, time.Second)
		if err != nil || string(tgt.driver) != want.driver || tgt.local != want.local {
			t.Errorf("parseURI(%q) = %v %v %v, want %v", uri, tgt.driver, tgt.local, err, want)
		}
	}
}

// TestTestDriverRollbackAfterConnectionLoss cuts the provider's connection
// in the middle of a Create: the call fails with ErrUnreachable and the
// rollback, on a new connection, leaves nothing behind.
func TestTestDriverRollbackAfterConnectionLoss(t *testing.T) {
	uri := libvirtURI(t, "test")
	raw := rawConn(t, uri)
	proxy := startProxy(t, strings.SplitN(uri, "socket=", 2)[1])
	p, _ := newProvider(t, "test:///default?socket="+proxy.path, Config{
		Pool:   "default-pool",
		Images: map[string]Image{"fake": {Kernel: "/etc/hostname"}},
	})
	p.upload = func(_ *golibvirt.Libvirt, _ golibvirt.StorageVol, r io.Reader, _ uint64) error {
		_, err := io.Copy(io.Discard, r)
		return err
	}
	p.stepHook = func(s string) error {
		if s == "define" {
			proxy.cut()
			time.Sleep(100 * time.Millisecond) // let the client notice
		}
		return nil
	}
	_, err := p.Create(ctxT(t, time.Minute), fakeSpec("rb-cut"))
	if !errors.Is(err, iaas.ErrUnreachable) {
		t.Fatalf("Create = %v, want ErrUnreachable", err)
	}
	assertGone(t, raw, "default-pool", "rb-cut")
	if proxy.accepted() < 2 {
		t.Fatalf("no new connection for the rollback (%d)", proxy.accepted())
	}
}

// TestTestDriverImageCache: an image is uploaded once for many machines,
// and again when its upload never completed (no marker volume).
func TestTestDriverImageCache(t *testing.T) {
	p, raw, _ := testDriverProvider(t)
	ctx := ctxT(t, time.Minute)
	kernelVol := imageVolumeName(t, p.cfg.Images["fake"].Kernel)
	uploads := map[string]int{}
	p.upload = func(_ *golibvirt.Libvirt, vol golibvirt.StorageVol, r io.Reader, _ uint64) error {
		uploads[vol.Name]++
		_, err := io.Copy(io.Discard, r)
		return err
	}
	var ids []string
	for _, name := range []string{"ic-1", "ic-2"} {
		m, err := p.Create(ctx, fakeSpec(name))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if uploads[kernelVol] != 1 {
		t.Fatalf("kernel uploaded %d times, want once (uploads %v)", uploads[kernelVol], uploads)
	}
	// An upload cut short leaves the volume without its marker.
	pool, err := raw.StoragePoolLookupByName("default-pool")
	if err != nil {
		t.Fatal(err)
	}
	if err := deleteVolume(raw, pool, kernelVol+markerSuffix); err != nil {
		t.Fatal(err)
	}
	m, err := p.Create(ctx, fakeSpec("ic-3"))
	if err != nil {
		t.Fatal(err)
	}
	ids = append(ids, m.ID)
	if uploads[kernelVol] != 2 {
		t.Fatalf("kernel uploaded %d times, want again after the marker went", uploads[kernelVol])
	}
	if vols := poolVolumes(t, raw, "default-pool", kernelVol); len(vols) != 2 {
		t.Fatalf("kernel volumes %v, want the image and its marker", vols)
	}
	for _, id := range ids {
		if err := p.Delete(ctx, id); err != nil {
			t.Fatal(err)
		}
	}
}

// TestHungDaemon: a daemon that stops answering (a frozen proxy) holds a
// call no longer than its context plus HungCallGrace, and a dial no
// longer than twice the dial timeout; once it answers again the provider
// dials anew.
func TestHungDaemon(t *testing.T) {
	uri := libvirtURI(t, "test")
	raw := rawConn(t, uri)
	_ = raw
	proxy := startProxy(t, strings.SplitN(uri, "socket=", 2)[1])
	p, _ := newProvider(t, "test:///default?socket="+proxy.path, Config{
		Pool: "default-pool", DialTimeout: 500 * time.Millisecond, HungCallGrace: 200 * time.Millisecond,
	})
	if _, err := p.List(ctxT(t, time.Minute)); err != nil {
		t.Fatal(err)
	}
	thaw := proxy.freeze()
	defer func() {
		if thaw != nil {
			thaw()
		}
	}()
	// Bounded by the test's own timer, not asserted as a duration.
	within := func(what string, f func() error) error {
		t.Helper()
		ch := make(chan error, 1)
		go func() { ch <- f() }()
		select {
		case err := <-ch:
			return err
		case <-time.After(30 * time.Second):
			t.Fatalf("%s still blocked after 30s", what)
			return nil
		}
	}
	err := within("Get on a hung daemon", func() error {
		_, err := p.Get(ctxT(t, 500*time.Millisecond), "libvirt://hv1/3d5c9c7e-0000-4000-8000-000000000001")
		return err
	})
	if !errors.Is(err, iaas.ErrUnreachable) {
		t.Fatalf("Get on a hung daemon = %v, want ErrUnreachable", err)
	}
	// The next call dials: the handshake gets no answer either.
	err = within("dial of a hung daemon", func() error {
		_, err := p.List(context.Background())
		return err
	})
	if !errors.Is(err, iaas.ErrUnreachable) {
		t.Fatalf("List on a hung daemon = %v, want ErrUnreachable", err)
	}
	thaw()
	thaw = nil
	if _, err := p.List(ctxT(t, time.Minute)); err != nil {
		t.Fatalf("List once the daemon answers again: %v", err)
	}
}

// TestTestDriverNetworks: network:NAME and bridge:NAME NICs, with the
// addresses libvirt reports for them.
func TestTestDriverNetworks(t *testing.T) {
	p, raw, _ := testDriverProvider(t)
	ctx := ctxT(t, time.Minute)
	for _, n := range []string{"network:default", "bridge:br0"} {
		spec := fakeSpec("net-" + strings.Split(n, ":")[0])
		spec.Network = n
		m, err := p.Create(ctx, spec)
		if err != nil {
			t.Fatal(err)
		}
		x, err := raw.DomainGetXMLDesc(mustDomain(t, raw, spec.Name), 0)
		if err != nil {
			t.Fatal(err)
		}
		kind, name, _ := strings.Cut(n, ":")
		if !strings.Contains(x, "<interface type='"+kind+"'>") || !strings.Contains(x, "='"+name+"'") {
			t.Errorf("%s: domain XML:\n%s", n, x)
		}
		got, err := p.Get(ctx, m.ID)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%s: addresses %v", n, got.Addresses)
		if kind == "network" && len(got.Addresses) == 0 {
			t.Errorf("%s: no addresses (the test driver reports leases)", n)
		}
		if err := p.Delete(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
	}
}

// TestTestDriverConcurrentCreates: machines created at once on one
// hypervisor share one upload of their image.
func TestTestDriverConcurrentCreates(t *testing.T) {
	p, raw, _ := testDriverProvider(t)
	ctx := ctxT(t, time.Minute)
	kernelVol := imageVolumeName(t, p.cfg.Images["fake"].Kernel)
	var mu sync.Mutex
	uploads := map[string]int{}
	p.upload = func(_ *golibvirt.Libvirt, vol golibvirt.StorageVol, r io.Reader, _ uint64) error {
		mu.Lock()
		uploads[vol.Name]++
		mu.Unlock()
		_, err := io.Copy(io.Discard, r)
		return err
	}
	const n = 6
	ids := make([]string, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m, err := p.Create(ctx, fakeSpec(fmt.Sprintf("cc-%d", i)))
			ids[i], errs[i] = m.ID, err
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("Create cc-%d: %v", i, err)
		}
	}
	if uploads[kernelVol] != 1 {
		t.Fatalf("kernel uploaded %d times", uploads[kernelVol])
	}
	list, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	got := 0
	for _, vm := range list {
		if strings.HasPrefix(vm.Name, "cc-") {
			got++
		}
	}
	if got != n {
		t.Fatalf("List has %d of this test's machines, want %d: %+v", got, n, list)
	}
	for _, id := range ids {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Delete(ctx, id); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for _, name := range domainNames(t, raw) {
		if strings.HasPrefix(name, "cc-") {
			t.Fatalf("domain left: %s", name)
		}
	}
}

// TestDefaultImage: a machine that names no image gets Config.DefaultImage,
// and without one it is refused naming the empty image, leaving nothing.
func TestDefaultImage(t *testing.T) {
	p, raw, _ := testDriverProvider(t)
	spec := fakeSpec("tdm-default-image")
	spec.Image = ""
	if _, err := p.Create(ctxT(t, time.Minute), spec); err == nil || !strings.Contains(err.Error(), `unknown image ""`) {
		t.Fatalf("create without an image and no default: %v, want unknown image", err)
	}
	if slices.Contains(domainNames(t, raw), spec.Name) {
		t.Fatalf("a refused create left domain %s", spec.Name)
	}
	p.cfg.DefaultImage = "fake"
	m, err := p.Create(ctxT(t, time.Minute), spec)
	if err != nil {
		t.Fatalf("create with the default image: %v", err)
	}
	if err := p.Delete(ctxT(t, time.Minute), m.ID); err != nil {
		t.Fatal(err)
	}
}

// TestSweepMachine: the volumes a machine left behind (its domain gone)
// are removed, those of a machine whose name merely starts alike are not,
// and nothing is removed while a domain of that name exists.
func TestSweepMachine(t *testing.T) {
	p, raw, _ := testDriverProvider(t)
	ctx := ctxT(t, time.Minute)
	pl, err := raw.StoragePoolLookupByName("default-pool")
	if err != nil {
		t.Fatal(err)
	}
	mk := func(name string) {
		x := fmt.Sprintf("<volume><name>%s</name><capacity unit='bytes'>1024</capacity></volume>", name)
		if _, err := raw.StorageVolCreateXML(pl, x, 0); err != nil {
			t.Fatalf("create volume %s: %v", name, err)
		}
	}
	mine := []string{"cloudmgr-swp-1-0a1b2c3d-cidata.iso", "cloudmgr-swp-1-0a1b2c3d-console.log"}
	others := []string{"cloudmgr-swp-1x-0a1b2c3d-cidata.iso", "cloudmgr-swp-1-notauuid-cidata.iso"}
	for _, v := range append(append([]string{}, mine...), others...) {
		mk(v)
	}
	if err := p.SweepMachine(ctx, "hv1", "swp-1"); err != nil {
		t.Fatal(err)
	}
	if got := poolVolumes(t, raw, "default-pool", "cloudmgr-swp-"); !slices.Equal(got, []string{"cloudmgr-swp-1-notauuid-cidata.iso", "cloudmgr-swp-1x-0a1b2c3d-cidata.iso"}) {
		t.Fatalf("after the sweep the pool holds %v; want only the other machine's and the odd name", got)
	}

	// A machine whose domain still exists keeps its volumes.
	m, err := p.Create(ctx, fakeSpec("swp-2"))
	if err != nil {
		t.Fatal(err)
	}
	before := poolVolumes(t, raw, "default-pool", "cloudmgr-swp-2-")
	if len(before) == 0 {
		t.Fatal("the created machine has no volumes")
	}
	if err := p.SweepMachine(ctx, "hv1", "swp-2"); err != nil {
		t.Fatal(err)
	}
	if got := poolVolumes(t, raw, "default-pool", "cloudmgr-swp-2-"); !slices.Equal(got, before) {
		t.Fatalf("sweep of a live machine changed its volumes: %v -> %v", before, got)
	}
	if err := p.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	for _, v := range others {
		_ = deleteVolume(raw, pl, v)
	}
}
