package test

import (
	"fmt"
	"os"
	"path/filepath"
)

// LibvirtSocketPath is the project's libvirtd socket that `make deps`
// (deploy/deps.sh) starts, relative to the repository root.
const LibvirtSocketPath = ".run/libvirt/libvirt-sock"

// LibvirtSocket returns the absolute path of the project's libvirtd socket,
// or an error saying to run `make deps` when it is missing.
func LibvirtSocket() (string, error) {
	p, err := filepath.Abs(filepath.Join(RepoRoot(), LibvirtSocketPath))
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		p = filepath.Join(real, filepath.Base(p))
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("libvirtd socket %s: %w; run `make deps` to start libvirtd", p, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return "", fmt.Errorf("%s is not a socket; run `make deps` to start libvirtd", p)
	}
	return p, nil
}

// LibvirtURI returns the URI of the project's libvirtd for driver
// (qemu:///system?socket=..., or test:///default?socket=... for "test").
func LibvirtURI(driver string) (string, error) {
	sock, err := LibvirtSocket()
	if err != nil {
		return "", err
	}
	switch driver {
	case "", "qemu":
		return "qemu:///system?socket=" + sock, nil
	case "test":
		return "test:///default?socket=" + sock, nil
	}
	return "", fmt.Errorf("unknown libvirt driver %q (qemu or test)", driver)
}

// LibvirtPool is the dir storage pool (.run/libvirt/pool) `make deps`
// defines for providers/libvirt.
const LibvirtPool = "cloudmgr"
