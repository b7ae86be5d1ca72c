// Package machine runs the Machine controller: it turns each Machine (a VM
// a NodePool wants) into a VM through its iaas.Provider and follows it
// until its node joins. Pending -> placement (unless the provider places
// machines itself) -> Provisioning -> Create with the bootstrap config
// drive -> Running -> Joined once the Node of the same name is Ready.
// Create failures, a join timeout and a VM that disappears turn it Failed
// with a condition saying why; the NodePool controller replaces it. A
// finalizer deletes the VM and the Node before the Machine goes.
package machine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/internal/kit"
)

// Finalizer holds a Machine until its VM and Node are deleted.
const Finalizer = "iaas.cloudmgr.dev/machine"

// LabelMachine names the Machine on its VM (provider metadata).
const LabelMachine = "iaas.cloudmgr.dev/machine"

// Condition reasons and event reasons of the Machine controller, besides
// the create reasons (InsufficientCapacity, Quota, Unreachable,
// CreateFailed).
const (
	ReasonJoinTimeout    = "JoinTimeout"
	ReasonNodeLost       = "NodeLost"
	ReasonVMDisappeared  = "VMDisappeared"
	ReasonNoProvider     = "ProviderNotConfigured"
	ReasonCreated        = "Created"
	ReasonNodeReady      = "NodeReady"
	ReasonWaitingForNode = "WaitingForNode"
	ReasonDeleted        = "Deleted"
)

// Options configure the controller.
type Options struct {
	// Providers are the configured providers by name.
	Providers iaas.Providers
	// Placer chooses a Hypervisor for machines whose provider does not
	// place them itself; nil leaves spec.hypervisor empty.
	Placer iaas.Placer
	// Bootstrap returns the config drive files of a machine (API URL, CA,
	// a join token bound to the machine). Nil: an empty config drive.
	Bootstrap func(ctx context.Context, m *api.Machine) (map[string][]byte, error)
	// Now is the clock (default time.Now).
	Now func() time.Time
	// JoinTimeout is how long a VM has to join when its pool does not say
	// (default 10 minutes).
	JoinTimeout time.Duration
	// CheckInterval is how often a running machine's VM is looked up at
	// the provider to notice it disappeared (default 30 s).
	CheckInterval time.Duration
	// CreateTimeout bounds one Create call (default 15 minutes); a call
	// that takes longer fails with reason Unreachable.
	CreateTimeout time.Duration
	// CallTimeout bounds the other provider calls (default 2 minutes).
	CallTimeout time.Duration
	// Workers reconcile different machines in parallel (default 32): a
	// create waits on its provider (a cloud's build takes a minute), so a
	// pool of many grows only as fast as creates run side by side.
	Workers int
}

// Controller reconciles Machines.
type Controller struct {
	o        Options
	client   *client.Client
	machines *client.Cache
	nodes    *client.Cache
	pools    *client.Cache
	rec      *controllers.Recorder
	log      *slog.Logger
	ctrl     *controllers.Controller

	mu      sync.Mutex
	checked map[string]time.Time // machine name -> last provider Get
}

// Setup registers the Machine controller and its caches on m.
func Setup(m *controllers.Manager, o Options) (*Controller, error) {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.JoinTimeout <= 0 {
		o.JoinTimeout = 10 * time.Minute
	}
	if o.CheckInterval <= 0 {
		o.CheckInterval = 30 * time.Second
	}
	if o.CreateTimeout <= 0 {
		o.CreateTimeout = 15 * time.Minute
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 2 * time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 32
	}
	c := &Controller{
		o:        o,
		client:   m.Client,
		machines: controllers.CacheFor[api.Machine](m),
		nodes:    controllers.CacheFor[api.Node](m),
		pools:    controllers.CacheFor[api.NodePool](m),
		rec:      m.Recorder("machine-controller"),
		log:      m.Log.With("controller", "machine"),
		checked:  map[string]time.Time{},
	}
	c.ctrl = controllers.NewController("machine", c, o.Workers, m.Log)
	c.machines.AddHandler(controllers.EnqueueHandler(c.ctrl))
	// A machine's node has its name.
	c.nodes.AddHandler(client.Handler{
		OnAdd:    func(o api.Object) { c.ctrl.Queue.Add(o.GetObjectMeta().Name) },
		OnUpdate: func(_, o api.Object) { c.ctrl.Queue.Add(o.GetObjectMeta().Name) },
		OnDelete: func(o api.Object) { c.ctrl.Queue.Add(o.GetObjectMeta().Name) },
	})
	m.Add(c.ctrl)
	return c, nil
}

