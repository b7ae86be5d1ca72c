package sim

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"runtime"
	"runtime/pprof"
	"slices"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/caas"
	"github.com/cloudmgr/cloud/caas/simpods"
	"github.com/cloudmgr/cloud/client"
)

// Phases of a simulated node.
const (
	phaseJoin     = iota // exchange the join token for a node credential
	phaseRegister        // create or take over the Node, its status and lease
	phaseRun             // heartbeat
	phaseDone            // gave up (join refused) or stopped
)

// node is a simulated node agent. It holds no goroutine between steps: a
// timer runs the next one.
type node struct {
	a    *agents
	name string
	// What the machine is.
	cpus       int32
	memMiB     int64
	host       string
	pool       string
	address    string
	providerID string

	base *client.Client

	ctx    context.Context
	cancel context.CancelFunc

	mu       sync.Mutex
	boot     *api.NodeBootstrap // its JoinToken is dropped once used
	phase    int
	stopped  bool
	paused   bool
	timer    *time.Timer
	backoff  time.Duration
	c        *client.Client // with the node credential
	machine  bool           // the credential is bound to a Machine
	obj      *api.Node      // as last written
	lease    *api.Lease     // as last written
	statusAt time.Time
	// renewedAt is when the lease was last renewed.
	renewedAt time.Time
	// usageWritten is the CPU (millicores) of the last status written.
	usageWritten int64
	ownPods      *simpods.Agent // without Config.Watch
	heartbeats   int
}

func newNode(a *agents, m *machine, boot *api.NodeBootstrap, base *client.Client) *node {
	cpus, mem := m.m.CPUs, m.m.MemoryMiB
	if a.p.cfg.NodeCPUs > 0 {
		cpus = a.p.cfg.NodeCPUs
	}
	if a.p.cfg.NodeMemoryMiB > 0 {
		mem = a.p.cfg.NodeMemoryMiB
	}
	ctx, cancel := context.WithCancel(a.ctx)
	return &node{a: a, name: boot.NodeName, cpus: cpus, memMiB: mem, host: m.m.Host, pool: m.pool,
		address: m.m.Addresses[0], providerID: m.m.ID, base: base, ctx: ctx, cancel: cancel, boot: boot}
}

// schedule runs the next step after d.
func (n *node) schedule(d time.Duration) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.stopped || n.paused || n.phase == phaseDone {
		return
	}
	n.timer = time.AfterFunc(d, n.step)
}

func (n *node) stop() {
	n.mu.Lock()
	n.stopped = true
	if n.timer != nil {
		n.timer.Stop()
	}
	n.mu.Unlock()
	n.cancel()
}

// setPaused stops (or resumes) the node's heartbeats and pod actions.
func (n *node) setPaused(paused bool) {
	n.mu.Lock()
	was := n.paused
	n.paused = paused
	if paused && n.timer != nil {
		n.timer.Stop()
	}
	n.mu.Unlock()
	if was && !paused {
		// The node lifecycle controller may have marked the node
		// Unknown meanwhile: say Ready again at once.
		n.statusDue()
		n.schedule(0)
		n.a.kick(n.name)
	}
}

// statusDue makes the next heartbeat write the status.
func (n *node) statusDue() {
	n.mu.Lock()
	n.statusAt = time.Time{}
	n.mu.Unlock()
}

// podClient is the node's client while it may act on its pods.
func (n *node) podClient() (*client.Client, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.c, n.phase == phaseRun && !n.stopped && !n.paused
}

// step does one step of the node's life and schedules the next.
func (n *node) step() {
	pprof.SetGoroutineLabels(profileCtx)
	if !n.a.enter() {
		return
	}
	defer n.a.wg.Done()
	if !n.a.acquire(n.ctx) {
		return
	}
	n.mu.Lock()
	phase := n.phase
	n.mu.Unlock()
	var next time.Duration
	switch phase {
	case phaseJoin:
		next = n.join()
	case phaseRegister:
		next = n.register()
	case phaseRun:
		next = n.heartbeat()
	}
	n.a.releaseSlot()
	if n.ctx.Err() == nil {
		n.schedule(next)
	}
}

