// Package hypervisor is the hypervisor inventory controller: for each
// Hypervisor object it asks the hypervisor's provider what the host has
// (capacity, host name) and whether it answers, keeps the status's
// allocated totals and machine count from the Machines and VirtualMachines
// placed there, and, while the host cannot be reached, reports those VMs
// as Unknown rather than losing them, and their nodes with condition
// HypervisorReachable Unknown.
package hypervisor

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/placement"
)

// Inspector is what the controller needs of a provider: iaas.HostInspector,
// found on the provider by type assertion.
type Inspector interface {
	InspectHost(ctx context.Context, hypervisor, uri string) (iaas.HostInfo, error)
}

var _ Inspector = iaas.HostInspector(nil)

// Defaults of Options.
const (
	DefaultResync         = 30 * time.Second
	DefaultInspectTimeout = 10 * time.Second
	// Workers is how many hypervisors are inspected at once.
	Workers = 2
)

// Options tune the controller.
type Options struct {
	// Providers are the configured providers; a Hypervisor's
	// spec.provider ("libvirt" when empty) picks one.
	Providers iaas.Providers
	// Resync is how often each hypervisor is inspected again (default 30s).
	Resync time.Duration
	// InspectTimeout bounds one inspection (default 10s).
	InspectTimeout time.Duration
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// Reconciler keeps one Hypervisor's status, and the reachability of the
// Machines and VirtualMachines on it, at a time.
type Reconciler struct {
	Client      *client.Client
	Hypervisors *client.Cache
	Machines    *client.Cache
	VMs         *client.Cache
	Nodes       *client.Cache
	Providers   iaas.Providers
	Recorder    *controllers.Recorder
	Log         *slog.Logger
	Resync      time.Duration
	Timeout     time.Duration
	Now         func() time.Time

	mu sync.Mutex
	// last is each hypervisor's last inspection, so that a wake-up by a
	// Machine or VM change recomputes the totals without asking the host
	// again before Resync.
	last map[string]inspection
}

type inspection struct {
	obs      observation
	at       time.Time
	uri, drv string
}

// Setup registers the hypervisor controller on m: a Hypervisor's creation
// or spec change, and any change of a Machine or VirtualMachine (which
// moves the allocated totals of the hypervisor it names), wake it; each
// hypervisor is inspected again every Resync.
func Setup(m *controllers.Manager, opts Options) error {
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	if opts.InspectTimeout <= 0 {
		opts.InspectTimeout = DefaultInspectTimeout
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	r := &Reconciler{
		Client:      m.Client,
		Hypervisors: controllers.CacheFor[api.Hypervisor](m),
		Machines:    controllers.CacheFor[api.Machine](m),
		VMs:         controllers.CacheFor[api.VirtualMachine](m),
		Nodes:       controllers.CacheFor[api.Node](m),
		Providers:   opts.Providers,
		Recorder:    m.Recorder("hypervisor-controller"),
		Log:         m.Log.With("controller", "hypervisor"),
		Resync:      opts.Resync,
		Timeout:     opts.InspectTimeout,
		Now:         opts.Now,
		last:        map[string]inspection{},
	}
	c := controllers.NewController("hypervisor", r, Workers, m.Log)
	r.Hypervisors.AddHandler(client.Handler{
		OnAdd: c.Enqueue,
		OnUpdate: func(old, o api.Object) {
			// Its own status writes do not wake it; a spec change does.
			if old.GetObjectMeta().Generation != o.GetObjectMeta().Generation {
				c.Enqueue(o)
			}
		},
		OnDelete: c.Enqueue,
	})
	hv := func(o api.Object) string {
		switch x := o.(type) {
		case *api.Machine:
			return x.Spec.Hypervisor
		case *api.VirtualMachine:
			return x.Status.Hypervisor
		}
		return ""
	}
	wake := func(objs ...api.Object) {
		for _, o := range objs {
			if name := hv(o); name != "" {
				c.Queue.Add(name)
			}
		}
	}
	placed := client.Handler{
		OnAdd:    func(o api.Object) { wake(o) },
		OnUpdate: func(old, o api.Object) { wake(old, o) },
		OnDelete: func(o api.Object) { wake(o) },
	}
	r.Machines.AddHandler(placed)
	r.VMs.AddHandler(placed)
	m.Add(c)
	return nil
}

// Reconcile inspects the hypervisor called key when due, writes its
// status, and marks the Machines and VirtualMachines on it.
func (r *Reconciler) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	obj, ok := r.Hypervisors.Get(key)
	if !ok {
		r.mu.Lock()
		delete(r.last, key)
		r.mu.Unlock()
		return controllers.Result{}, nil
	}
	h, err := controllers.Clone(obj.(*api.Hypervisor))
	if err != nil || h.DeletionTimestamp != nil {
		return controllers.Result{}, err
	}
	ins := r.inspect(ctx, h)
	now := api.NewTime(r.Now())
	usage := placement.UsageByHypervisor(r.Machines, r.VMs)[h.Name]
	st := desiredStatus(h, ins.obs, usage, now)
	if was := placement.Reachable(h); was != ins.obs.reachable() || len(h.Status.Conditions) == 0 {
		if ins.obs.reachable() {
			r.Recorder.Eventf(h, api.EventTypeNormal, ReasonReachable, "Hypervisor %s (%s) is reachable: %d CPUs, %d MiB", h.Name, ins.obs.info.Hostname, ins.obs.info.CPUs, ins.obs.info.MemoryMiB)
		} else {
			r.Recorder.Eventf(h, api.EventTypeWarning, ins.obs.reason, "Hypervisor %s: %s", h.Name, ins.obs.message)
		}
	}
	if !reflect.DeepEqual(st, h.Status) {
		h.Status = st
		if _, err := client.For[api.Hypervisor](r.Client).UpdateStatus(ctx, h); err != nil {
			return controllers.Result{}, fmt.Errorf("hypervisor %s status: %w", h.Name, err)
		}
	}
	if err := r.markPlaced(ctx, h.Name, ins.obs, now); err != nil {
		return controllers.Result{}, err
	}
	next := ins.at.Add(r.Resync).Sub(r.Now())
	return controllers.Result{RequeueAfter: max(next, time.Second)}, nil
}

// inspect asks the hypervisor's provider about it, unless the last answer
// is younger than Resync and the URI and provider are unchanged.
func (r *Reconciler) inspect(ctx context.Context, h *api.Hypervisor) inspection {
	drv := placement.ProviderOf(h)
	now := r.Now()
	r.mu.Lock()
	last, ok := r.last[h.Name]
	r.mu.Unlock()
	if ok && last.uri == h.Spec.URI && last.drv == drv && now.Sub(last.at) < r.Resync {
		return last
	}
	ins := inspection{at: now, uri: h.Spec.URI, drv: drv}
	p, err := r.Providers.Get(drv)
	if err != nil {
		ins.obs = observation{reason: ReasonNoProvider, message: err.Error()}
	} else if hi, ok := p.(Inspector); !ok {
		ins.obs = observation{reason: ReasonNoProvider, message: fmt.Sprintf("provider %q cannot inspect hypervisors", drv)}
	} else {
		ictx, cancel := context.WithTimeout(ctx, r.Timeout)
		info, err := hi.InspectHost(ictx, h.Name, h.Spec.URI)
		cancel()
		if err != nil {
			if ctx.Err() != nil {
				return inspection{obs: observation{reason: ReasonNoProvider, message: ctx.Err().Error()}, at: now}
			}
			ins.obs = observation{reason: ReasonUnreachable, message: err.Error()}
		} else {
			ins.obs = observation{reason: ReasonReachable, info: info}
		}
	}
	r.mu.Lock()
	r.last[h.Name] = ins
	r.mu.Unlock()
	if !ins.obs.reachable() {
		r.Log.Info("hypervisor not reachable", "hypervisor", h.Name, "uri", h.Spec.URI, "reason", ins.obs.reason, "err", ins.obs.message)
	}
	return ins
}

// markPlaced applies the hypervisor's reachability to the Machines and
// VirtualMachines on it.
func (r *Reconciler) markPlaced(ctx context.Context, hv string, obs observation, now api.Time) error {
	if obs.reason == ReasonNoProvider {
		return nil // nothing is known of the host
	}
	for _, o := range r.Machines.List() {
		m := o.(*api.Machine)
		if m.Spec.Hypervisor != hv {
			continue
		}
		st, changed := markMachine(m, obs, now)
		if !changed {
			continue
		}
		next, err := controllers.Clone(m)
		if err != nil {
			return err
		}
		next.Status = st
		if _, err := client.For[api.Machine](r.Client).UpdateStatus(ctx, next); err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("machine %s status: %w", m.Name, err)
		}
	}
	if err := r.markNodes(ctx, hv, obs, now); err != nil {
		return err
	}
	for _, o := range r.VMs.List() {
		vm := o.(*api.VirtualMachine)
		if vm.Status.Hypervisor != hv {
			continue
		}
		st, changed := markVM(vm, obs, now)
		if !changed {
			continue
		}
		next, err := controllers.Clone(vm)
		if err != nil {
			return err
		}
		next.Status = st
		if _, err := client.For[api.VirtualMachine](r.Client).UpdateStatus(ctx, next); err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("virtual machine %s/%s status: %w", vm.Namespace, vm.Name, err)
		}
	}
	return nil
}

// markNodes applies the hypervisor's reachability to the nodes of the
// Machines on it: condition HypervisorReachable Unknown while it cannot be
// reached, True again after (set only on nodes that had it).
func (r *Reconciler) markNodes(ctx context.Context, hv string, obs observation, now api.Time) error {
	for _, o := range r.Machines.List() {
		m := o.(*api.Machine)
		if m.Spec.Hypervisor != hv {
			continue
		}
		name := m.Status.NodeName
		if name == "" {
			name = m.Name
		}
		no, ok := r.Nodes.Get(name)
		if !ok {
			continue
		}
		n := no.(*api.Node)
		st, changed := markNode(n, hv, obs, now)
		if !changed {
			continue
		}
		next, err := controllers.Clone(n)
		if err != nil {
			return err
		}
		next.Status = st
		if _, err := client.For[api.Node](r.Client).UpdateStatus(ctx, next); err != nil && !client.IsNotFound(err) {
			return fmt.Errorf("node %s status: %w", n.Name, err)
		}
	}
	return nil
}
