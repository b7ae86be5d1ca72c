package libvirt

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/test"
)

// testInit is the test initramfs's /init: it prints a marker to the
// serial console, loads the virtio and ISO 9660 modules, mounts the config
// drive and prints its non-secret file and its NICs' MAC addresses, then sleeps (it ignores ACPI, so
// Stop has to force the power off).
const testInit = `#!/bin/sh
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
echo "CLOUDMGR-TEST-BOOTED" > /dev/ttyS0
for m in $(cat /lib/modules/order); do insmod /lib/modules/$m; done
for n in /sys/class/net/*; do
  [ "${n##*/}" = lo ] || echo "CLOUDMGR-TEST-NIC: $(cat $n/address)" > /dev/ttyS0
done
# The config drive is the only disk: the guest names it vda whatever the
# target in the domain XML (a real guest finds it by its label, cidata).
i=0
while [ ! -b /dev/vda ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i+1)); done
if mount -t iso9660 -o ro /dev/vda /mnt; then
  echo "CLOUDMGR-TEST-FILES: $(ls /mnt | tr '\n' ' ')" > /dev/ttyS0
  echo "CLOUDMGR-TEST-HELLO: $(cat /mnt/hello.txt)" > /dev/ttyS0
else
  echo "CLOUDMGR-TEST-NO-CONFIG-DRIVE" > /dev/ttyS0
fi
while true; do sleep 3600; done
`

// qemuProvider returns a provider on the project's qemu:///system with
// the image "test" (the cloud kernel and the test initramfs).
func qemuProvider(t *testing.T) (*Provider, *test.SyncBuffer, string) {
	t.Helper()
	uri := libvirtURI(t, "qemu")
	kernel, modules := cloudKernel(t)
	initrd := filepath.Join(t.TempDir(), "initrd.gz")
	img := testInitramfs(t, modules, []string{"virtio_pci", "virtio_blk", "virtio_net", "isofs"}, testInit)
	if err := os.WriteFile(initrd, img, 0o644); err != nil {
		t.Fatal(err)
	}
	// TCG: this machine has a /dev/kvm, but nested KVM stops the guest
	// ("KVM internal error", or a hang after "Probing EDD").
	p, logs := newProvider(t, uri, Config{
		DomainType: "qemu",
		Pool:       test.LibvirtPool,
		Images:     map[string]Image{"test": {Kernel: kernel, Initrd: initrd, Cmdline: "console=ttyS0 quiet panic=-1"}},
	})
	return p, logs, uri
}

