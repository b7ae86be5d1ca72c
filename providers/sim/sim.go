// Package sim is the SIMULATOR iaas.Provider: simulated hypervisors (or a
// simulated public cloud) with capacity, quota, create and delete delays
// and failure injection, whose machines come up as SIMULATED NODES. A
// simulated node runs no VM and no container: it joins through the real
// API server with the single-use join token of its config drive, exactly
// as cloudlet does, registers its Node, renews its lease, reports its
// conditions and a configurable CPU usage, and marks the pods bound to it
// Running (caas/simpods). So the scheduler, the controllers and the
// autoscaler run unchanged against thousands of nodes on one machine.
//
// Everything it makes says it is simulated: nodes carry the label
// cloudmgr.dev/simulated=true, provider IDs start with sim://, the node's
// OS image and container runtime read "simulated", and machines carry the
// provider's name ("sim" unless configured otherwise).
//
// For thousands of nodes in one process the simulated agents share one
// HTTP/2 transport (client.WithToken, each with its own node credential)
// and, given Config.Watch, one watch of pods and one of nodes; they hold no goroutine
// between heartbeats (timers spread over the interval) and a bounded
// number of requests in flight.
//
// Configured as, in YAML (durations as "10s"):
//
//	name: sim
//	cloud: true            # place machines itself; false: sim://HOST hypervisors
//	hosts: [{name: rack, cpus: 64, memoryMiB: 262144, count: 100}]
//	quota: {instances: 5000, cpus: 0, memoryMiB: 0}
//	createDelay: 2s
//	createJitter: 1s
//	deleteDelay: 1s
//	flavors: [{name: small, cpus: 1, memoryMiB: 512}]
//	faults: {insufficientCapacity: false, quota: false, hangCreates: false, neverJoin: false}
//	serverURL: https://127.0.0.1:6443
//	heartbeatInterval: 10s
//	statusInterval: 1m
//	nodeCPUs: 0            # 0: the machine's size
//	nodeMemoryMiB: 0
//	cpuUsage: 0.3
//	podStartDelay: 1s
//	maxInFlight: 64
package sim

import (
	"context"
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/iaas"
)

// ProviderName is the provider's default name.
const ProviderName = "sim"

// ProfileLabel is the pprof label (value "simulator") of the simulated
// nodes' goroutines, so that a CPU profile of a process running them
// tells their share from the control plane's (go tool pprof -tags).
const ProfileLabel = "cloudmgr"

var (
	profileLabels = pprof.Labels(ProfileLabel, "simulator")
	profileCtx    = pprof.WithLabels(context.Background(), profileLabels)
)

// LabelSimulated marks a simulated node ("true").
const LabelSimulated = "cloudmgr.dev/simulated"

// Simulated is what a simulated node reports as its OS image, kernel and
// container runtime.
const Simulated = "simulated"

// Host is a simulated hypervisor, or Count alike ones named Name-0 ..
// Name-(Count-1).
type Host struct {
	Name      string `yaml:"name" mapstructure:"name"`
	CPUs      int32  `yaml:"cpus" mapstructure:"cpus"`
	MemoryMiB int64  `yaml:"memoryMiB" mapstructure:"memoryMiB"`
	// Count > 1 makes that many hosts of this size.
	Count int `yaml:"count" mapstructure:"count"`
}

// Quota bounds what the simulated account may hold; 0 is no bound.
type Quota struct {
	Instances int   `yaml:"instances" mapstructure:"instances"`
	CPUs      int64 `yaml:"cpus" mapstructure:"cpus"`
	MemoryMiB int64 `yaml:"memoryMiB" mapstructure:"memoryMiB"`
}

// Faults are failures injected from the start (the run-time methods
// change them later).
type Faults struct {
	// InsufficientCapacity fails every Create with ErrInsufficientCapacity.
	InsufficientCapacity bool `yaml:"insufficientCapacity" mapstructure:"insufficientCapacity"`
	// Quota fails every Create with ErrQuota.
	Quota bool `yaml:"quota" mapstructure:"quota"`
	// HangCreates makes every Create block until its context ends.
	HangCreates bool `yaml:"hangCreates" mapstructure:"hangCreates"`
	// NeverJoin: created machines run but their nodes never join.
	NeverJoin bool `yaml:"neverJoin" mapstructure:"neverJoin"`
}

