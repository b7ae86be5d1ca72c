package caas

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"slices"
	"syscall"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// Label keys the agent puts on its Node besides the well-known ones the
// scheduler reads (api.LabelHostname, the node name; api.LabelHypervisor;
// api.LabelZone).
const (
	// LabelMachineHostname is the machine's own host name, which need not
	// be the node name.
	LabelMachineHostname = "cloudmgr.dev/hostname"
	LabelOS              = "cloudmgr.dev/os"
	LabelArch            = "cloudmgr.dev/arch"
)

// RuntimeProbe tells whether the container runtime answers. The node is
// NotReady while it does not.
type RuntimeProbe interface {
	Check(ctx context.Context) error
}

// SocketProbe checks that something accepts connections on the runtime's
// unix socket.
type SocketProbe struct{ Path string }

// Check dials the socket.
func (p SocketProbe) Check(ctx context.Context) error {
	var d net.Dialer
	conn, err := d.DialContext(ctx, "unix", p.Path)
	if err != nil {
		return fmt.Errorf("containerd unreachable at %s: %w", p.Path, err)
	}
	return conn.Close()
}

// VersionProbe checks the runtime by asking its version: it answers only
// when the engine itself does.
type VersionProbe struct{ Runtime Runtime }

// Check asks the runtime for its version.
func (p VersionProbe) Check(ctx context.Context) error {
	if _, err := p.Runtime.Version(ctx); err != nil {
		return fmt.Errorf("containerd unreachable: %w", err)
	}
	return nil
}

// NodeConfig describes the node the agent registers.
type NodeConfig struct {
	Name string
	// RuntimeVersion is reported as the node's container runtime.
	RuntimeVersion string
	NodeIP         string
	// Hypervisor is the physical host the node (a VM) runs on, and Zone
	// its failure zone: the topology.cloud/hypervisor and
	// topology.kubernetes.io/zone labels, when known.
	Hypervisor string
	Zone       string
	Labels     map[string]string // extra labels
	Reserved   api.ResourceList  // kept back from allocatable for the system
	Version    string
	// StateDir is watched for disk pressure.
	StateDir string
	// HeartbeatInterval is how often the lease is renewed and conditions
	// are checked (default 5s); the lease lasts four intervals.
	HeartbeatInterval time.Duration
	// StatusEvery is how often the Node status is written even when
	// nothing changed (default 1 minute).
	StatusEvery time.Duration
	// MinMemoryAvailable and MinDiskFree set the pressure thresholds
	// (defaults 100Mi and 1Gi).
	MinMemoryAvailable int64
	MinDiskFree        int64
}

// NodeAgent registers its Node, renews its Lease and keeps its conditions
// current, acting through the API with its node credential.
type NodeAgent struct {
	cfg     NodeConfig
	nodes   *client.Resource[api.Node, *api.Node]
	leases  *client.Resource[api.Lease, *api.Lease]
	probe   RuntimeProbe
	machine Machine
	log     *slog.Logger

	lastStatus time.Time
}

// NewNodeAgent builds an agent; Run starts it.
func NewNodeAgent(c *client.Client, cfg NodeConfig, probe RuntimeProbe, log *slog.Logger) (*NodeAgent, error) {
	if cfg.HeartbeatInterval == 0 {
		cfg.HeartbeatInterval = 5 * time.Second
	}
	if cfg.StatusEvery == 0 {
		cfg.StatusEvery = time.Minute
	}
	if cfg.MinMemoryAvailable == 0 {
		cfg.MinMemoryAvailable = 100 << 20
	}
	if cfg.MinDiskFree == 0 {
		cfg.MinDiskFree = 1 << 30
	}
	if cfg.StateDir == "" {
		cfg.StateDir = "/"
	}
	m, err := ReadMachine()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &NodeAgent{cfg: cfg, nodes: client.For[api.Node](c), leases: client.For[api.Lease](c), probe: probe, machine: m, log: log}, nil
}

