package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/go-viper/mapstructure/v2"
	"github.com/spf13/viper"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/providers/openstack"
	"github.com/cloudmgr/cloud/providers/sim"
)

// The config file's `providers` map declares the VM sources besides the
// libvirt provider cloudd always has (hypervisors are added to it at run
// time as Hypervisor objects). Each key is a provider's name, which
// NodePools and VMs name in spec.provider; its keys are the type and that
// type's settings:
//
//	providers:
//	  libvirt:                 # hypervisors registered at start-up
//	    hypervisors:
//	      local: qemu:///system
//	  public:
//	    type: openstack
//	    cloud: mycloud         # an entry of clouds.yaml
//	    region: RegionOne
//	    network: private
//	    passwordFile: /etc/cloudd/os-password   # or passwordEnv: OS_PASSWORD
//	  sim:                     # SIMULATED hypervisors whose VMs join as simulated nodes
//	    cloud: true
//	    hosts: [{name: rack, cpus: 64, memoryMiB: 262144, count: 10}]
//	    createDelay: 2s
//	    cpuUsage: 0.3
//
// The type defaults to the name when the name is a type. Secrets
// (password, applicationCredentialSecret) come inline, from a file
// (…File) or from an environment variable (…Env), and are never printed.
// Environment variables CLOUDD_PROVIDERS_<NAME>_<KEY> override keys the
// file sets. A bad entry fails start-up with its key path and the reason.

// Provider types.
const (
	typeLibvirt   = "libvirt"
	typeOpenStack = "openstack"
	typeSim       = "sim"
)

var providerTypes = []string{typeLibvirt, typeOpenStack, typeSim}

// providerEntry is one entry of the providers map, decoded: its type's
// section is set.
type providerEntry struct {
	Type      string
	Libvirt   *libvirtEntry
	OpenStack *openStackEntry
	Sim       *sim.Config
	name      string // the key
}

// libvirtEntry configures the libvirt provider: hypervisors to register
// (name to URI) when no Hypervisor object of that name exists.
type libvirtEntry struct {
	Hypervisors map[string]string `mapstructure:"hypervisors"`
}

// openStackEntry is openstack.Config plus where its secrets come from.
type openStackEntry struct {
	openstack.Config                `mapstructure:",squash"`
	PasswordFile                    string `mapstructure:"passwordFile"`
	PasswordEnv                     string `mapstructure:"passwordEnv"`
	ApplicationCredentialSecretFile string `mapstructure:"applicationCredentialSecretFile"`
	ApplicationCredentialSecretEnv  string `mapstructure:"applicationCredentialSecretEnv"`
}

var providerName = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

