package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"time"
)

// builderVersion changes whenever the layout of the image changes in a
// way its inputs do not show, so that cached images are rebuilt.
const builderVersion = "nodeimage/2"

// modules are the kernel modules the guest loads (their dependencies come
// along): virtio devices, the config drive's file system, the ACPI power
// button (a graceful shutdown), and what containers need (overlay for the
// snapshotter, veth, bridge, netfilter).
var modules = []string{
	"virtio_pci", "virtio_net", "virtio_blk", "isofs", "cdrom", "button", "evdev",
	"overlay", "veth", "bridge", "br_netfilter", "nf_nat", "xt_MASQUERADE", "nf_tables",
}

// registryInGuest is the host's project registry as a guest on QEMU's
// user-mode network reaches it.
const registryInGuest = "10.0.2.2:5055"

//go:embed guest
var guestFiles embed.FS

// options are the builder's inputs.
type options struct {
	out, repo, kernel, modulesRoot string
	busybox, containerd, shim      string
	runc                           string
	// goBuild builds a static command of the repository into a file;
	// tests replace it.
	goBuild func(repo, pkg, out string) error
}

// manifest records what an image was built from.
type manifest struct {
	Builder       string `json:"builder"`
	KernelVersion string `json:"kernelVersion"`
	// Inputs maps each file of the output (vmlinuz, or a path inside the
	// initramfs) to the sha256 of its content (or of a symlink's target).
	Inputs map[string]string `json:"inputs"`
}

// result says what build did.
type result struct {
	Dir      string
	Rebuilt  bool
	Reason   string
	Files    int
	Size     int64
	Duration time.Duration
}

func (r result) String() string {
	if !r.Rebuilt {
		return fmt.Sprintf("node image in %s is up to date (%d files)", r.Dir, r.Files)
	}
	return fmt.Sprintf("node image built in %s (%s): %d files, initrd.img %.1f MiB, in %s",
		r.Dir, r.Reason, r.Files, float64(r.Size)/(1<<20), r.Duration.Round(time.Millisecond))
}

func build(o options) (result, error) {
	start := time.Now()
	if err := o.defaults(); err != nil {
		return result{}, err
	}
	kver, err := kernelVersion(o.kernel)
	if err != nil {
		return result{}, err
	}
	kernel, err := os.ReadFile(o.kernel)
	if err != nil {
		return result{}, fmt.Errorf("kernel: %w", err)
	}
	t, err := o.tree(kver)
	if err != nil {
		return result{}, err
	}
	entries := t.sorted()
	m := manifest{Builder: builderVersion, KernelVersion: kver, Inputs: map[string]string{"vmlinuz": sum(kernel)}}
	for _, e := range entries {
		if len(e.Data) > 0 {
			m.Inputs[e.Path] = sum(e.Data)
		}
	}
	want, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return result{}, err
	}
	want = append(want, '\n')
	res := result{Dir: o.out, Files: len(entries)}
	mpath := filepath.Join(o.out, "manifest.json")
	have, err := os.ReadFile(mpath)
	switch {
	case err != nil:
		res.Reason = "no manifest"
	case !bytes.Equal(have, want):
		res.Reason = "inputs changed: " + changed(have, m)
	case !exists(filepath.Join(o.out, "vmlinuz")) || !exists(filepath.Join(o.out, "initrd.img")):
		res.Reason = "output missing"
	default:
		return res, nil
	}
	var buf bytes.Buffer
	zw, err := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	if err != nil {
		return result{}, err
	}
	if err := writeCPIO(zw, entries); err != nil {
		return result{}, fmt.Errorf("write cpio: %w", err)
	}
	if err := zw.Close(); err != nil {
		return result{}, err
	}
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return result{}, err
	}
	// The manifest goes last, so that a build cut short is redone.
	_ = os.Remove(mpath)
	for name, data := range map[string][]byte{"vmlinuz": kernel, "initrd.img": buf.Bytes()} {
		if err := writeFileAtomic(filepath.Join(o.out, name), data); err != nil {
			return result{}, err
		}
	}
	if err := writeFileAtomic(mpath, want); err != nil {
		return result{}, err
	}
	res.Rebuilt, res.Size, res.Duration = true, int64(buf.Len()), time.Since(start)
	return res, nil
}