// waitConsole waits until the console log holds every one of want.
func waitConsole(t *testing.T, p *Provider, id string, timeout time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out, err := p.ConsoleLog(ctxT(t, 10*time.Second), id, 64<<10)
		if err != nil {
			t.Fatal(err)
		}
		ok := true
		for _, w := range want {
			ok = ok && bytes.Contains(out, []byte(w))
		}
		if ok {
			return string(out)
		}
		if time.Now().After(deadline) {
			t.Fatalf("console of %s lacks %q after %v:\n%s", id, want, timeout, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// TestQEMUMachineLifecycle boots a real TCG domain from the cloud kernel:
// its console shows the init's marker and a file of the config drive;
// it stops, starts again and is deleted without leaving a domain, volume
// or file behind.
func TestQEMUMachineLifecycle(t *testing.T) {
	p, logs, uri := qemuProvider(t)
	raw := rawConn(t, uri)
	ctx := ctxT(t, 5*time.Minute)

	info, err := p.InspectHost(ctx, "hv1", "")
	if err != nil {
		t.Fatal(err)
	}
	wantType := "qemu"
	host, _ := os.Hostname()
	if info.DomainType != wantType || info.CPUs <= 0 || info.MemoryMiB < 256 || info.Hostname == "" {
		t.Fatalf("InspectHost = %+v, want domain type %s", info, wantType)
	}

	spec := iaas.MachineSpec{
		Name: "lvtest-vm1", Hypervisor: "hv1", Group: "pool-q", CPUs: 1, MemoryMiB: 256, Image: "test",
		Labels: map[string]string{"tier": "test"},
		ConfigDrive: map[string][]byte{
			"hello.txt":      []byte("hello-from-the-config-drive\n"),
			"bootstrap.json": []byte(`{"joinToken":"secret-token-do-not-log"}`),
		},
	}
	m, err := p.Create(ctx, spec)
	if err != nil {
		t.Fatal(err)
	}
	deleted := false
	t.Cleanup(func() {
		if !deleted {
			_ = p.Delete(ctxT(t, time.Minute), m.ID)
		}
	})
	if m.State != iaas.StateRunning || m.CPUs != 1 || m.MemoryMiB != 256 || m.Host != info.Hostname || m.Labels["tier"] != "test" {
		t.Fatalf("created %+v", m)
	}
	t.Logf("machine %s on host %s (this host %s), domain type %s", m.ID, m.Host, host, info.DomainType)

	out := waitConsole(t, p, m.ID, 2*time.Minute, "CLOUDMGR-TEST-BOOTED", "CLOUDMGR-TEST-HELLO: hello-from-the-config-drive")
	if !strings.Contains(out, "bootstrap.json") {
		t.Errorf("the config drive's files are not listed:\n%s", out)
	}
	if strings.Contains(out, "secret-token") {
		t.Errorf("the secret reached the console")
	}
	// The kernel command line carries no secret.
	x, err := raw.DomainGetXMLDesc(mustDomain(t, raw, spec.Name), 0)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(x, "secret-token") || !strings.Contains(x, "type='"+wantType+"'") || !strings.Contains(x, MetadataNamespace) {
		t.Errorf("domain XML:\n%s", x)
	}

	// Stop: the test init ignores ACPI, so the power is forced off at
	// the context's deadline.
	stopCtx := ctxT(t, 4*time.Second)
	if err := p.Stop(stopCtx, m.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Get(ctx, m.ID); err != nil || got.State != iaas.StateStopped {
		t.Fatalf("after Stop: %+v, %v", got, err)
	}
	if err := p.Stop(ctx, m.ID); err != nil {
		t.Fatalf("Stop of a stopped machine: %v", err)
	}
	if err := p.Start(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	if got, err := p.Get(ctx, m.ID); err != nil || got.State != iaas.StateRunning {
		t.Fatalf("after Start: %+v, %v", got, err)
	}
	// The log is appended to: the second boot prints the marker again,
	// and a reboot (reset) a third time.
	waitBoots(t, p, m.ID, 2)
	if err := p.Reboot(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	waitBoots(t, p, m.ID, 3)
	if tail, err := p.ConsoleLog(ctx, m.ID, 10); err != nil || len(tail) != 10 {
		t.Fatalf("ConsoleLog(10) = %q, %v", tail, err)
	}
	// The path remote hypervisors take (StorageVolDownload) returns the
	// same tail as reading the file.
	local, err := p.ConsoleLog(ctx, m.ID, 200)
	if err != nil {
		t.Fatal(err)
	}
	f, err := p.lookup(ctx, m.ID)
	if err != nil {
		t.Fatal(err)
	}
	defer f.release()
	pool, err := f.l.StoragePoolLookupByName(test.LibvirtPool)
	if err != nil {
		t.Fatal(err)
	}
	remote, err := p.downloadTail(ctx, f, pool, 200)
	if err != nil || !bytes.Equal(remote, local) {
		t.Fatalf("downloaded tail %q (%v), want %q", remote, err, local)
	}
	// Other tests may run machines on the same daemon: look at ours.
	list, err := p.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ours []iaas.Machine
	for _, vm := range list {
		if strings.HasPrefix(vm.Name, "lvtest-") {
			ours = append(ours, vm)
		}
	}
	if len(ours) != 1 || ours[0].ID != m.ID {
		t.Fatalf("List = %+v, want %s among them, alone of this test's", list, m.ID)
	}

	// Delete leaves nothing: no domain, no volume, no file in the pool.
	poolDir := poolPath(t, raw, test.LibvirtPool)
	prefix := "cloudmgr-" + spec.Name + "-"
	if vols := poolVolumes(t, raw, test.LibvirtPool, prefix); len(vols) != 2 {
		t.Fatalf("volumes %v, want the config drive and the console log", vols)
	}
	isos, _ := filepath.Glob(filepath.Join(poolDir, prefix+"*-cidata.iso"))
	if len(isos) != 1 {
		t.Fatalf("config drive files %v", isos)
	}
	if fi, err := os.Stat(isos[0]); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("config drive file mode: %v %v, want 0600", fi.Mode(), err)
	}
	if err := p.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	deleted = true
	if _, err := p.Get(ctx, m.ID); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("Get after Delete = %v", err)
	}
	if _, err := raw.DomainLookupByName(spec.Name); err == nil {
		t.Fatal("the domain is still defined")
	}
	if vols := poolVolumes(t, raw, test.LibvirtPool, prefix); len(vols) != 0 {
		t.Fatalf("volumes left: %v", vols)
	}
	if files, _ := filepath.Glob(filepath.Join(poolDir, prefix+"*")); len(files) != 0 {
		t.Fatalf("files left: %v", files)
	}
	// The image volumes are a cache: kept by Delete, removed by
	// PruneImages once no domain uses them.
	initrdVol := imageVolumeName(t, p.cfg.Images["test"].Initrd)
	if vols := poolVolumes(t, raw, test.LibvirtPool, initrdVol); len(vols) != 2 {
		t.Fatalf("image volumes %v, want %s and its marker", vols, initrdVol)
	}
	pruned, err := p.PruneImages(ctx, "hv1", 0)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pruned, initrdVol) {
		t.Fatalf("PruneImages deleted %v, want %s among them", pruned, initrdVol)
	}
	if vols := poolVolumes(t, raw, test.LibvirtPool, initrdVol); len(vols) != 0 {
		t.Fatalf("image volumes left after PruneImages: %v", vols)
	}
	if strings.Contains(logs.String(), "secret-token") || strings.Contains(logs.String(), "hello-from") {
		t.Fatalf("the config drive reached the provider's log:\n%s", logs.String())
	}
}

// TestQEMURollback fails a real Create after the domain has started and
// checks that it is destroyed and undefined and its volumes deleted.
func TestQEMURollback(t *testing.T) {
	p, _, uri := qemuProvider(t)
	raw := rawConn(t, uri)
	for _, step := range []string{"define", "start"} {
		p.stepHook = failAt(step)
		name := "lvtest-rb-" + step
		_, err := p.Create(ctxT(t, 2*time.Minute), iaas.MachineSpec{Name: name, Hypervisor: "hv1", Flavor: "small",
			MemoryMiB: 256, Image: "test", ConfigDrive: map[string][]byte{"a": []byte("b")}})
		if !errors.Is(err, errInjected) {
			t.Fatalf("Create = %v, want the injected failure", err)
		}
		assertGone(t, raw, test.LibvirtPool, name)
	}
}

// waitBoots waits until the console shows n boots.
func waitBoots(t *testing.T, p *Provider, id string, n int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		out, err := p.ConsoleLog(ctxT(t, 10*time.Second), id, 0)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Count(string(out), "CLOUDMGR-TEST-BOOTED") >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("console shows fewer than %d boots:\n%s", n, out)
		}
		time.Sleep(500 * time.Millisecond)
	}
}
