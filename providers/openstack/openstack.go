// Package openstack is the iaas.Provider for OpenStack clouds, through
// gophercloud: Keystone v3 authentication (password or application
// credential, from a clouds.yaml entry and/or explicit fields, with
// transparent re-authentication when a token expires), Nova v2.1 servers,
// flavors, server groups and limits, Glance v2 images and, to find a
// network by name, Neutron.
//
// A machine is a Nova server marked as this system's by its metadata
// (cloudmgr.dev/managed=true, cloudmgr.dev/name, cloudmgr.dev/group and the
// machine's labels). Its bootstrap files (MachineSpec.ConfigDrive) travel
// as user data: a #cloud-config document whose write_files put each file,
// base64-encoded, at /var/lib/cloudmgr/<name> with mode 0600, on a server
// booted with a config drive: the image must run cloud-init and start the
// node agent with --bootstrap /var/lib/cloudmgr/bootstrap.json. A tenant
// VM's own "user-data" goes as the user data itself.
//
// The machines of a group (a NodePool) share a Nova server group,
// soft-anti-affinity by default, so Nova spreads them over compute hosts; the server's hostId becomes Machine.Host (the node's
// topology.cloud/hypervisor label). Nova chooses the hosts: the provider is
// an iaas.SelfPlacer.
package openstack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/gophercloud/gophercloud/v2"
	gopenstack "github.com/gophercloud/gophercloud/v2/openstack"
	"github.com/gophercloud/gophercloud/v2/openstack/compute/v2/flavors"
	"github.com/gophercloud/gophercloud/v2/openstack/config/clouds"

	"github.com/cloudmgr/cloud/iaas"
)

// ProviderName is the provider's default name.
const ProviderName = "openstack"

// Metadata keys on the servers this system owns.
const (
	MetaManaged = "cloudmgr.dev/managed"
	MetaName    = "cloudmgr.dev/name"
	MetaGroup   = "cloudmgr.dev/group"
)

// BootstrapDir is where the guest's cloud-init writes the bootstrap files.
const BootstrapDir = "/var/lib/cloudmgr"

// computeMicroversion is the Nova API version asked for: 2.47 embeds the
// flavor (vcpus, ram) in a server, 2.64 names a server group's policy.
const computeMicroversion = "2.64"