// Reconcile moves one Machine along its phases.
func (c *Controller) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	return kit.QuietConflict(c.reconcile(ctx, key))
}

func (c *Controller) reconcile(ctx context.Context, key string) (controllers.Result, error) {
	o, ok := c.machines.Get(key)
	if !ok {
		c.forgetChecked(key)
		return controllers.Result{}, nil
	}
	m, err := controllers.Clone(o.(*api.Machine))
	if err != nil {
		return controllers.Result{}, err
	}
	if m.DeletionTimestamp != nil {
		return controllers.Result{}, c.finalize(ctx, m)
	}
	if !kit.HasFinalizer(&m.ObjectMeta, Finalizer) {
		m.Finalizers = append(m.Finalizers, Finalizer)
		if m, err = client.For[api.Machine](c.client).Update(ctx, m); err != nil {
			return controllers.Result{}, client.IgnoreNotFound(err)
		}
	}
	prov, err := c.o.Providers.Get(m.Spec.Provider)
	if err != nil {
		if m.Status.Phase == api.MachineFailed {
			return controllers.Result{}, nil
		}
		return controllers.Result{}, c.fail(ctx, m, api.ConditionProvisioned, ReasonNoProvider, err.Error())
	}
	switch m.Status.Phase {
	case "", api.MachinePending, api.MachineProvisioning:
		return c.provision(ctx, m, prov)
	case api.MachineRunning, api.MachineJoined, api.MachineUnknown:
		return c.follow(ctx, m, prov)
	}
	return controllers.Result{}, nil
}

func (c *Controller) now() api.Time { return api.NewTime(c.o.Now()) }

// pool is the machine's NodePool from the cache, or nil.
func (c *Controller) pool(m *api.Machine) *api.NodePool {
	if m.Spec.Pool == "" {
		return nil
	}
	if o, ok := c.pools.Get(m.Spec.Pool); ok {
		return o.(*api.NodePool)
	}
	return nil
}

// writeStatus stores m's status.
func (c *Controller) writeStatus(ctx context.Context, m *api.Machine) (*api.Machine, error) {
	out, err := client.For[api.Machine](c.client).UpdateStatus(ctx, m)
	if err != nil {
		return nil, fmt.Errorf("machine %s status: %w", m.Name, err)
	}
	return out, nil
}

// fail turns m Failed with condition typ False for reason.
func (c *Controller) fail(ctx context.Context, m *api.Machine, typ, reason, msg string) error {
	m.Status.Phase = api.MachineFailed
	m.Status.Message = msg
	kit.SetCondition(&m.Status.Conditions, typ, api.ConditionFalse, reason, msg, c.now())
	// Failing is a transition even when the condition was False already
	// (Joined is False while the node is awaited): the pool times its
	// replacement back-off from it.
	for i := range m.Status.Conditions {
		if m.Status.Conditions[i].Type == typ {
			m.Status.Conditions[i].LastTransitionTime = c.now()
		}
	}
	if _, err := c.writeStatus(ctx, m); err != nil {
		return client.IgnoreNotFound(err)
	}
	c.rec.Event(m, api.EventTypeWarning, reason, msg)
	c.log.Warn("machine failed", "machine", m.Name, "reason", reason, "message", msg)
	return nil
}