// retryAfter logs a failed step and returns the wait before retrying it:
// doubling from 500ms up to 5s (or the heartbeat interval, if shorter).
func (n *node) retryAfter(err error) time.Duration {
	n.mu.Lock()
	n.backoff = min(max(2*n.backoff, 500*time.Millisecond), 5*time.Second, max(n.a.p.cfg.HeartbeatInterval, 500*time.Millisecond))
	d, phase := n.backoff, n.phase
	n.mu.Unlock()
	if n.ctx.Err() == nil {
		// API errors are the server's Status, client errors name the URL
		// without credentials: neither holds a token.
		n.a.p.log.Debug("simulated node: step failed, retrying", "node", n.name, "phase", phase, "in", d, "err", err)
	}
	return d
}

func (n *node) setPhase(p int) {
	n.mu.Lock()
	n.phase, n.backoff = p, 0
	n.mu.Unlock()
}

// join exchanges the join token for a node credential, retrying while the
// server answers 409 (the machine's provider ID is not recorded yet), a
// 5xx or 429, or cannot be reached, as cloudlet does.
func (n *node) join() time.Duration {
	n.mu.Lock()
	tok := n.boot.JoinToken
	n.mu.Unlock()
	nc, err := n.base.WithToken(tok).Join(n.ctx, n.name)
	if err != nil {
		code := client.Code(err)
		if code == 0 || code == http.StatusConflict || code == http.StatusTooManyRequests || code >= 500 {
			return n.retryAfter(err)
		}
		// The error is the server's Status: it names no token.
		n.a.p.log.Warn("simulated node: join refused; it will not join", "node", n.name, "err", err)
		n.setPhase(phaseDone)
		return 0
	}
	n.mu.Lock()
	n.boot.JoinToken = "" // used up; and a secret
	n.c = n.base.WithToken(nc.Token)
	n.machine = nc.Machine != ""
	n.mu.Unlock()
	n.setPhase(phaseRegister)
	return 0
}

// labels are the labels the simulated agent puts on its Node.
func (n *node) labels() map[string]string {
	l := map[string]string{
		caas.LabelOS: runtime.GOOS, caas.LabelArch: runtime.GOARCH,
		caas.LabelMachineHostname: n.name, LabelSimulated: "true",
	}
	if len(api.IsValidLabelValue(n.name)) == 0 {
		l[api.LabelHostname] = n.name
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	for k, v := range n.boot.Labels {
		l[k] = v
	}
	if n.boot.Zone != "" {
		l[api.LabelZone] = n.boot.Zone
	}
	if !n.machine {
		// A node bound to a machine has its hypervisor label from the
		// machine record; others say where they run.
		l[api.LabelHypervisor] = n.host
		if n.boot.Hypervisor != "" {
			l[api.LabelHypervisor] = n.boot.Hypervisor
		}
	}
	return l
}

// register creates the Node (or takes it over: the API server created it
// at a machine-bound join, or an agent before this one did), writes its
// status and creates its lease.
func (n *node) register() time.Duration {
	nodes := client.For[api.Node](n.c)
	want := n.labels()
	n.mu.Lock()
	bound := n.machine
	n.mu.Unlock()
	var cur *api.Node
	err := errAlreadyExists
	if !bound {
		cur, err = nodes.Create(n.ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: n.name, Labels: want}})
	}
	if errors.Is(err, errAlreadyExists) || client.IsAlreadyExists(err) {
		cur, err = n.takeOver(nodes, want)
	}
	if err != nil {
		return n.retryAfter(err)
	}
	n.mu.Lock()
	n.obj = cur
	n.mu.Unlock()
	if err := n.writeStatus(); err != nil {
		return n.retryAfter(err)
	}
	if err := n.renewLease(); err != nil {
		return n.retryAfter(err)
	}
	n.setPhase(phaseRun)
	if n.a.p.cfg.Watch == nil {
		n.watchOwnPods()
	} else {
		n.a.kick(n.name)
	}
	// The first heartbeat falls anywhere in the interval, so that nodes
	// that joined together do not beat together.
	return time.Duration(rand.Int64N(int64(n.a.p.cfg.HeartbeatInterval)))
}