// Config configures the simulator.
type Config struct {
	// Name is the provider's name (default "sim").
	Name string `yaml:"name" mapstructure:"name"`
	// Hosts are the simulated hypervisors (default: one "sim-host" of 64
	// CPUs and 256 GiB). More are added with AddHost.
	Hosts []Host `yaml:"hosts" mapstructure:"hosts"`
	// Cloud makes the simulator behave as a public cloud that places
	// machines itself (iaas.SelfPlacer), spreading them over its hosts.
	// Otherwise machines go on MachineSpec.Hypervisor, a Hypervisor object
	// whose URI is sim://HOST (or which is named as a host).
	Cloud bool `yaml:"cloud" mapstructure:"cloud"`
	// Quota bounds the account (zero fields: no bound).
	Quota Quota `yaml:"quota" mapstructure:"quota"`
	// CreateDelay is how long a Create takes, plus a random part of up to
	// CreateJitter; DeleteDelay how long a Delete takes.
	CreateDelay  time.Duration `yaml:"createDelay" mapstructure:"createDelay"`
	CreateJitter time.Duration `yaml:"createJitter" mapstructure:"createJitter"`
	DeleteDelay  time.Duration `yaml:"deleteDelay" mapstructure:"deleteDelay"`
	// Flavors replaces the default table (small, medium, large).
	Flavors []iaas.Flavor `yaml:"flavors" mapstructure:"flavors"`
	// Faults are failures injected from the start.
	Faults Faults `yaml:"faults" mapstructure:"faults"`

	// ServerURL, when set, replaces the API server URL of the machines'
	// bootstrap data: a node VM reaches the server at an address (such as
	// 10.0.2.2 under user-mode networking) that this process may not.
	ServerURL string `yaml:"serverURL" mapstructure:"serverURL"`
	// HeartbeatInterval is how often a simulated node renews its lease
	// (default 10s; the lease lasts four intervals).
	HeartbeatInterval time.Duration `yaml:"heartbeatInterval" mapstructure:"heartbeatInterval"`
	// StatusInterval is how often a simulated node writes its status
	// (conditions' heartbeat times, usage) (default 1m, as cloudlet).
	StatusInterval time.Duration `yaml:"statusInterval" mapstructure:"statusInterval"`
	// NodeCPUs and NodeMemoryMiB are the capacity a simulated node
	// reports (default: its machine's size).
	NodeCPUs      int32 `yaml:"nodeCPUs" mapstructure:"nodeCPUs"`
	NodeMemoryMiB int64 `yaml:"nodeMemoryMiB" mapstructure:"nodeMemoryMiB"`
	// CPUUsage is the fraction (0..1) of its CPUs a simulated node reports
	// busy in status.usage (SetNodeCPUUsage, SetPoolCPUUsage change it;
	// with SetPodCPUUsage a node reports its pods' use instead).
	CPUUsage float64 `yaml:"cpuUsage" mapstructure:"cpuUsage"`
	// PodStartDelay is how long a pod bound to a simulated node takes to
	// run.
	PodStartDelay time.Duration `yaml:"podStartDelay" mapstructure:"podStartDelay"`
	// MaxInFlight bounds the simulated nodes' requests in flight together
	// (default 64).
	MaxInFlight int `yaml:"maxInFlight" mapstructure:"maxInFlight"`

	// Watch, when set, is a client that may watch pods in every
	// namespace and nodes (a scheduler or controller-manager client): one
	// watch of pods serves all simulated nodes, and one of nodes tells a
	// simulated node that another marked it not Ready (it says Ready again
	// at its next heartbeat, as cloudlet does). Without it each simulated
	// node watches its own pods with its node credential, and rewrites
	// its status only every StatusInterval or after a late heartbeat.
	Watch *client.Client `yaml:"-" mapstructure:"-"`
	// Logger (default slog.Default()).
	Logger *slog.Logger `yaml:"-" mapstructure:"-"`
}

// DefaultFlavors are the sizes offered unless Config.Flavors is set.
var DefaultFlavors = []iaas.Flavor{
	{Name: "small", CPUs: 1, MemoryMiB: 512},
	{Name: "medium", CPUs: 2, MemoryMiB: 1024},
	{Name: "large", CPUs: 4, MemoryMiB: 4096},
}

// Provider is the simulator. It is an iaas.Provider, an iaas.SelfPlacer
// (placing machines itself when Config.Cloud) and an iaas.HostInspector
// (for sim://HOST URIs otherwise). Safe for concurrent use; Close stops
// its simulated nodes.
type Provider struct {
	cfg Config
	log *slog.Logger

	mu       sync.Mutex
	hosts    map[string]*host
	hvs      map[string]string // Hypervisor object name -> host (InspectHost)
	machines map[string]*machine
	guests   map[string]*machine // by name (Attach)
	seq      int
	faults   faults
	usage    usageSettings
	rand     *rand.Rand

	agents *agents
}