// provision places the machine, then creates its VM unless one of its
// name exists already (a crash between Create and the status write).
func (c *Controller) provision(ctx context.Context, m *api.Machine, prov iaas.Provider) (controllers.Result, error) {
	var err error
	if m.Spec.Hypervisor == "" && c.o.Placer != nil && !iaas.PlacesItself(prov) {
		req := iaas.PlacementRequest{Name: m.Name, Provider: m.Spec.Provider, Group: m.Spec.Pool,
			CPUs: m.Spec.VCPUs, MemoryMiB: kit.MemoryMiB(m.Spec.Memory)}
		if p := c.pool(m); p != nil {
			req.Hypervisors, req.Selector = p.Spec.Hypervisors, p.Spec.HypervisorSelector
		}
		hv, err := c.o.Placer.Place(ctx, req)
		if err != nil {
			if ctx.Err() != nil {
				return controllers.Result{}, err
			}
			return controllers.Result{}, c.fail(ctx, m, api.ConditionProvisioned, kit.CreateReason(err), "placement: "+err.Error())
		}
		m.Spec.Hypervisor = hv
		if m, err = client.For[api.Machine](c.client).Update(ctx, m); err != nil {
			return controllers.Result{}, client.IgnoreNotFound(err)
		}
	}
	if m.Status.Phase != api.MachineProvisioning {
		m.Status.Phase = api.MachineProvisioning
		m.Status.Message = ""
		if m, err = c.writeStatus(ctx, m); err != nil {
			return controllers.Result{}, client.IgnoreNotFound(err)
		}
	}
	if ok, err := c.current(ctx, m); !ok {
		return controllers.Result{RequeueAfter: 100 * time.Millisecond}, err
	}
	if vm, ok, err := c.findByName(ctx, prov, m.Name); err != nil {
		return controllers.Result{}, err
	} else if ok {
		c.log.Info("found the VM of a machine already created", "machine", m.Name, "id", vm.ID)
		return c.provisioned(ctx, m, vm)
	}
	files := map[string][]byte{}
	if c.o.Bootstrap != nil {
		if files, err = c.o.Bootstrap(ctx, m); err != nil {
			return controllers.Result{}, fmt.Errorf("bootstrap data of machine %s: %w", m.Name, err)
		}
	}
	spec := iaas.MachineSpec{
		Name: m.Name, Hypervisor: m.Spec.Hypervisor, Group: m.Spec.Pool, Flavor: m.Spec.Flavor,
		CPUs: m.Spec.VCPUs, MemoryMiB: kit.MemoryMiB(m.Spec.Memory), Image: m.Spec.Image, Network: m.Spec.Network,
		Labels:      map[string]string{LabelMachine: m.Name, api.LabelNodePool: m.Spec.Pool},
		ConfigDrive: files,
	}
	cctx, cancel := context.WithTimeout(ctx, c.o.CreateTimeout)
	defer cancel()
	start := c.o.Now()
	vm, err := prov.Create(cctx, spec)
	if err != nil {
		if ctx.Err() != nil {
			return controllers.Result{}, err
		}
		if errors.Is(err, context.DeadlineExceeded) {
			err = fmt.Errorf("no answer after %s: %w", c.o.CreateTimeout, err)
		}
		return controllers.Result{}, c.fail(ctx, m, api.ConditionProvisioned, kit.CreateReason(err), "create: "+err.Error())
	}
	c.log.Info("machine created", "machine", m.Name, "id", vm.ID, "host", vm.Host, "took", c.o.Now().Sub(start))
	return c.provisioned(ctx, m, vm)
}

// current reports whether m is the stored state of the machine. The cache
// may lag behind this controller's own writes: the controller checks
// before acting on the provider (create, delete after a timeout), so that
// a stale view never creates a second VM or deletes one that joined.
func (c *Controller) current(ctx context.Context, m *api.Machine) (bool, error) {
	fresh, err := client.For[api.Machine](c.client).Get(ctx, "", m.Name)
	if err != nil {
		return false, client.IgnoreNotFound(err)
	}
	return fresh.ResourceVersion == m.ResourceVersion, nil
}

// findByName looks for the VM called name at the provider.
func (c *Controller) findByName(ctx context.Context, prov iaas.Provider, name string) (iaas.Machine, bool, error) {
	lctx, cancel := context.WithTimeout(ctx, c.o.CallTimeout)
	defer cancel()
	vms, err := prov.List(lctx)
	// A provider of several hypervisors lists those it reaches and says
	// which it does not (ErrUnreachable). The partial list is enough: if
	// the machine's own hypervisor is among the unreachable ones, the
	// Create that follows fails as unreachable too, and a provider refuses
	// a name it already holds.
	if err != nil && !errors.Is(err, iaas.ErrUnreachable) {
		return iaas.Machine{}, false, fmt.Errorf("list machines of provider %s: %w", prov.Name(), err)
	}
	for _, vm := range vms {
		if vm.Name == name {
			return vm, true, nil
		}
	}
	return iaas.Machine{}, false, nil
}