// readProviderEntries decodes and checks the providers map of v, sorted by
// name. Each error names the key path.
func readProviderEntries(v *viper.Viper) ([]providerEntry, error) {
	raw := v.GetStringMap("providers")
	names := make([]string, 0, len(raw))
	for name := range raw {
		names = append(names, name)
	}
	sort.Strings(names)
	var out []providerEntry
	for _, name := range names {
		path := "providers." + name
		if !providerName.MatchString(name) {
			return nil, fmt.Errorf("%s: a provider name must be a DNS label (lower case letters, digits and dashes)", path)
		}
		raw, ok := v.Get(path).(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s: want a map of settings (type: ...)", path)
		}
		e := providerEntry{name: name}
		e.Type = v.GetString(path + ".type")
		if e.Type == "" {
			e.Type = name
		}
		settings := map[string]any{}
		for k := range raw {
			if k != "type" {
				// Through v, so that the environment overrides the file.
				settings[k] = v.Get(path + "." + k)
			}
		}
		var section any
		switch e.Type {
		case typeLibvirt:
			e.Libvirt = &libvirtEntry{}
			section = e.Libvirt
		case typeOpenStack:
			e.OpenStack = &openStackEntry{}
			section = e.OpenStack
		case typeSim:
			e.Sim = &sim.Config{}
			section = e.Sim
		default:
			return nil, fmt.Errorf("%s.type: unknown provider type %q (one of %s)", path, e.Type, strings.Join(providerTypes, ", "))
		}
		if err := decodeStrict(settings, section); err != nil {
			return nil, decodeError(path, strings.TrimPrefix(fmt.Sprintf("%T", section), "*"), err)
		}
		if err := e.check(path); err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, nil
}

// decodeStrict decodes settings into out, refusing unknown keys.
func decodeStrict(settings map[string]any, out any) error {
	dec, err := mapstructure.NewDecoder(&mapstructure.DecoderConfig{
		Result: out, ErrorUnused: true, WeaklyTypedInput: true,
		DecodeHook: mapstructure.StringToTimeDurationHookFunc(),
	})
	if err != nil {
		return err
	}
	return dec.Decode(settings)
}

var decodeLine = regexp.MustCompile(`^'([^']*)' (.*)$`)

// decodeError rewrites mapstructure's errors ("'field' reason", the root
// named by its Go type) as "PATH.field: reason", joined by "; ".
func decodeError(path, root string, err error) error {
	var msgs []string
	for _, line := range strings.Split(err.Error(), "\n") {
		line = strings.TrimPrefix(strings.TrimSpace(line), "* ")
		if line == "" || strings.HasPrefix(line, "decoding failed") || strings.HasSuffix(line, "error(s) decoding:") {
			continue
		}
		if m := decodeLine.FindStringSubmatch(line); m != nil {
			p := path
			if f := strings.TrimPrefix(strings.TrimPrefix(m[1], root), "."); f != "" {
				p += "." + f
			}
			reason := m[2]
			if keys, ok := strings.CutPrefix(reason, "has invalid keys: "); ok {
				reason = "unknown keys " + keys
			}
			line = p + ": " + reason
		} else {
			line = path + ": " + line
		}
		msgs = append(msgs, line)
	}
	if len(msgs) == 0 {
		return fmt.Errorf("%s: %w", path, err)
	}
	return errors.New(strings.Join(msgs, "; "))
}

// check fills the type and the secrets and validates the entry.
func (e *providerEntry) check(path string) error {
	switch e.Type {
	case typeLibvirt:
		if e.name != typeLibvirt {
			return fmt.Errorf("%s.type: there is one libvirt provider, named libvirt (its hypervisors are Hypervisor objects)", path)
		}
		for hv, uri := range e.Libvirt.Hypervisors {
			if errs := api.IsDNS1123Label(hv); len(errs) > 0 {
				return fmt.Errorf("%s.hypervisors.%s: %s", path, hv, strings.Join(errs, "; "))
			}
			if uri == "" {
				return fmt.Errorf("%s.hypervisors.%s: a libvirt URI is required", path, hv)
			}
		}
	case typeOpenStack:
		o := e.OpenStack
		o.Name = e.name
		if o.Cloud == "" && o.AuthURL == "" {
			return fmt.Errorf("%s: set cloud (an entry of clouds.yaml) or authURL", path)
		}
		if err := resolveSecret(path, "password", &o.Password, o.PasswordFile, o.PasswordEnv); err != nil {
			return err
		}
		if err := resolveSecret(path, "applicationCredentialSecret", &o.ApplicationCredentialSecret,
			o.ApplicationCredentialSecretFile, o.ApplicationCredentialSecretEnv); err != nil {
			return err
		}
		if o.ServerGroupPolicy != "" {
			switch o.ServerGroupPolicy {
			case "soft-anti-affinity", "anti-affinity", "soft-affinity", "affinity":
			default:
				return fmt.Errorf("%s.serverGroupPolicy: %q is not a Nova policy (soft-anti-affinity, anti-affinity, soft-affinity, affinity)", path, o.ServerGroupPolicy)
			}
		}
	case typeSim:
		e.Sim.Name = e.name
		if e.Sim.CPUUsage < 0 || e.Sim.CPUUsage > 1 {
			return fmt.Errorf("%s.cpuUsage: %v is not a fraction between 0 and 1", path, e.Sim.CPUUsage)
		}
	}
	return nil
}

// resolveSecret sets *dst from at most one of: its inline value, file
// (whose content, without a trailing newline) or env (a variable's
// value). Errors name the key and where it was looked for, never a value.
func resolveSecret(path, key string, dst *string, file, env string) error {
	set := 0
	for _, s := range []string{*dst, file, env} {
		if s != "" {
			set++
		}
	}
	switch {
	case set > 1:
		return fmt.Errorf("%s: set one of %s, %sFile and %sEnv", path, key, key, key)
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return fmt.Errorf("%s.%sFile: %w", path, key, err)
		}
		*dst = strings.TrimRight(string(b), "\r\n")
		if *dst == "" {
			return fmt.Errorf("%s.%sFile: %s is empty", path, key, file)
		}
	case env != "":
		*dst = os.Getenv(env)
		if *dst == "" {
			return fmt.Errorf("%s.%sEnv: the environment variable %s is not set", path, key, env)
		}
	}
	return nil
}