// changed names (some of) the inputs that differ from the old manifest.
func changed(old []byte, m manifest) string {
	var prev manifest
	if json.Unmarshal(old, &prev) != nil {
		return "unreadable manifest"
	}
	if prev.Builder != m.Builder {
		return "builder " + prev.Builder + " -> " + m.Builder
	}
	var diff []string
	for k, v := range m.Inputs {
		if prev.Inputs[k] != v {
			diff = append(diff, k)
		}
	}
	for k := range prev.Inputs {
		if _, ok := m.Inputs[k]; !ok {
			diff = append(diff, k)
		}
	}
	sort.Strings(diff)
	if len(diff) > 5 {
		diff = append(diff[:5], fmt.Sprintf("and %d more", len(diff)-5))
	}
	return strings.Join(diff, ", ")
}

func (o *options) defaults() error {
	if o.kernel == "" {
		k, err := newestCloudKernel("/boot")
		if err != nil {
			return err
		}
		o.kernel = k
	}
	for _, b := range []struct {
		dst  *string
		name string
	}{{&o.containerd, "containerd"}, {&o.shim, "containerd-shim-runc-v2"}, {&o.runc, "runc"}} {
		if *b.dst != "" {
			continue
		}
		p, err := exec.LookPath(b.name)
		if err != nil {
			return fmt.Errorf("%s not found (install containerd and runc: make setup): %w", b.name, err)
		}
		*b.dst = p
	}
	if o.goBuild == nil {
		o.goBuild = goBuildStatic
	}
	return nil
}

var cloudKernel = regexp.MustCompile(`^vmlinuz-(.+-cloud-amd64)$`)

// newestCloudKernel is the /boot/vmlinuz-*-cloud-amd64 with the highest
// version (linux-image-cloud-amd64, installed by make setup).
func newestCloudKernel(boot string) (string, error) {
	ents, err := os.ReadDir(boot)
	if err != nil {
		return "", fmt.Errorf("find the cloud kernel: %w", err)
	}
	var found []string
	for _, e := range ents {
		if cloudKernel.MatchString(e.Name()) {
			found = append(found, e.Name())
		}
	}
	if len(found) == 0 {
		return "", fmt.Errorf("no %s/vmlinuz-*-cloud-amd64: install linux-image-cloud-amd64 (make setup)", boot)
	}
	sort.Slice(found, func(i, j int) bool { return versionLess(found[i], found[j]) })
	return filepath.Join(boot, found[len(found)-1]), nil
}

// versionLess compares names by their runs of digits as numbers.
func versionLess(a, b string) bool {
	num := regexp.MustCompile(`\d+|\D+`)
	pa, pb := num.FindAllString(a, -1), num.FindAllString(b, -1)
	for i := 0; i < len(pa) && i < len(pb); i++ {
		if pa[i] == pb[i] {
			continue
		}
		var na, nb int
		if _, err := fmt.Sscanf(pa[i], "%d", &na); err == nil {
			if _, err := fmt.Sscanf(pb[i], "%d", &nb); err == nil {
				return na < nb
			}
		}
		return pa[i] < pb[i]
	}
	return len(pa) < len(pb)
}

func kernelVersion(kernel string) (string, error) {
	base := filepath.Base(kernel)
	if !strings.HasPrefix(base, "vmlinuz-") {
		return "", fmt.Errorf("kernel %s: want a file named vmlinuz-<version>", kernel)
	}
	return strings.TrimPrefix(base, "vmlinuz-"), nil
}