// Config configures the provider. Explicit credential fields override the
// clouds.yaml entry named by Cloud.
type Config struct {
	// Name is the provider's name (default "openstack").
	Name string `yaml:"name" mapstructure:"name"`
	// Cloud names an entry of clouds.yaml.
	Cloud string `yaml:"cloud" mapstructure:"cloud"`
	// CloudsFile is the clouds.yaml to read; empty looks where gophercloud
	// does ($OS_CLIENT_CONFIG_FILE, ./clouds.yaml,
	// ~/.config/openstack/clouds.yaml, /etc/openstack/clouds.yaml).
	CloudsFile string `yaml:"cloudsFile" mapstructure:"cloudsFile"`
	// Region of the compute, image and network endpoints.
	Region string `yaml:"region" mapstructure:"region"`

	AuthURL        string `yaml:"authURL" mapstructure:"authURL"`
	Username       string `yaml:"username" mapstructure:"username"`
	Password       string `yaml:"password" mapstructure:"password"`
	UserDomainName string `yaml:"userDomainName" mapstructure:"userDomainName"`
	ProjectName    string `yaml:"projectName" mapstructure:"projectName"`
	ProjectID      string `yaml:"projectID" mapstructure:"projectID"`
	// ProjectDomainName is the domain of ProjectName.
	ProjectDomainName string `yaml:"projectDomainName" mapstructure:"projectDomainName"`

	ApplicationCredentialID     string `yaml:"applicationCredentialID" mapstructure:"applicationCredentialID"`
	ApplicationCredentialName   string `yaml:"applicationCredentialName" mapstructure:"applicationCredentialName"`
	ApplicationCredentialSecret string `yaml:"applicationCredentialSecret" mapstructure:"applicationCredentialSecret"`

	// Network is the default network (name or ID) of new servers; a
	// MachineSpec.Network of "network:NAME" or "NAME" overrides it. With
	// neither, Nova allocates one ("auto").
	Network string `yaml:"network" mapstructure:"network"`
	// Image is the default image (name or ID).
	Image string `yaml:"image" mapstructure:"image"`
	// ServerGroupPolicy is the policy of the groups' server groups:
	// soft-anti-affinity (default), anti-affinity, affinity,
	// soft-affinity.
	ServerGroupPolicy string `yaml:"serverGroupPolicy" mapstructure:"serverGroupPolicy"`

	// BuildTimeout bounds waiting for a server to turn ACTIVE (default 10m).
	BuildTimeout time.Duration `yaml:"buildTimeout" mapstructure:"buildTimeout"`
	// PollInterval is the first wait between status polls; it doubles up
	// to 8 times itself (default 2s).
	PollInterval time.Duration `yaml:"pollInterval" mapstructure:"pollInterval"`
	// DeleteTimeout bounds waiting for a deleted server to go, and the
	// clean-up of a failed create (default 5m).
	DeleteTimeout time.Duration `yaml:"deleteTimeout" mapstructure:"deleteTimeout"`

	// CACert is a PEM file of the CAs that sign the endpoints' certificates.
	CACert string `yaml:"caCert" mapstructure:"caCert"`
	// Insecure skips verifying the endpoints' certificates.
	Insecure bool `yaml:"insecure" mapstructure:"insecure"`
	// HTTPClient, when set, is used as it is (tests); CACert and Insecure
	// are then ignored.
	HTTPClient *http.Client `yaml:"-" mapstructure:"-"`
	// Logger (default slog.Default()).
	Logger *slog.Logger `yaml:"-" mapstructure:"-"`
}

const redacted = "REDACTED"

func redact(s string) string {
	if s == "" {
		return ""
	}
	return redacted
}

// String keeps the secrets out of %v.
func (c Config) String() string {
	return fmt.Sprintf("openstack provider %q (cloud %q in %q, region %q, auth %q, user %q, password %q, project %q/%q, application credential %q/%q secret %q)",
		c.Name, c.Cloud, c.CloudsFile, c.Region, c.AuthURL, c.Username, redact(c.Password), c.ProjectName, c.ProjectID,
		c.ApplicationCredentialID, c.ApplicationCredentialName, redact(c.ApplicationCredentialSecret))
}

// GoString keeps the secrets out of %#v.
func (c Config) GoString() string { return c.String() }

// LogValue keeps the secrets out of logs.
func (c Config) LogValue() slog.Value {
	return slog.GroupValue(
		slog.String("name", c.Name), slog.String("cloud", c.Cloud), slog.String("cloudsFile", c.CloudsFile),
		slog.String("region", c.Region), slog.String("authURL", c.AuthURL), slog.String("username", c.Username),
		slog.String("password", redact(c.Password)), slog.String("projectName", c.ProjectName),
		slog.String("projectID", c.ProjectID), slog.String("applicationCredentialID", c.ApplicationCredentialID),
		slog.String("applicationCredentialName", c.ApplicationCredentialName),
		slog.String("applicationCredentialSecret", redact(c.ApplicationCredentialSecret)),
		slog.String("network", c.Network), slog.String("image", c.Image))
}

// Provider is the OpenStack iaas.Provider; it is also an iaas.SelfPlacer,
// iaas.PowerManager and iaas.ConsoleReader. Safe for concurrent use.
type Provider struct {
	cfg     Config
	log     *slog.Logger
	region  string
	pc      *gophercloud.ProviderClient
	compute *gophercloud.ServiceClient
	// image and network are nil when the catalog has no such service:
	// images and networks must then be given by ID.
	image   *gophercloud.ServiceClient
	network *gophercloud.ServiceClient

	mu      sync.Mutex
	groups  map[string]string // group -> server group ID
	images  map[string]string // image name -> ID
	flavors []flavors.Flavor
	// groupMu serialises finding-or-creating server groups, so that two
	// creates of one group make one server group.
	groupMu sync.Mutex
}