// providerEnv is what building a provider needs of the running cloudd.
type providerEnv struct {
	log *slog.Logger
	// serverURL and caPEM reach this API server from this process.
	serverURL string
	caPEM     []byte
	// simulatorToken mints the token of a simulator's shared watches.
	simulatorToken func(context.Context) (string, error)
}

// buildProvider makes the provider of entry e (not libvirt, which cloudd
// always has). A cloud that cannot be reached at start-up does not stop
// cloudd: its provider connects on first use (lateProvider).
func buildProvider(ctx context.Context, e providerEntry, env providerEnv) (iaas.Provider, error) {
	log := env.log.With("provider", e.name)
	switch e.Type {
	case typeOpenStack:
		cfg := e.OpenStack.Config
		cfg.Logger = log
		connect := func(ctx context.Context) (iaas.Provider, error) { return openstack.New(ctx, cfg) }
		p, err := connect(ctx)
		if errors.Is(err, iaas.ErrUnreachable) {
			log.Warn("provider unreachable at start-up: connecting on first use", "err", err)
			return &lateProvider{name: e.name, selfPlaces: true, connect: connect}, nil
		}
		if err != nil {
			return nil, fmt.Errorf("providers.%s: %w", e.name, err)
		}
		return p, nil
	case typeSim:
		// The simulated nodes run in this process: they reach the API
		// server where this process does, and share one watch of pods
		// and one of nodes.
		cfg := *e.Sim
		cfg.Logger = log
		if cfg.ServerURL == "" {
			cfg.ServerURL = env.serverURL
		}
		token, err := env.simulatorToken(ctx)
		if err != nil {
			return nil, fmt.Errorf("providers.%s: simulator token: %w", e.name, err)
		}
		if cfg.Watch, err = client.New(client.Config{Server: env.serverURL, CAData: env.caPEM, Token: token}, api.NewScheme()); err != nil {
			return nil, fmt.Errorf("providers.%s: %w", e.name, err)
		}
		p, err := sim.New(cfg)
		if err != nil {
			return nil, fmt.Errorf("providers.%s: %w", e.name, err)
		}
		log.Warn("SIMULATED provider: its machines are simulated nodes, not VMs", "cloud", cfg.Cloud, "hosts", len(cfg.Hosts))
		return p, nil
	}
	return nil, fmt.Errorf("providers.%s: type %s is not built here", e.name, e.Type)
}

// registerHypervisors creates the Hypervisor objects the config declares
// for the libvirt provider when none of that name exists (an existing one
// is left as it is: the API holds the truth once it is there).
func registerHypervisors(ctx context.Context, c *client.Client, entries []providerEntry, log *slog.Logger) error {
	hvs := client.For[api.Hypervisor](c)
	for _, e := range entries {
		if e.Type != typeLibvirt {
			continue
		}
		for name, uri := range e.Libvirt.Hypervisors {
			cur, err := hvs.Get(ctx, "", name)
			switch {
			case err == nil:
				if cur.Spec.URI != uri {
					log.Warn("hypervisor exists with another URI: config entry not applied", "hypervisor", name, "uri", cur.Spec.URI, "config", uri)
				}
				continue
			case !client.IsNotFound(err):
				return fmt.Errorf("providers.libvirt.hypervisors.%s: %w", name, err)
			}
			h := &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.HypervisorSpec{URI: uri, Provider: typeLibvirt}}
			if _, err := hvs.Create(ctx, h); err != nil && !client.IsAlreadyExists(err) {
				return fmt.Errorf("providers.libvirt.hypervisors.%s: %w", name, err)
			}
			log.Info("hypervisor registered from the config file", "hypervisor", name, "uri", uri)
		}
	}
	return nil
}

