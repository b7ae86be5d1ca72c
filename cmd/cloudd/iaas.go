package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"github.com/spf13/viper"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/autoscaler"
	"github.com/cloudmgr/cloud/iaas/hypervisor"
	"github.com/cloudmgr/cloud/iaas/machine"
	"github.com/cloudmgr/cloud/iaas/nodepool"
	"github.com/cloudmgr/cloud/iaas/placement"
	"github.com/cloudmgr/cloud/iaas/vm"
	"github.com/cloudmgr/cloud/providers/libvirt"
)

// NodeImage is the image name of the node VM image (deploy/nodeimage:
// the cloud kernel and an initramfs with containerd, runc and cloudlet).
const NodeImage = "cloudmgr-node"

// userModeHost is where a VM on QEMU's user-mode network reaches the
// host's loopback.
const userModeHost = "10.0.2.2"

// iaasOptions are the IaaS layer's flags.
type iaasOptions struct {
	enabled            bool
	nodeImageDir       string
	poolDir            string
	domainType         string
	vmServerURL        string
	vmRegistries       []string
	machineTokenTTL    time.Duration
	hypervisorResync   time.Duration
	machineJoinTimeout time.Duration
	// providers are the config file's providers (see providers.go).
	providers []providerEntry
	// autoscaler is the node autoscaler's (see autoscaler.go).
	autoscaler autoscalerOptions
}

func addIaaSFlags(f *pflag.FlagSet) {
	f.Bool("iaas", true, "run the IaaS controllers (hypervisors, node pools, machines, tenant VMs) while this cloudd leads")
	f.String("node-image-dir", "", "directory with the node VM image (vmlinuz, initrd.img) that `make node-image` writes; NodePools use it as image "+NodeImage+" (default DATA-DIR/nodeimage)")
	f.String("libvirt-pool-dir", "", "directory of the libvirt storage pool 'cloudmgr' created on a hypervisor that has none (kernels, initrds, config drives, console logs; default DATA-DIR/libvirt-pool)")
	f.String("libvirt-domain-type", "", "force the libvirt domain type, kvm or qemu (default: kvm where the hypervisor offers it, else qemu)")
	f.String("vm-server-url", "", "URL at which VMs reach this API server, written to their config drive (default https://"+userModeHost+":PORT, the host's loopback seen from QEMU user-mode networking; its host is added to the certificate)")
	f.StringSlice("vm-insecure-registry", []string{userModeHost + ":5055"}, "registry hosts node VMs pull from over plain HTTP")
	f.Duration("machine-join-token-ttl", 30*time.Minute, "lifetime of the single-use join token a new node VM gets on its config drive")
	f.Duration("hypervisor-resync", 30*time.Second, "how often each hypervisor's reachability and capacity are read again")
	f.Duration("machine-join-timeout", 10*time.Minute, "how long a new node VM has to join and turn Ready before it is replaced (a NodePool's joinTimeoutSeconds overrides it)")
}

// readIaaSOptions reads the flags of addIaaSFlags and fills defaults.
func readIaaSOptions(v *viper.Viper, dataDir string) (iaasOptions, error) {
	o := iaasOptions{
		enabled:            v.GetBool("iaas"),
		nodeImageDir:       v.GetString("node-image-dir"),
		poolDir:            v.GetString("libvirt-pool-dir"),
		domainType:         v.GetString("libvirt-domain-type"),
		vmServerURL:        v.GetString("vm-server-url"),
		vmRegistries:       v.GetStringSlice("vm-insecure-registry"),
		machineTokenTTL:    v.GetDuration("machine-join-token-ttl"),
		hypervisorResync:   v.GetDuration("hypervisor-resync"),
		machineJoinTimeout: v.GetDuration("machine-join-timeout"),
	}
	if o.nodeImageDir == "" {
		o.nodeImageDir = filepath.Join(dataDir, "nodeimage")
	}
	if o.poolDir == "" {
		o.poolDir = filepath.Join(dataDir, "libvirt-pool")
	}
	switch o.domainType {
	case "", "kvm", "qemu":
	default:
		return o, fmt.Errorf("--libvirt-domain-type %q: must be kvm or qemu", o.domainType)
	}
	if o.vmServerURL != "" {
		u, err := url.Parse(o.vmServerURL)
		if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return o, fmt.Errorf("--vm-server-url %q: must be an http(s) URL such as https://10.0.2.2:6443", o.vmServerURL)
		}
	}
	if o.machineTokenTTL < time.Minute {
		return o, fmt.Errorf("--machine-join-token-ttl %s: must be at least 1m", o.machineTokenTTL)
	}
	var err error
	if o.autoscaler, err = readAutoscalerOptions(v); err != nil {
		return o, err
	}
	if o.providers, err = readProviderEntries(v); err != nil {
		return o, fmt.Errorf("config file: %w", err)
	}
	return o, nil
}