var (
	_ iaas.Provider        = (*Provider)(nil)
	_ iaas.SelfPlacer      = (*Provider)(nil)
	_ iaas.PowerManager    = (*Provider)(nil)
	_ iaas.ConsoleReader   = (*Provider)(nil)
	_ iaas.CapacityChecker = (*Provider)(nil)
)

// New authenticates to the cloud and returns a provider. The token is
// renewed transparently when it expires (a 401 re-authenticates once).
func New(ctx context.Context, cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = ProviderName
	}
	if cfg.BuildTimeout <= 0 {
		cfg.BuildTimeout = 10 * time.Minute
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = 2 * time.Second
	}
	if cfg.DeleteTimeout <= 0 {
		cfg.DeleteTimeout = 5 * time.Minute
	}
	switch cfg.ServerGroupPolicy {
	case "":
		cfg.ServerGroupPolicy = "soft-anti-affinity"
	case "soft-anti-affinity", "anti-affinity", "affinity", "soft-affinity":
	default:
		return nil, fmt.Errorf("openstack: server group policy %q: want soft-anti-affinity, anti-affinity, affinity or soft-affinity", cfg.ServerGroupPolicy)
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	ao, eo, tlsConfig, err := authOptions(cfg)
	if err != nil {
		return nil, fmt.Errorf("openstack: %w", err)
	}
	pc, err := gopenstack.NewClient(ao.IdentityEndpoint)
	if err != nil {
		return nil, fmt.Errorf("openstack: auth URL %q: %w", ao.IdentityEndpoint, err)
	}
	pc.UserAgent.Prepend("cloudmgr")
	switch {
	case cfg.HTTPClient != nil:
		pc.HTTPClient = *cfg.HTTPClient
	case tlsConfig != nil:
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsConfig
		pc.HTTPClient = http.Client{Transport: tr}
	}
	if err := gopenstack.Authenticate(ctx, pc, ao); err != nil {
		return nil, classify("authenticate to "+ao.IdentityEndpoint, err)
	}
	p := &Provider{cfg: cfg, pc: pc, region: eo.Region, groups: map[string]string{}, images: map[string]string{}}
	if p.compute, err = gopenstack.NewComputeV2(pc, eo); err != nil {
		return nil, fmt.Errorf("openstack: compute endpoint: %w", err)
	}
	p.compute.Microversion = computeMicroversion
	if p.image, err = gopenstack.NewImageV2(pc, eo); err != nil {
		p.image = nil
	}
	if p.network, err = gopenstack.NewNetworkV2(pc, eo); err != nil {
		p.network = nil
	}
	if p.region == "" {
		// The ID's region part: the compute endpoint's host when no
		// region is named.
		p.region = hostOf(p.compute.Endpoint)
	}
	p.log = log.With("provider", cfg.Name, "region", p.region)
	p.log.Info("authenticated to OpenStack", "authURL", ao.IdentityEndpoint, "compute", p.compute.Endpoint)
	return p, nil
}