// lateProvider stands for a provider that could not connect at start-up:
// each call tries to connect again until one succeeds, then forwards.
type lateProvider struct {
	name       string
	selfPlaces bool
	connect    func(context.Context) (iaas.Provider, error)

	mu sync.Mutex
	p  iaas.Provider
}

var (
	_ iaas.PowerManager  = (*lateProvider)(nil)
	_ iaas.ConsoleReader = (*lateProvider)(nil)
	_ iaas.SelfPlacer    = (*lateProvider)(nil)
)

func (l *lateProvider) get(ctx context.Context) (iaas.Provider, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.p == nil {
		p, err := l.connect(ctx)
		if err != nil {
			return nil, err
		}
		l.p = p
	}
	return l.p, nil
}

// Unwrap is the connected provider, or nil.
func (l *lateProvider) Unwrap() iaas.Provider {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.p
}

func (l *lateProvider) Name() string         { return l.name }
func (l *lateProvider) PlacesMachines() bool { return l.selfPlaces }

func (l *lateProvider) Create(ctx context.Context, spec iaas.MachineSpec) (iaas.Machine, error) {
	p, err := l.get(ctx)
	if err != nil {
		return iaas.Machine{}, err
	}
	return p.Create(ctx, spec)
}

func (l *lateProvider) Delete(ctx context.Context, id string) error {
	p, err := l.get(ctx)
	if err != nil {
		return err
	}
	return p.Delete(ctx, id)
}

func (l *lateProvider) Get(ctx context.Context, id string) (iaas.Machine, error) {
	p, err := l.get(ctx)
	if err != nil {
		return iaas.Machine{}, err
	}
	return p.Get(ctx, id)
}

func (l *lateProvider) List(ctx context.Context) ([]iaas.Machine, error) {
	p, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return p.List(ctx)
}

func (l *lateProvider) Flavors(ctx context.Context) ([]iaas.Flavor, error) {
	p, err := l.get(ctx)
	if err != nil {
		return nil, err
	}
	return p.Flavors(ctx)
}

// ability returns the connected provider as T.
func ability[T any](ctx context.Context, l *lateProvider, what string) (T, error) {
	var zero T
	p, err := l.get(ctx)
	if err != nil {
		return zero, err
	}
	t, ok := iaas.Ability[T](p)
	if !ok {
		return zero, fmt.Errorf("provider %s cannot %s", l.name, what)
	}
	return t, nil
}

func (l *lateProvider) Start(ctx context.Context, id string) error {
	pm, err := ability[iaas.PowerManager](ctx, l, "start machines")
	if err != nil {
		return err
	}
	return pm.Start(ctx, id)
}

func (l *lateProvider) Stop(ctx context.Context, id string) error {
	pm, err := ability[iaas.PowerManager](ctx, l, "stop machines")
	if err != nil {
		return err
	}
	return pm.Stop(ctx, id)
}

func (l *lateProvider) Reboot(ctx context.Context, id string) error {
	pm, err := ability[iaas.PowerManager](ctx, l, "reboot machines")
	if err != nil {
		return err
	}
	return pm.Reboot(ctx, id)
}

func (l *lateProvider) ConsoleLog(ctx context.Context, id string, maxBytes int) ([]byte, error) {
	cr, err := ability[iaas.ConsoleReader](ctx, l, "read consoles")
	if err != nil {
		return nil, err
	}
	return cr.ConsoleLog(ctx, id, maxBytes)
}