// Run registers the node and then heartbeats until ctx ends. Failures to
// reach the API are retried; Run returns only when ctx ends.
func (a *NodeAgent) Run(ctx context.Context) error {
	for {
		err := a.register(ctx)
		if err == nil {
			break
		}
		a.log.Warn("register node", "node", a.cfg.Name, "err", err)
		if !sleep(ctx, a.cfg.HeartbeatInterval) {
			return nil
		}
	}
	a.log.Info("node registered", "node", a.cfg.Name)
	for {
		if err := a.heartbeat(ctx); err != nil && ctx.Err() == nil {
			a.log.Warn("heartbeat", "node", a.cfg.Name, "err", err)
		}
		if !sleep(ctx, a.cfg.HeartbeatInterval) {
			return nil
		}
	}
}

func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// desired is the Node as this agent describes it.
func (a *NodeAgent) desired() *api.Node {
	labels := map[string]string{
		LabelOS:   runtime.GOOS,
		LabelArch: runtime.GOARCH,
	}
	// A node name may be longer than a label value can be (253 against
	// 63 characters): such a node goes without the label rather than
	// without registering.
	for k, v := range map[string]string{api.LabelHostname: a.cfg.Name, LabelMachineHostname: a.machine.Hostname} {
		if len(api.IsValidLabelValue(v)) == 0 {
			labels[k] = v
		}
	}
	if a.cfg.Hypervisor != "" {
		labels[api.LabelHypervisor] = a.cfg.Hypervisor
	}
	if a.cfg.Zone != "" {
		labels[api.LabelZone] = a.cfg.Zone
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	return &api.Node{ObjectMeta: api.ObjectMeta{Name: a.cfg.Name, Labels: labels}}
}

// register creates the Node, or takes over the existing one (a restarted
// agent), merging its labels; then writes the status.
func (a *NodeAgent) register(ctx context.Context) error {
	want := a.desired()
	cur, err := a.nodes.Get(ctx, "", a.cfg.Name)
	switch {
	case client.IsNotFound(err):
		if _, err := a.nodes.Create(ctx, want); err != nil && !client.IsAlreadyExists(err) {
			return fmt.Errorf("create node: %w", err)
		}
	case err != nil:
		return fmt.Errorf("get node: %w", err)
	default:
		changed := false
		if cur.Labels == nil {
			cur.Labels = map[string]string{}
		}
		for k, v := range want.Labels {
			if cur.Labels[k] != v {
				cur.Labels[k], changed = v, true
			}
		}
		if changed {
			if _, err := a.nodes.Update(ctx, cur); err != nil {
				return fmt.Errorf("update node labels: %w", err)
			}
		}
	}
	return a.writeStatus(ctx, true)
}

// heartbeat renews the lease and rewrites the status when a condition
// changed or StatusEvery has passed.
func (a *NodeAgent) heartbeat(ctx context.Context) error {
	if err := a.renewLease(ctx); err != nil {
		return err
	}
	return a.writeStatus(ctx, time.Since(a.lastStatus) >= a.cfg.StatusEvery)
}

func (a *NodeAgent) renewLease(ctx context.Context) error {
	now := api.Now()
	dur := int32((4 * a.cfg.HeartbeatInterval).Seconds())
	l, err := a.leases.Get(ctx, api.NamespaceNodeLease, a.cfg.Name)
	if client.IsNotFound(err) {
		l = &api.Lease{ObjectMeta: api.ObjectMeta{Name: a.cfg.Name, Namespace: api.NamespaceNodeLease},
			Spec: api.LeaseSpec{HolderIdentity: a.cfg.Name, LeaseDurationSeconds: dur, AcquireTime: &now, RenewTime: &now}}
		_, err = a.leases.Create(ctx, l)
		return err
	}
	if err != nil {
		return fmt.Errorf("get lease: %w", err)
	}
	l.Spec.HolderIdentity, l.Spec.LeaseDurationSeconds, l.Spec.RenewTime = a.cfg.Name, dur, &now
	if _, err := a.leases.Update(ctx, l); err != nil {
		return fmt.Errorf("renew lease: %w", err)
	}
	return nil
}

// conditions measures the node's health now.
func (a *NodeAgent) conditions(ctx context.Context) []api.NodeCondition {
	cond := func(t api.NodeConditionType, bad bool, reason, msg string) api.NodeCondition {
		st := api.ConditionFalse
		if bad {
			st = api.ConditionTrue
		}
		return api.NodeCondition{Type: t, Status: st, Reason: reason, Message: msg}
	}
	ready := api.NodeCondition{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "CloudletReady", Message: "cloudlet is posting ready status"}
	pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	if err := a.probe.Check(pctx); err != nil {
		ready = api.NodeCondition{Type: api.NodeReady, Status: api.ConditionFalse, Reason: "ContainerdUnreachable", Message: err.Error()}
	}
	memPressure := cond(api.NodeMemoryPressure, false, "CloudletHasSufficientMemory", "")
	if mem, err := memInfo(); err == nil && mem["MemAvailable"] < a.cfg.MinMemoryAvailable {
		memPressure = cond(api.NodeMemoryPressure, true, "CloudletHasInsufficientMemory",
			fmt.Sprintf("%d bytes available, below %d", mem["MemAvailable"], a.cfg.MinMemoryAvailable))
	}
	diskPressure := cond(api.NodeDiskPressure, false, "CloudletHasNoDiskPressure", "")
	var fs syscall.Statfs_t
	if err := syscall.Statfs(a.cfg.StateDir, &fs); err == nil {
		if free := int64(fs.Bavail) * fs.Bsize; free < a.cfg.MinDiskFree {
			diskPressure = cond(api.NodeDiskPressure, true, "CloudletHasDiskPressure",
				fmt.Sprintf("%d bytes free in %s, below %d", free, a.cfg.StateDir, a.cfg.MinDiskFree))
		}
	}
	if memPressure.Status == api.ConditionTrue || diskPressure.Status == api.ConditionTrue {
		if ready.Status == api.ConditionTrue {
			ready.Message = "cloudlet is ready, under resource pressure"
		}
	}
	return []api.NodeCondition{ready, memPressure, diskPressure}
}

// writeStatus writes capacity, addresses, node info and conditions, keeping
// transition times of unchanged conditions. Without force it writes only
// when a condition changed.
func (a *NodeAgent) writeStatus(ctx context.Context, force bool) error {
	node, err := a.nodes.Get(ctx, "", a.cfg.Name)
	if err != nil {
		return fmt.Errorf("get node: %w", err)
	}
	now := api.Now()
	conds := a.conditions(ctx)
	changed := false
	for i := range conds {
		conds[i].LastHeartbeatTime = now
		conds[i].LastTransitionTime = now
		for _, old := range node.Status.Conditions {
			if old.Type != conds[i].Type {
				continue
			}
			if old.Status == conds[i].Status {
				conds[i].LastTransitionTime = old.LastTransitionTime
			}
			if old.Status != conds[i].Status || old.Reason != conds[i].Reason {
				changed = true
			}
		}
	}
	// Conditions of other types belong to others (the IaaS layer's
	// HypervisorReachable): kept as they are.
	var others []api.NodeCondition
	for _, old := range node.Status.Conditions {
		if !slices.ContainsFunc(conds, func(c api.NodeCondition) bool { return c.Type == old.Type }) {
			others = append(others, old)
		}
	}
	if len(node.Status.Conditions)-len(others) != len(conds) {
		changed = true
	}
	if !force && !changed {
		return nil
	}
	capacity, allocatable := a.machine.Resources(a.cfg.Reserved)
	// Usage belongs to the UsageSampler, which writes it on its own
	// schedule; keep what was read (the update fails with a conflict,
	// retried, if it changed meanwhile).
	node.Status = api.NodeStatus{
		Usage:    node.Status.Usage,
		Capacity: capacity, Allocatable: allocatable, Conditions: append(conds, others...),
		Addresses: Addresses(a.cfg.NodeIP, a.machine.Hostname),
		NodeInfo: api.NodeSystemInfo{
			MachineID: a.machine.MachineID, KernelVersion: a.machine.KernelVersion, OSImage: a.machine.OSImage,
			KubeletVersion: a.cfg.Version, OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH,
			ContainerRuntimeVersion: a.cfg.RuntimeVersion,
		},
	}
	if _, err := a.nodes.UpdateStatus(ctx, node); err != nil {
		if client.IsConflict(err) {
			return errors.New("node status changed meanwhile; retrying at the next heartbeat")
		}
		return fmt.Errorf("update node status: %w", err)
	}
	if changed {
		a.log.Info("node conditions", "node", a.cfg.Name, "ready", conds[0].Status, "reason", conds[0].Reason)
	}
	a.lastStatus = time.Now()
	return nil
}