// errAlreadyExists stands for the Node a machine-bound join made.
var errAlreadyExists = errors.New("node exists")

// takeOver reads the existing Node and adds the agent's labels to it.
func (n *node) takeOver(nodes *client.Resource[api.Node, *api.Node], want map[string]string) (*api.Node, error) {
	cur, err := nodes.Get(n.ctx, "", n.name)
	if err != nil {
		return nil, err
	}
	changed := false
	if cur.Labels == nil {
		cur.Labels = map[string]string{}
	}
	for k, v := range want {
		if cur.Labels[k] != v {
			cur.Labels[k], changed = v, true
		}
	}
	if !changed {
		return cur, nil
	}
	return nodes.Update(n.ctx, cur)
}

// watchOwnPods runs a pod agent on the node's own pods, with its own
// credential (one watch per node: without Config.Watch).
func (n *node) watchOwnPods() {
	pods := simpods.New(simpods.Options{Watch: n.c, FieldSelector: "spec.nodeName=" + n.name,
		Node: func(string) (*client.Client, bool) { return n.podClient() }, StartDelay: n.a.p.cfg.PodStartDelay, Log: n.a.p.log})
	n.mu.Lock()
	n.ownPods = pods
	n.mu.Unlock()
	n.a.wg.Go(func() { _ = pods.Run(n.ctx) })
}

// heartbeat renews the lease, and writes the status when StatusInterval
// has passed or the CPU usage changed.
func (n *node) heartbeat() time.Duration {
	n.mu.Lock()
	// A lease left unrenewed for two intervals (a slow server) may have
	// had the node marked Unknown: the status is written again.
	late := time.Since(n.renewedAt) > 2*n.a.p.cfg.HeartbeatInterval
	n.mu.Unlock()
	if err := n.renewLease(); err != nil {
		return n.retryAfter(err)
	}
	used := n.usedMilli()
	n.mu.Lock()
	n.heartbeats++
	due := late || time.Since(n.statusAt) >= n.a.p.cfg.StatusInterval || used != n.usageWritten
	n.backoff = 0
	n.mu.Unlock()
	if due {
		if err := n.writeStatus(); err != nil {
			return n.retryAfter(err)
		}
	}
	return n.a.p.cfg.HeartbeatInterval
}

// renewLease updates the lease as last written (one request), reading it
// again only when that fails.
func (n *node) renewLease() error {
	leases := client.For[api.Lease](n.c)
	now := api.Now()
	dur := int32((4 * n.a.p.cfg.HeartbeatInterval).Seconds())
	n.mu.Lock()
	l := n.lease
	n.mu.Unlock()
	if l != nil {
		next := *l
		next.Spec.RenewTime, next.Spec.LeaseDurationSeconds = &now, dur
		got, err := leases.Update(n.ctx, &next)
		if err == nil {
			n.setLease(got)
			return nil
		}
		if !client.IsConflict(err) && !client.IsNotFound(err) {
			return err
		}
	}
	fresh := &api.Lease{ObjectMeta: api.ObjectMeta{Name: n.name, Namespace: api.NamespaceNodeLease},
		Spec: api.LeaseSpec{HolderIdentity: n.name, LeaseDurationSeconds: dur, AcquireTime: &now, RenewTime: &now}}
	if l == nil {
		// A new node's lease most likely does not exist yet.
		got, err := leases.Create(n.ctx, fresh)
		if err == nil {
			n.setLease(got)
			return nil
		}
		if !client.IsAlreadyExists(err) {
			return fmt.Errorf("lease of %s: %w", n.name, err)
		}
	}
	cur, err := leases.Get(n.ctx, api.NamespaceNodeLease, n.name)
	if client.IsNotFound(err) {
		cur, err = leases.Create(n.ctx, fresh)
	} else if err == nil {
		cur.Spec.HolderIdentity, cur.Spec.LeaseDurationSeconds, cur.Spec.RenewTime = n.name, dur, &now
		cur, err = leases.Update(n.ctx, cur)
	}
	if err != nil {
		n.setLease(nil)
		return fmt.Errorf("lease of %s: %w", n.name, err)
	}
	n.setLease(cur)
	return nil
}

