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

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
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
	// Client acts as the admin.
	Client *client.Client
}

// IaaSOptions vary StartIaaS.
type IaaSOptions struct {
	// Resync is cloudd's --hypervisor-resync (default 5 s).
	Resync time.Duration
	// Flags are more cloudd flags.
	Flags []string
	// NoHypervisor leaves the registering of hypervisors to the test.
	NoHypervisor bool
}

// StartIaaS builds the binaries and the node image, starts cloudd in
// dataDir, registers the project's libvirtd as HypervisorName (unless
// o.NoHypervisor) and waits for it to be Reachable, so that what the test
// creates next finds room. The caller stops it (Stop) when done.
func StartIaaS(ctx context.Context, dataDir string, o IaaSOptions) (*IaaS, error) {
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
	if o.Resync <= 0 {
		o.Resync = 5 * time.Second
	}
	args := append([]string{"--log-level", "info",
		"--node-image-dir", img, "--libvirt-pool-dir", pool, "--libvirt-domain-type", "qemu",
		"--hypervisor-resync", o.Resync.String()}, o.Flags...)
	cd, err := StartCloudd(bin, dataDir, fmt.Sprintf("127.0.0.1:%d", port), args...)
	if err != nil {
		return nil, err
	}
	x := &IaaS{Cloudd: cd, Bin: bin, Admin: filepath.Join(dataDir, "admin.yaml"), PoolDir: pool, URI: uri}
	if err := cd.WaitReady(ctx, time.Minute); err != nil {
		_ = cd.Stop(syscall.SIGKILL)
		return nil, err
	}
	if x.Client, err = AdminClient(x.Admin); err != nil {
		_ = cd.Stop(syscall.SIGKILL)
		return nil, err
	}
	if o.NoHypervisor {
		return x, nil
	}
	// The shared 2-core machine holds 3 VMs of 1 vCPU only overcommitted.
	if out, err := x.Cloudctl(x.Admin, "hypervisor", "add", HypervisorName, "--uri", uri, "--cpu-ratio", "4"); err != nil {
		_ = cd.Stop(syscall.SIGKILL)
		return nil, fmt.Errorf("cloudctl hypervisor add: %w\n%s", err, out)
	}
	if _, err := x.WaitReachable(ctx, HypervisorName, api.ConditionTrue, time.Minute); err != nil {
		_ = cd.Stop(syscall.SIGKILL)
		return nil, err
	}
	return x, nil
}

// WaitReachable waits for hypervisor name's Reachable condition to have
// status want and returns the condition.
func (x *IaaS) WaitReachable(ctx context.Context, name string, want api.ConditionStatus, timeout time.Duration) (api.Condition, error) {
	deadline := time.Now().Add(timeout)
	last := "no Reachable condition yet"
	for {
		hv, err := client.For[api.Hypervisor](x.Client).Get(ctx, "", name)
		if err != nil {
			last = err.Error()
		} else {
			for _, c := range hv.Status.Conditions {
				if c.Type != api.ConditionReachable {
					continue
				}
				if c.Status == want {
					return c, nil
				}
				last = fmt.Sprintf("%+v", c)
			}
		}
		if time.Now().After(deadline) {
			return api.Condition{}, fmt.Errorf("hypervisor %s not Reachable=%s within %s; last: %s", name, want, timeout, last)
		}
		select {
		case <-ctx.Done():
			return api.Condition{}, ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// AdminClient is a client with the credentials of the kubeconfig file
// config (its current context).
func AdminClient(config string) (*client.Client, error) {
	return client.NewFromConfigFile(config, api.NewScheme())
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