// provisioned records the created VM: Running, condition Provisioned.
func (c *Controller) provisioned(ctx context.Context, m *api.Machine, vm iaas.Machine) (controllers.Result, error) {
	m.Status.Phase = api.MachineRunning
	m.Status.ProviderID, m.Status.Host, m.Status.Addresses = vm.ID, vm.Host, vm.Addresses
	m.Status.ProvisionedTime = c.now()
	m.Status.Message = ""
	kit.SetCondition(&m.Status.Conditions, api.ConditionProvisioned, api.ConditionTrue, ReasonCreated,
		fmt.Sprintf("VM %s created on host %s", vm.ID, vm.Host), c.now())
	kit.SetCondition(&m.Status.Conditions, api.ConditionJoined, api.ConditionFalse, ReasonWaitingForNode, "waiting for the node to join and turn Ready", c.now())
	if _, err := c.writeStatus(ctx, m); err != nil {
		return controllers.Result{}, client.IgnoreNotFound(err)
	}
	c.markChecked(m.Name)
	c.rec.Eventf(m, api.EventTypeNormal, ReasonCreated, "Created VM %s on host %s", vm.ID, vm.Host)
	return controllers.Result{RequeueAfter: c.o.CheckInterval}, nil
}

func (c *Controller) markChecked(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.checked[name] = c.o.Now()
}

func (c *Controller) forgetChecked(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.checked, name)
}

// checkDue reports whether the machine's VM should be looked up now.
func (c *Controller) checkDue(name string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	at, ok := c.checked[name]
	return !ok || c.o.Now().Sub(at) >= c.o.CheckInterval
}

// follow watches a provisioned machine: its VM still exists, its node
// joins in time, the node carries the pool's labels and taints.
func (c *Controller) follow(ctx context.Context, m *api.Machine, prov iaas.Provider) (controllers.Result, error) {
	res := controllers.Result{RequeueAfter: c.o.CheckInterval}
	if c.checkDue(m.Name) {
		gctx, cancel := context.WithTimeout(ctx, c.o.CallTimeout)
		_, err := prov.Get(gctx, m.Status.ProviderID)
		cancel()
		switch {
		case errors.Is(err, iaas.ErrNotFound):
			c.forgetChecked(m.Name)
			return controllers.Result{}, c.fail(ctx, m, api.ConditionProvisioned, ReasonVMDisappeared,
				fmt.Sprintf("VM %s is gone from provider %s", m.Status.ProviderID, prov.Name()))
		case err != nil && ctx.Err() == nil && (errors.Is(err, iaas.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded)):
			c.markChecked(m.Name)
			if m.Status.Phase != api.MachineUnknown {
				m.Status.Phase = api.MachineUnknown
				kit.SetCondition(&m.Status.Conditions, api.ConditionReachable, api.ConditionFalse, kit.ReasonUnreachable, err.Error(), c.now())
				_, err := c.writeStatus(ctx, m)
				return res, client.IgnoreNotFound(err)
			}
			return res, nil
		case err != nil:
			return controllers.Result{}, fmt.Errorf("look up VM of machine %s: %w", m.Name, err)
		}
		c.markChecked(m.Name)
		if m.Status.Phase == api.MachineUnknown {
			m.Status.Phase = api.MachineRunning
			if !m.Status.JoinedTime.IsZero() {
				m.Status.Phase = api.MachineJoined
			}
			kit.SetCondition(&m.Status.Conditions, api.ConditionReachable, api.ConditionTrue, "Reachable", "", c.now())
			var err error
			if m, err = c.writeStatus(ctx, m); err != nil {
				return controllers.Result{}, client.IgnoreNotFound(err)
			}
		}
	}
	var node *api.Node
	if o, ok := c.nodes.Get(m.Name); ok {
		node = o.(*api.Node)
		if err := c.labelNode(ctx, m, node); err != nil {
			return controllers.Result{}, err
		}
	}
	st, left := joinStep(m, node, joinTimeout(c.pool(m), c.o.JoinTimeout), c.o.Now())
	switch st {
	case stepJoin:
		m.Status.Phase = api.MachineJoined
		m.Status.JoinedTime = c.now()
		m.Status.NodeName = node.Name
		kit.SetCondition(&m.Status.Conditions, api.ConditionJoined, api.ConditionTrue, ReasonNodeReady, "node "+node.Name+" joined and is Ready", c.now())
		if _, err := c.writeStatus(ctx, m); err != nil {
			return controllers.Result{}, client.IgnoreNotFound(err)
		}
		c.rec.Eventf(m, api.EventTypeNormal, api.ConditionJoined, "Node %s joined", node.Name)
	case stepTimeout:
		if ok, err := c.current(ctx, m); !ok {
			return controllers.Result{RequeueAfter: 100 * time.Millisecond}, err
		}
		if err := c.deleteVM(ctx, m, prov); err != nil {
			return controllers.Result{}, err
		}
		c.forgetChecked(m.Name)
		d := joinTimeout(c.pool(m), c.o.JoinTimeout)
		return controllers.Result{}, c.fail(ctx, m, api.ConditionJoined, ReasonJoinTimeout,
			fmt.Sprintf("the node did not join and turn Ready within %s; VM %s deleted", d, m.Status.ProviderID))
	case stepLost:
		if ok, err := c.current(ctx, m); !ok {
			return controllers.Result{RequeueAfter: 100 * time.Millisecond}, err
		}
		if err := c.deleteVM(ctx, m, prov); err != nil {
			return controllers.Result{}, err
		}
		c.forgetChecked(m.Name)
		d := joinTimeout(c.pool(m), c.o.JoinTimeout)
		return controllers.Result{}, c.fail(ctx, m, api.ConditionJoined, ReasonNodeLost,
			fmt.Sprintf("node %s has not been Ready for %s; VM %s deleted", m.Name, d, m.Status.ProviderID))
	case stepWait:
		res.RequeueAfter = min(res.RequeueAfter, left+10*time.Millisecond)
	}
	return res, nil
}

