// Command nodeimage builds the boot files of a cloudmgr node VM: the cloud
// kernel (vmlinuz, copied from /boot) and an initramfs (initrd.img, a
// gzip-compressed newc cpio written here, byte for byte the same for the
// same inputs) holding busybox, containerd, containerd-shim-runc-v2, runc
// and the shared libraries they need, a static cloudlet and
// cloudmgr-logger built from this repository, the kernel modules the
// guest needs with their load order, a containerd config and the init
// (guest/init). The VM boots them directly (no disk image, no boot
// loader); its config drive (ISO 9660 labelled cidata) carries
// bootstrap.json (api.NodeBootstrap) for cloudlet.
//
// The output directory also gets manifest.json: the sha256 of every input
// and the builder's version. When it matches, nothing is rewritten.
//
//	go run ./deploy/nodeimage -o .run/nodeimage
package main

import (
	"flag"
	"fmt"
	"os"
)

func main() {
	var o options
	flag.StringVar(&o.out, "o", ".run/nodeimage", "output directory (vmlinuz, initrd.img, manifest.json)")
	flag.StringVar(&o.repo, "repo", ".", "root of this repository (cloudlet is built from it)")
	flag.StringVar(&o.kernel, "kernel", "", "kernel image (default: the newest /boot/vmlinuz-*-cloud-amd64)")
	flag.StringVar(&o.modulesRoot, "modules-root", "/lib/modules", "directory holding <kernel version>/modules.dep")
	flag.StringVar(&o.busybox, "busybox", "/usr/bin/busybox", "a static busybox (Debian's busybox-static)")
	flag.StringVar(&o.containerd, "containerd", "", "containerd binary (default: from PATH)")
	flag.StringVar(&o.shim, "shim", "", "containerd-shim-runc-v2 binary (default: from PATH)")
	flag.StringVar(&o.runc, "runc", "", "runc binary (default: from PATH)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "nodeimage: unexpected arguments %q\n", flag.Args())
		os.Exit(2)
	}
	res, err := build(o)
	if err != nil {
		fmt.Fprintf(os.Stderr, "nodeimage: %v\n", err)
		os.Exit(1)
	}
	fmt.Println(res)
}