func (n *node) setLease(l *api.Lease) {
	n.mu.Lock()
	n.lease = l
	if l != nil {
		n.renewedAt = time.Now()
	}
	n.mu.Unlock()
}

// writeStatus writes the node's status over the Node as last written,
// reading it again after a conflict (another writer, such as the node
// lifecycle controller, changed it).
func (n *node) writeStatus() error {
	nodes := client.For[api.Node](n.c)
	n.mu.Lock()
	cur := n.obj
	n.mu.Unlock()
	for attempt := 0; ; attempt++ {
		used := n.usedMilli()
		next := *cur
		next.Status = n.status(cur, used)
		got, err := nodes.UpdateStatus(n.ctx, &next)
		if err == nil {
			n.mu.Lock()
			n.obj, n.statusAt, n.usageWritten = got, time.Now(), used
			n.mu.Unlock()
			return nil
		}
		if !client.IsConflict(err) || attempt >= 3 {
			return fmt.Errorf("status of node %s: %w", n.name, err)
		}
		if cur, err = nodes.Get(n.ctx, "", n.name); err != nil {
			return fmt.Errorf("node %s: %w", n.name, err)
		}
	}
}

// status is the status the simulated node reports over cur's, its pods
// using usedMilli of its CPU (and the same fraction of its memory).
func (n *node) status(cur *api.Node, usedMilli int64) api.NodeStatus {
	cpuFrac := float64(usedMilli) / float64(int64(n.cpus)*1000)
	now := api.Now()
	capacity := api.ResourceList{
		api.ResourceCPU:    api.NewQuantity(int64(n.cpus), api.DecimalSI),
		api.ResourceMemory: api.NewQuantity(n.memMiB<<20, api.BinarySI),
		api.ResourcePods:   api.NewQuantity(110, api.DecimalSI),
	}
	conds := []api.NodeCondition{
		{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "SimulatedAgentReady", Message: "simulated node agent is posting ready status"},
		{Type: api.NodeMemoryPressure, Status: api.ConditionFalse, Reason: "SimulatedAgentHasSufficientMemory"},
		{Type: api.NodeDiskPressure, Status: api.ConditionFalse, Reason: "SimulatedAgentHasNoDiskPressure"},
	}
	for i := range conds {
		conds[i].LastHeartbeatTime, conds[i].LastTransitionTime = now, now
		for _, old := range cur.Status.Conditions {
			if old.Type == conds[i].Type && old.Status == conds[i].Status {
				conds[i].LastTransitionTime = old.LastTransitionTime
			}
		}
	}
	// Conditions of other types belong to others (HypervisorReachable).
	for _, old := range cur.Status.Conditions {
		if !slices.ContainsFunc(conds, func(c api.NodeCondition) bool { return c.Type == old.Type }) {
			conds = append(conds, old)
		}
	}
	used := api.ResourceList{
		api.ResourceCPU:    api.NewMilliQuantity(usedMilli, api.DecimalSI),
		api.ResourceMemory: api.NewQuantity(int64(cpuFrac*float64(n.memMiB))<<20, api.BinarySI),
	}
	window := n.a.p.cfg.StatusInterval.Seconds()
	return api.NodeStatus{
		Capacity: capacity, Allocatable: capacity, Conditions: conds,
		Addresses: []api.NodeAddress{{Type: api.NodeInternalIP, Address: n.address}, {Type: api.NodeHostName, Address: n.name}},
		NodeInfo: api.NodeSystemInfo{MachineID: n.providerID, KernelVersion: Simulated, OSImage: Simulated,
			KubeletVersion: "sim", OperatingSystem: runtime.GOOS, Architecture: runtime.GOARCH, ContainerRuntimeVersion: Simulated},
		Usage: &api.NodeUsage{Timestamp: now, WindowSeconds: window, Node: used, Pods: used},
	}
}