var (
	_ iaas.Provider      = (*Provider)(nil)
	_ iaas.SelfPlacer    = (*Provider)(nil)
	_ iaas.HostInspector = (*Provider)(nil)
)

// New returns a simulator. Its simulated nodes start as machines are
// created; Close stops them.
func New(cfg Config) (*Provider, error) {
	if cfg.Name == "" {
		cfg.Name = ProviderName
	}
	if len(cfg.Hosts) == 0 {
		cfg.Hosts = []Host{{Name: "sim-host", CPUs: 64, MemoryMiB: 256 << 10}}
	}
	if len(cfg.Flavors) == 0 {
		cfg.Flavors = DefaultFlavors
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 10 * time.Second
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = time.Minute
	}
	if cfg.MaxInFlight <= 0 {
		cfg.MaxInFlight = 64
	}
	if cfg.CPUUsage < 0 || cfg.CPUUsage > 1 {
		return nil, fmt.Errorf("sim: cpuUsage %v: want a fraction between 0 and 1", cfg.CPUUsage)
	}
	if cfg.CreateDelay < 0 || cfg.CreateJitter < 0 || cfg.DeleteDelay < 0 {
		return nil, fmt.Errorf("sim: createDelay, createJitter and deleteDelay may not be negative")
	}
	if cfg.Quota.Instances < 0 || cfg.Quota.CPUs < 0 || cfg.Quota.MemoryMiB < 0 {
		return nil, fmt.Errorf("sim: quota may not be negative")
	}
	log := cfg.Logger
	if log == nil {
		log = slog.Default()
	}
	p := &Provider{cfg: cfg, log: log.With("provider", cfg.Name), hosts: map[string]*host{}, hvs: map[string]string{},
		machines: map[string]*machine{}, guests: map[string]*machine{}, rand: rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64())),
		usage: usageSettings{nodes: map[string]float64{}, pools: map[string]float64{}}}
	p.faults.fromConfig(cfg.Faults)
	for i, h := range cfg.Hosts {
		if err := p.AddHost(h); err != nil {
			return nil, fmt.Errorf("sim: hosts[%d]: %w", i, err)
		}
	}
	p.agents = newAgents(p)
	return p, nil
}

// Name is the provider's name.
func (p *Provider) Name() string { return p.cfg.Name }

// PlacesMachines reports whether the simulator places machines itself
// (Config.Cloud).
func (p *Provider) PlacesMachines() bool { return p.cfg.Cloud }

// Flavors lists the sizes offered.
func (p *Provider) Flavors(context.Context) ([]iaas.Flavor, error) {
	return slices.Clone(p.cfg.Flavors), nil
}

// Close stops every simulated node (their Nodes stay in the API, and go
// NotReady as their leases run out) and the shared pod watch.
func (p *Provider) Close() error {
	p.agents.close()
	return nil
}

// AddHost adds simulated hypervisors: h, or h.Count alike ones. A name
// already there is refused.
func (p *Provider) AddHost(h Host) error {
	if h.Name == "" {
		return fmt.Errorf("host name is empty")
	}
	if h.CPUs <= 0 || h.MemoryMiB <= 0 {
		return fmt.Errorf("host %s: cpus and memoryMiB must be positive", h.Name)
	}
	names := []string{h.Name}
	if h.Count > 1 {
		names = names[:0]
		for i := range h.Count {
			names = append(names, fmt.Sprintf("%s-%d", h.Name, i))
		}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, n := range names {
		if _, ok := p.hosts[n]; ok {
			return fmt.Errorf("host %s already exists", n)
		}
	}
	for _, n := range names {
		p.hosts[n] = &host{name: n, cpus: h.CPUs, memMiB: h.MemoryMiB}
	}
	return nil
}

// HostUsage is a simulated hypervisor's size and what its machines take.
type HostUsage struct {
	Name          string
	CPUs          int32
	MemoryMiB     int64
	Machines      int
	UsedCPUs      int32
	UsedMemoryMiB int64
}

// Hosts returns the simulated hypervisors, sorted by name.
func (p *Provider) Hosts() []HostUsage {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make([]HostUsage, 0, len(p.hosts))
	for _, n := range slices.Sorted(maps.Keys(p.hosts)) {
		h := p.hosts[n]
		out = append(out, HostUsage{Name: n, CPUs: h.cpus, MemoryMiB: h.memMiB, Machines: h.machines, UsedCPUs: h.usedCPUs, UsedMemoryMiB: h.usedMiB})
	}
	return out
}

func (p *Provider) flavor(name string) (iaas.Flavor, bool) {
	for _, f := range p.cfg.Flavors {
		if f.Name == name {
			return f, true
		}
	}
	return iaas.Flavor{}, false
}