// authOptions merges the clouds.yaml entry and the explicit fields.
func authOptions(cfg Config) (gophercloud.AuthOptions, gophercloud.EndpointOpts, *tls.Config, error) {
	var (
		ao        gophercloud.AuthOptions
		eo        gophercloud.EndpointOpts
		tlsConfig *tls.Config
	)
	if cfg.Cloud != "" {
		opts := []clouds.ParseOption{clouds.WithCloudName(cfg.Cloud)}
		if cfg.CloudsFile != "" {
			opts = append(opts, clouds.WithLocations(cfg.CloudsFile))
		}
		if cfg.Region != "" {
			opts = append(opts, clouds.WithRegion(cfg.Region))
		}
		if cfg.CACert != "" {
			opts = append(opts, clouds.WithCACertPath(cfg.CACert))
		}
		if cfg.Insecure {
			opts = append(opts, clouds.WithInsecure(true))
		}
		var err error
		if ao, eo, tlsConfig, err = clouds.Parse(opts...); err != nil {
			return ao, eo, nil, fmt.Errorf("cloud %q of clouds.yaml: %w", cfg.Cloud, err)
		}
	} else {
		eo.Availability = gophercloud.AvailabilityPublic
		if cfg.CACert != "" || cfg.Insecure {
			tlsConfig = &tls.Config{InsecureSkipVerify: cfg.Insecure}
			if cfg.CACert != "" {
				pem, err := os.ReadFile(cfg.CACert)
				if err != nil {
					return ao, eo, nil, fmt.Errorf("CA certificate: %w", err)
				}
				pool := x509.NewCertPool()
				if !pool.AppendCertsFromPEM(pem) {
					return ao, eo, nil, fmt.Errorf("CA certificate %s: no PEM certificate", cfg.CACert)
				}
				tlsConfig.RootCAs = pool
			}
		}
	}
	if cfg.Region != "" {
		eo.Region = cfg.Region
	}
	set := func(dst *string, v string) {
		if v != "" {
			*dst = v
		}
	}
	set(&ao.IdentityEndpoint, cfg.AuthURL)
	set(&ao.Username, cfg.Username)
	set(&ao.Password, cfg.Password)
	set(&ao.DomainName, cfg.UserDomainName)
	set(&ao.ApplicationCredentialID, cfg.ApplicationCredentialID)
	set(&ao.ApplicationCredentialName, cfg.ApplicationCredentialName)
	set(&ao.ApplicationCredentialSecret, cfg.ApplicationCredentialSecret)
	switch {
	case cfg.ProjectID != "":
		ao.Scope = &gophercloud.AuthScope{ProjectID: cfg.ProjectID}
		ao.TenantID, ao.TenantName = cfg.ProjectID, ""
	case cfg.ProjectName != "":
		ao.Scope = &gophercloud.AuthScope{ProjectName: cfg.ProjectName, DomainName: cfg.ProjectDomainName}
		if ao.Scope.DomainName == "" {
			ao.Scope.DomainName = "Default"
		}
		ao.TenantName, ao.TenantID = cfg.ProjectName, ""
	}
	appCred := ao.ApplicationCredentialID != "" || ao.ApplicationCredentialName != ""
	if appCred {
		// An application credential is scoped already; Keystone refuses a
		// second scope.
		ao.Scope, ao.TenantID, ao.TenantName = nil, "", ""
	}
	if ao.Username != "" && ao.UserID == "" && ao.DomainName == "" && ao.DomainID == "" {
		ao.DomainName = "Default"
	}
	switch {
	case ao.IdentityEndpoint == "":
		return ao, eo, nil, errors.New("no auth URL (authURL, or auth.auth_url of the clouds.yaml entry)")
	case appCred && ao.ApplicationCredentialSecret == "":
		return ao, eo, nil, errors.New("application credential without a secret")
	case !appCred && ao.Password == "" && ao.TokenID == "":
		return ao, eo, nil, errors.New("no credentials: a password or an application credential")
	}
	ao.AllowReauth = true
	return ao, eo, tlsConfig, nil
}

// Name is the provider's name.
func (p *Provider) Name() string { return p.cfg.Name }

// PlacesMachines is true: Nova chooses the compute host.
func (p *Provider) PlacesMachines() bool { return true }

// Region is the region of the provider's endpoints (or the compute
// endpoint's host when none was named), the middle of its machines' IDs.
func (p *Provider) Region() string { return p.region }

func hostOf(u string) string {
	u = strings.TrimPrefix(strings.TrimPrefix(u, "https://"), "http://")
	if i := strings.IndexByte(u, '/'); i >= 0 {
		u = u[:i]
	}
	return u
}