// labelNode puts the machine's pool, provider, labels and taints on its
// node, and its provider ID when the node has none.
func (c *Controller) labelNode(ctx context.Context, m *api.Machine, n *api.Node) error {
	labels, taints, changed := nodeWants(m, n)
	setID := n.Spec.ProviderID == "" && m.Status.ProviderID != ""
	if !changed && !setID {
		return nil
	}
	next, err := controllers.Clone(n)
	if err != nil {
		return err
	}
	next.Labels, next.Spec.Taints = labels, taints
	if setID {
		next.Spec.ProviderID = m.Status.ProviderID
	}
	if _, err := client.For[api.Node](c.client).Update(ctx, next); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("label node %s: %w", n.Name, err)
	}
	return nil
}

// deleteVM deletes the machine's VM (found by name when its ID was never
// recorded); a VM already gone is fine.
func (c *Controller) deleteVM(ctx context.Context, m *api.Machine, prov iaas.Provider) error {
	id := m.Status.ProviderID
	if id == "" {
		vm, ok, err := c.findByName(ctx, prov, m.Name)
		if err != nil {
			return err
		}
		id = vm.ID
		if !ok {
			id = ""
		}
	}
	dctx, cancel := context.WithTimeout(ctx, c.o.CallTimeout)
	defer cancel()
	if id != "" {
		if err := prov.Delete(dctx, id); err != nil && !errors.Is(err, iaas.ErrNotFound) {
			return fmt.Errorf("delete VM %s of machine %s: %w", id, m.Name, err)
		}
	}
	// What a VM destroyed behind our back, or a create whose rollback
	// could not reach the hypervisor, left behind (disks, config drive).
	if sw, ok := iaas.Ability[iaas.Sweeper](prov); ok && m.Spec.Hypervisor != "" {
		if err := sw.SweepMachine(dctx, m.Spec.Hypervisor, m.Name); err != nil {
			return fmt.Errorf("remove what machine %s left on hypervisor %s: %w", m.Name, m.Spec.Hypervisor, err)
		}
	}
	return nil
}

// finalize deletes a Machine's VM and Node, then lets it go.
func (c *Controller) finalize(ctx context.Context, m *api.Machine) error {
	if !kit.HasFinalizer(&m.ObjectMeta, Finalizer) {
		return nil
	}
	var err error
	if m.Status.Phase != api.MachineDeleting {
		m.Status.Phase = api.MachineDeleting
		if m, err = c.writeStatus(ctx, m); err != nil {
			return client.IgnoreNotFound(err)
		}
	}
	prov, perr := c.o.Providers.Get(m.Spec.Provider)
	switch {
	case perr == nil:
		if err := c.deleteVM(ctx, m, prov); err != nil {
			return err
		}
	case m.Status.ProviderID != "":
		return fmt.Errorf("cannot delete VM %s of machine %s: %w", m.Status.ProviderID, m.Name, perr)
	}
	if err := client.For[api.Node](c.client).Delete(ctx, "", m.Name, client.DeleteOptions{}); err != nil && !client.IsNotFound(err) {
		return fmt.Errorf("delete node %s: %w", m.Name, err)
	}
	kit.RemoveFinalizer(&m.ObjectMeta, Finalizer)
	if _, err := client.For[api.Machine](c.client).Update(ctx, m); err != nil {
		return client.IgnoreNotFound(err)
	}
	c.forgetChecked(m.Name)
	c.log.Info("machine deleted", "machine", m.Name, "id", m.Status.ProviderID)
	return nil
}
