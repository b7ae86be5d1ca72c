// Command imagebuild writes the project's test image, an OCI image layout
// tarball of Debian's busybox-static with its applets linked in, without
// downloading anything. The output is deterministic: the same busybox binary
// gives the same layer, config and manifest digests. -release adds
// /etc/cloudmgr-release holding its value, for a second, different image
// (the rolling update test's new version).
//
//	go run ./deploy/imagebuild -o .run/images/busybox.tar -name 127.0.0.1:5055/cloudmgr/busybox:test
//	go run ./deploy/imagebuild -o .run/images/busybox-v2.tar -name 127.0.0.1:5055/cloudmgr/busybox:v2 -release v2
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
)

func main() {
	out := flag.String("o", ".run/images/busybox.tar", "output OCI image layout tarball")
	busybox := flag.String("busybox", "/bin/busybox", "static busybox binary (Debian busybox-static)")
	name := flag.String("name", "127.0.0.1:5055/cloudmgr/busybox:test", "image reference recorded in index.json")
	release := flag.String("release", "", "when set, written (with a newline) to /"+ReleaseFile+" in the image")
	flag.Parse()
	if err := run(*out, *busybox, *name, *release); err != nil {
		fmt.Fprintln(os.Stderr, "imagebuild:", err)
		os.Exit(1)
	}
}

func run(out, busybox, name, release string) error {
	bin, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	list, err := exec.Command(busybox, "--list-full").Output()
	if err != nil {
		return fmt.Errorf("%s --list-full: %w", busybox, err)
	}
	img, err := Build(bin, Applets(string(list)), runtime.GOARCH, name, release)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		return err
	}
	tmp := out + ".tmp"
	if err := os.WriteFile(tmp, img.Tar, 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, out); err != nil {
		return err
	}
	fmt.Printf("imagebuild: wrote %s (%s, manifest %s, %d applets)\n", out, name, img.Manifest, len(Applets(string(list))))
	return nil
}

// Applets turns `busybox --list-full` output into the paths to link to
// /bin/busybox, keeping only the usual bin and sbin directories.
func Applets(list string) []string {
	var paths []string
	for _, p := range strings.Fields(list) {
		p = strings.TrimPrefix(p, "/")
		dir := filepath.Dir(p)
		if p == "bin/busybox" || !(dir == "bin" || dir == "sbin" || dir == "usr/bin" || dir == "usr/sbin") {
			continue
		}
		paths = append(paths, p)
	}
	return paths
}
