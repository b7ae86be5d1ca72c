package test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"github.com/digitalocean/go-libvirt/socket/dialers"
)

// LibvirtPoolDir is the directory of the storage pool `make deps` defines,
// relative to the repository root.
const LibvirtPoolDir = ".run/libvirt/pool"

// HypervisorName is the Hypervisor object IaaS tests register for the
// project's libvirtd.
const HypervisorName = "local"

// IaaS is a cloudd process with the IaaS layer on the project's libvirtd:
// its own data dir and port, the QEMU (TCG) domain type, the storage pool
// of `make deps`, and the hypervisor HypervisorName registered through
// cloudctl (with a CPU overcommit of 4, so that a few 1-vCPU VMs fit on
// the 2-core test machines).
type IaaS struct {
	*Cloudd
	// Bin holds the built binaries (cloudd, cloudctl, ...).
	Bin string
	// Admin is the admin kubeconfig cloudd wrote.
	Admin string
	// PoolDir is the storage pool's directory (absolute).
	PoolDir string
	// URI is the hypervisor's libvirt URI.
	URI string
}

// StartIaaS builds the binaries and the node image, starts cloudd in
// dataDir and registers the project's libvirtd as HypervisorName. The
// caller stops it (Stop) when done.
func StartIaaS(ctx context.Context, dataDir string) (*IaaS, error) {
	uri, err := LibvirtURI("qemu")
	if err != nil {
		return nil, err
	}
	pool, err := filepath.Abs(filepath.Join(RepoRoot(), LibvirtPoolDir))
	if err != nil {
		return nil, err
	}
	if real, err := filepath.EvalSymlinks(pool); err == nil {
		pool = real
	} else {
		return nil, fmt.Errorf("libvirt pool dir: %w; run `make deps`", err)
	}
	img, err := NodeImage()
	if err != nil {
		return nil, err
	}
	bin, err := Binaries()
	if err != nil {
		return nil, err
	}
	port, err := FreePort()
	if err != nil {
		return nil, err
	}
	cd, err := StartCloudd(bin, dataDir, fmt.Sprintf("127.0.0.1:%d", port), "--log-level", "info",
		"--node-image-dir", img, "--libvirt-pool-dir", pool, "--libvirt-domain-type", "qemu",
		"--hypervisor-resync", "5s")
	if err != nil {
		return nil, err
	}
	x := &IaaS{Cloudd: cd, Bin: bin, Admin: filepath.Join(dataDir, "admin.yaml"), PoolDir: pool, URI: uri}
	if err := cd.WaitReady(ctx, time.Minute); err != nil {
		_ = cd.Stop(syscall.SIGKILL)
		return nil, err
	}
	// The shared 2-core machine holds 3 VMs of 1 vCPU only overcommitted.
	if out, err := x.Cloudctl(x.Admin, "hypervisor", "add", HypervisorName, "--uri", uri, "--cpu-ratio", "4"); err != nil {
		_ = cd.Stop(syscall.SIGKILL)
		return nil, fmt.Errorf("cloudctl hypervisor add: %w\n%s", err, out)
	}
	return x, nil
}

// Cloudctl runs the built cloudctl with the kubeconfig config and returns
// its combined output; a non-zero exit is an error.
func (x *IaaS) Cloudctl(config string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(x.Bin, "cloudctl"), args...)
	cmd.Env = append(os.Environ(), "CLOUDCTL_CONFIG="+config)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// PoolFiles returns the names of the storage pool's files that contain
// substr (a machine's volumes contain "cloudmgr-<machine>-").
func (x *IaaS) PoolFiles(substr string) ([]string, error) {
	ents, err := os.ReadDir(x.PoolDir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range ents {
		if strings.Contains(e.Name(), substr) {
			out = append(out, e.Name())
		}
	}
	return out, nil
}

// DialLibvirt opens a go-libvirt connection of the caller's own to the
// project's libvirtd (qemu:///system). Close it with Disconnect.
func DialLibvirt() (*golibvirt.Libvirt, error) {
	sock, err := LibvirtSocket()
	if err != nil {
		return nil, err
	}
	l := golibvirt.NewWithDialer(dialers.NewLocal(dialers.WithSocket(sock), dialers.WithLocalTimeout(5*time.Second)))
	if err := l.ConnectToURI(golibvirt.QEMUSystem); err != nil {
		return nil, fmt.Errorf("connect to libvirtd at %s: %w; run `make deps`", sock, err)
	}
	return l, nil
}

// DomainState is the state of the named domain on the project's libvirtd
// (golibvirt.DomainRunning, DomainShutoff, ...), or found false when no
// such domain is defined.
func DomainState(l *golibvirt.Libvirt, name string) (state golibvirt.DomainState, found bool, err error) {
	d, err := l.DomainLookupByName(name)
	if err != nil {
		if noDomain(err) {
			return 0, false, nil
		}
		return 0, false, err
	}
	st, _, err := l.DomainGetState(d, 0)
	if err != nil {
		return 0, true, err
	}
	return golibvirt.DomainState(st), true, nil
}

// DomainNames lists the defined domains (running or not) whose name starts
// with prefix.
func DomainNames(l *golibvirt.Libvirt, prefix string) ([]string, error) {
	doms, _, err := l.ConnectListAllDomains(1, 0)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range doms {
		if strings.HasPrefix(d.Name, prefix) {
			out = append(out, d.Name)
		}
	}
	return out, nil
}

// RemoveDomain destroys (when running) and undefines the named domain,
// with its NVRAM and snapshots metadata; a missing domain is no error.
// Tests call it as a last resort for domains they made.
func RemoveDomain(l *golibvirt.Libvirt, name string) error {
	d, err := l.DomainLookupByName(name)
	if err != nil {
		if noDomain(err) {
			return nil
		}
		return err
	}
	_ = l.DomainDestroy(d)
	return l.DomainUndefineFlags(d, golibvirt.DomainUndefineNvram|golibvirt.DomainUndefineManagedSave|golibvirt.DomainUndefineSnapshotsMetadata)
}

// noDomain tells a libvirt "no such domain" error.
func noDomain(err error) bool {
	var le golibvirt.Error
	return errors.As(err, &le) && le.Code == uint32(golibvirt.ErrNoDomain)
}