// vmServerHost is the host of --vm-server-url, which the serving
// certificate must name.
func (o iaasOptions) vmServerHost() string {
	if o.vmServerURL == "" {
		return userModeHost
	}
	u, err := url.Parse(o.vmServerURL)
	if err != nil {
		return ""
	}
	return u.Hostname()
}

// withServerURL fills in the default --vm-server-url from the address the
// API really listens on (its port may have been chosen by the system).
func (o iaasOptions) withServerURL(scheme string, addr net.Addr) iaasOptions {
	if o.vmServerURL == "" {
		_, port, _ := net.SplitHostPort(addr.String())
		o.vmServerURL = scheme + "://" + net.JoinHostPort(userModeHost, port)
	}
	return o
}

// newProviders builds the providers, each timed by the metrics decorator:
// libvirt, always there (hypervisors are added at run time as Hypervisor
// objects; the hypervisor controller hands their URIs over), and those of
// the config file.
func newProviders(ctx context.Context, o iaasOptions, reg prometheus.Registerer, env providerEnv) (iaas.Providers, func() error, error) {
	lv, err := libvirt.New(libvirt.Config{
		Images: map[string]libvirt.Image{NodeImage: {
			Kernel:  filepath.Join(o.nodeImageDir, "vmlinuz"),
			Initrd:  filepath.Join(o.nodeImageDir, "initrd.img"),
			Cmdline: "console=ttyS0 quiet panic=-1",
		}},
		DefaultImage: NodeImage,
		PoolDir:      o.poolDir,
		DomainType:   o.domainType,
	})
	if err != nil {
		return nil, nil, fmt.Errorf("libvirt provider: %w", err)
	}
	ps := iaas.Providers{lv.Name(): iaas.Instrument(lv, reg)}
	closers := []func() error{lv.Close}
	closeAll := func() error {
		var errs []error
		for _, c := range closers {
			errs = append(errs, c())
		}
		return errors.Join(errs...)
	}
	for _, e := range o.providers {
		if e.Type == typeLibvirt {
			continue
		}
		p, err := buildProvider(ctx, e, env)
		if err != nil {
			_ = closeAll()
			return nil, nil, err
		}
		if c, ok := p.(interface{ Close() error }); ok {
			closers = append(closers, c.Close)
		} else if c, ok := p.(interface{ Close() }); ok {
			closers = append(closers, func() error { c.Close(); return nil })
		}
		ps[e.name] = iaas.Instrument(p, reg)
	}
	return ps, closeAll, nil
}

// iaasSetups registers the IaaS controllers on a term's Manager, which acts
// with the system:iaas-controller role.
func (cp *controlPlane) iaasSetups(m *controllers.Manager, c *client.Client) error {
	kind := func(k string) *api.KindInfo {
		ki, _ := m.Client.Scheme().ByKind(api.APIVersionIaaS, k)
		return ki
	}
	placer := placement.New(m.Cache(kind(api.KindHypervisor)), m.Cache(kind(api.KindMachine)), m.Cache(kind(api.KindVirtualMachine)))
	o := cp.iaas
	if err := hypervisor.Setup(m, hypervisor.Options{Providers: cp.providers, Resync: o.hypervisorResync}); err != nil {
		return err
	}
	if _, err := machine.Setup(m, machine.Options{Providers: cp.providers, Placer: placer, Bootstrap: cp.machineBootstrap(c), JoinTimeout: o.machineJoinTimeout}); err != nil {
		return err
	}
	if _, err := nodepool.Setup(m, nodepool.Options{}); err != nil {
		return err
	}
	if o.autoscaler.enabled {
		if _, err := autoscaler.Setup(m, autoscaler.Options{Providers: cp.providers, Placer: placer, Registerer: cp.reg,
			Config: o.autoscaler.config, Interval: o.autoscaler.interval}); err != nil {
			return err
		}
	}
	_, err := vm.Setup(m, vm.Options{Providers: cp.providers, Placer: placer})
	return err
}

// machineBootstrap returns the config drive of a new node VM: a join token
// bound to that Machine (single use, --machine-join-token-ttl), the URL
// and CA of this API server. It is secret and never logged.
func (cp *controlPlane) machineBootstrap(c *client.Client) func(context.Context, *api.Machine) (map[string][]byte, error) {
	return func(ctx context.Context, m *api.Machine) (map[string][]byte, error) {
		tok, err := c.CreateMachineJoinToken(ctx, cp.iaas.machineTokenTTL, m.Name)
		if err != nil {
			return nil, fmt.Errorf("join token for machine %s: %w", m.Name, err)
		}
		data, err := json.Marshal(api.NodeBootstrap{
			Server:             cp.iaas.vmServerURL,
			CA:                 string(cp.caPEM),
			JoinToken:          tok.Token,
			NodeName:           m.Name,
			InsecureRegistries: cp.iaas.vmRegistries,
		})
		if err != nil {
			return nil, err
		}
		return map[string][]byte{api.NodeBootstrapFile: data}, nil
	}
}