// tree lays out the initramfs.
func (o *options) tree(kver string) (tree, error) {
	t := tree{}
	for _, d := range []string{"proc", "sys", "dev", "run", "tmp", "newroot", "mnt/cidata", "root", "var/lib", "var/log", "etc/containerd"} {
		t.dir(d, 0o755)
	}
	t.chardev("dev/console", 0o600, 5, 1)
	t.chardev("dev/null", 0o666, 1, 3)

	// The guest's own files.
	for src, dst := range map[string]struct {
		path string
		perm uint32
	}{
		"guest/init":            {"init", 0o755},
		"guest/udhcpc.script":   {"etc/udhcpc.script", 0o755},
		"guest/containerd.toml": {"etc/containerd/config.toml", 0o644},
		"guest/hosts.toml":      {"etc/containerd/certs.d/" + registryInGuest + "/hosts.toml", 0o644},
		"guest/power-button":    {"etc/acpi/PWRF/00000080", 0o755},
	} {
		data, err := guestFiles.ReadFile(src)
		if err != nil {
			return nil, err
		}
		t.file(dst.path, dst.perm, data)
	}
	t.file("etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/bin/sh\n"))
	t.file("etc/group", 0o644, []byte("root:x:0:\ntty:x:5:\n"))
	t.file("etc/hosts", 0o644, []byte("127.0.0.1 localhost\n::1 localhost\n"))
	t.file("etc/resolv.conf", 0o644, nil)

	// busybox and its applets.
	if err := o.addBusybox(t); err != nil {
		return nil, err
	}

	// containerd, the shim and runc with their shared libraries.
	bins := map[string]string{"usr/bin/containerd": o.containerd, "usr/bin/containerd-shim-runc-v2": o.shim, "usr/bin/runc": o.runc}
	var srcs []string
	for dst, src := range bins {
		if err := addHostFile(t, dst, src, 0o755); err != nil {
			return nil, err
		}
		srcs = append(srcs, src)
	}
	sort.Strings(srcs)
	libs, err := sharedLibs(srcs)
	if err != nil {
		return nil, err
	}
	for _, l := range libs {
		if err := addHostFile(t, l, l, 0o755); err != nil {
			return nil, err
		}
	}

	// cloudlet and its log driver, static.
	tmp, err := os.MkdirTemp("", "nodeimage-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	for _, cmd := range []string{"cloudlet", "cloudmgr-logger"} {
		out := filepath.Join(tmp, cmd)
		if err := o.goBuild(o.repo, "./cmd/"+cmd, out); err != nil {
			return nil, err
		}
		if err := addHostFile(t, "usr/bin/"+cmd, out, 0o755); err != nil {
			return nil, err
		}
	}

	// Kernel modules and the order to load them in.
	if err := o.addModules(t, kver); err != nil {
		return nil, err
	}
	return t, nil
}

func (o *options) addBusybox(t tree) error {
	if err := addHostFile(t, "bin/busybox", o.busybox, 0o755); err != nil {
		return err
	}
	out, err := exec.Command(o.busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("%s --list-full (is it busybox?): %w", o.busybox, err)
	}
	for _, p := range strings.Fields(string(out)) {
		p = path.Clean("/" + p)
		if p != "/bin/busybox" && p != "/init" {
			t.symlink(p, "/bin/busybox")
		}
	}
	if _, ok := t["/bin/sh"]; !ok {
		return fmt.Errorf("%s has no sh applet", o.busybox)
	}
	return nil
}

func (o *options) addModules(t tree, kver string) error {
	dir := filepath.Join(o.modulesRoot, kver)
	f, err := os.Open(filepath.Join(dir, "modules.dep"))
	if err != nil {
		return fmt.Errorf("kernel modules of %s: %w", kver, err)
	}
	deps, err := parseModulesDep(f)
	f.Close()
	if err != nil {
		return err
	}
	builtin := map[string]bool{}
	if f, err := os.Open(filepath.Join(dir, "modules.builtin")); err == nil {
		builtin, err = parseBuiltin(f)
		f.Close()
		if err != nil {
			return err
		}
	}
	order, err := deps.loadOrder(modules, builtin)
	if err != nil {
		return err
	}
	for _, m := range order {
		if strings.HasSuffix(m, ".ko.xz") || strings.HasSuffix(m, ".ko.zst") || strings.HasSuffix(m, ".ko.gz") {
			return fmt.Errorf("module %s is compressed: busybox insmod needs plain .ko files", m)
		}
		if err := addHostFile(t, path.Join("lib/modules", kver, m), filepath.Join(dir, m), 0o644); err != nil {
			return err
		}
	}
	t.file(path.Join("lib/modules", kver, "load-order"), 0o644, []byte(strings.Join(order, "\n")+"\n"))
	return nil
}

func addHostFile(t tree, dst, src string, perm uint32) error {
	data, err := os.ReadFile(src)
	if err != nil {
		return fmt.Errorf("image file %s: %w", dst, err)
	}
	t.file(dst, perm, data)
	return nil
}

// goBuildStatic builds pkg of the repository as a static binary without
// anything that varies between builds (paths, VCS stamps).
func goBuildStatic(repo, pkg, out string) error {
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-ldflags", "-s -w", "-o", out, pkg)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("go build %s: %w\n%s", pkg, err, b)
	}
	return nil
}

func sum(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

func exists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

func writeFileAtomic(p string, data []byte) error {
	tmp := fmt.Sprintf("%s.%d.tmp", p, os.Getpid())
	if err := os.WriteFile(tmp, data, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, p); err != nil {
		_ = os.Remove(tmp)
		return err
	}
	return nil
}
