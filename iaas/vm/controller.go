// Package vm runs the VirtualMachine controller: tenant VMs beside pods.
// It places a VM (on its pinned hypervisor, else where the Placer says),
// creates it through its provider with the user data on the config drive,
// applies its run strategy (spec.running) through the provider's
// PowerManager, reboots it when asked (AnnotationRestart), refreshes its
// console tail, and deletes it through a finalizer.
package vm

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/internal/kit"
)

// Finalizer holds a VirtualMachine until its VM is deleted.
const Finalizer = "iaas.cloudmgr.dev/virtualmachine"

// AnnotationRestart asks for a reboot: `cloudctl vm restart` sets it to
// the time of the request; the controller reboots the VM and removes it.
const AnnotationRestart = api.AnnotationVMRestart

// Labels the VM carries at the provider, naming its object.
const (
	LabelVMNamespace = "iaas.cloudmgr.dev/vm-namespace"
	LabelVMName      = "iaas.cloudmgr.dev/vm-name"
)

// Reasons of conditions and events.
const (
	ReasonCreated       = "Created"
	ReasonVMDisappeared = "VMDisappeared"
	ReasonNoProvider    = "ProviderNotConfigured"
	ReasonStarted       = "Started"
	ReasonStopped       = "Stopped"
	ReasonRestarted     = "Restarted"
	ReasonPowerFailed   = "PowerFailed"
	ReasonNoPower       = "PowerNotSupported"
	ReasonNotOurs       = "ProviderIDMismatch"
	// ReasonUnschedulable: no hypervisor can take the VM now.
	ReasonUnschedulable = "Unschedulable"
	// ReasonFailedPlacement is the event of a VM left waiting for room.
	ReasonFailedPlacement = "FailedPlacement"
)

// Options configure the controller.
type Options struct {
	Providers iaas.Providers
	// Placer chooses a hypervisor for VMs that do not pin one (nil: none).
	Placer iaas.Placer
	// DefaultProvider serves VMs that name none (default "libvirt").
	DefaultProvider string
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Refresh is how often a VM's state and console tail are read (default
	// 10 s).
	Refresh time.Duration
	// ConsoleLines is how many console lines status.consoleTail keeps
	// (default 20).
	ConsoleLines int
	// CreateTimeout bounds a Create (default 15 minutes), CallTimeout the
	// other calls (default 2 minutes).
	CreateTimeout, CallTimeout time.Duration
	// Workers reconcile different VMs in parallel (default 2).
	Workers int
	// RetryMin and RetryMax bound how soon a VM that found no room tries
	// again (default 1 s and 30 s); a change to a Hypervisor retries at
	// once.
	RetryMin, RetryMax time.Duration
}

// Controller reconciles VirtualMachines.
type Controller struct {
	o     Options
	c     *client.Client
	vms   *client.Cache
	rec   *controllers.Recorder
	log   *slog.Logger
	ctrl  *controllers.Controller
	store *client.Resource[api.VirtualMachine, *api.VirtualMachine]

	mu sync.Mutex
	// retryAt is when each VM waiting for room tries again (its own
	// status writes enqueue it sooner).
	retryAt map[string]time.Time
}

// Setup registers the VirtualMachine controller and its cache on m.
func Setup(m *controllers.Manager, o Options) (*Controller, error) {
	if o.DefaultProvider == "" {
		o.DefaultProvider = "libvirt"
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Refresh <= 0 {
		o.Refresh = 10 * time.Second
	}
	if o.ConsoleLines <= 0 {
		o.ConsoleLines = 20
	}
	if o.CreateTimeout <= 0 {
		o.CreateTimeout = 15 * time.Minute
	}
	if o.CallTimeout <= 0 {
		o.CallTimeout = 2 * time.Minute
	}
	if o.Workers <= 0 {
		o.Workers = 2
	}
	if o.RetryMin <= 0 {
		o.RetryMin = time.Second
	}
	if o.RetryMax < o.RetryMin {
		o.RetryMax = max(30*time.Second, o.RetryMin)
	}
	c := &Controller{o: o, c: m.Client, vms: controllers.CacheFor[api.VirtualMachine](m),
		rec: m.Recorder("virtualmachine-controller"), log: m.Log.With("controller", "virtualmachine"),
		store: client.For[api.VirtualMachine](m.Client), retryAt: map[string]time.Time{}}
	c.ctrl = controllers.NewController("virtualmachine", c, o.Workers, m.Log)
	c.vms.AddHandler(controllers.EnqueueHandler(c.ctrl))
	// Room may have come: VMs waiting for it try again.
	retryWaiting := func(api.Object) {
		for _, o := range c.vms.List() {
			if waiting(o.(*api.VirtualMachine)) {
				c.mu.Lock()
				delete(c.retryAt, client.Key(o))
				c.mu.Unlock()
				c.ctrl.Enqueue(o)
			}
		}
	}
	controllers.CacheFor[api.Hypervisor](m).AddHandler(client.Handler{OnAdd: retryWaiting,
		OnUpdate: func(_, o api.Object) { retryWaiting(o) }, OnDelete: retryWaiting})
	m.Add(c.ctrl)
	return c, nil
}

// MachineName is the provider-side name of a VM: unique across namespaces
// and across a VM deleted and created again under the same name.
func MachineName(vm *api.VirtualMachine) string {
	uid := strings.ReplaceAll(vm.UID, "-", "")
	if len(uid) > 8 {
		uid = uid[:8]
	}
	return "vm-" + vm.Namespace + "-" + vm.Name + "-" + uid
}

// Reconcile makes one VM's world match its spec.
func (c *Controller) Reconcile(ctx context.Context, key string) (controllers.Result, error) {
	return kit.QuietConflict(c.reconcile(ctx, key))
}

func (c *Controller) reconcile(ctx context.Context, key string) (controllers.Result, error) {
	o, ok := c.vms.Get(key)
	if !ok {
		c.mu.Lock()
		delete(c.retryAt, key)
		c.mu.Unlock()
		return controllers.Result{}, nil
	}
	vm, err := controllers.Clone(o.(*api.VirtualMachine))
	if err != nil {
		return controllers.Result{}, err
	}
	if vm.DeletionTimestamp != nil {
		c.mu.Lock()
		delete(c.retryAt, key)
		c.mu.Unlock()
		return controllers.Result{}, c.finalize(ctx, vm)
	}
	if !kit.HasFinalizer(&vm.ObjectMeta, Finalizer) {
		vm.Finalizers = append(vm.Finalizers, Finalizer)
		if vm, err = c.store.Update(ctx, vm); err != nil {
			return controllers.Result{}, client.IgnoreNotFound(err)
		}
	}
	prov, err := c.provider(vm)
	if err != nil {
		if vm.Status.Phase == api.VMFailed {
			return controllers.Result{}, nil
		}
		return controllers.Result{}, c.fail(ctx, vm, api.ConditionProvisioned, ReasonNoProvider, err.Error())
	}
	if vm.Status.ProviderID == "" {
		if vm.Status.Phase == api.VMFailed {
			return controllers.Result{}, nil
		}
		// Not before its time (the cache may not show it waiting yet).
		c.mu.Lock()
		at, ok := c.retryAt[key]
		c.mu.Unlock()
		if d := at.Sub(c.o.Now()); ok && d > 0 {
			return controllers.Result{RequeueAfter: d}, nil
		}
		var retry time.Duration
		if vm, retry, err = c.create(ctx, vm, prov); err != nil || vm == nil {
			if retry == 0 {
				retry = 100 * time.Millisecond
			} else {
				c.mu.Lock()
				c.retryAt[key] = c.o.Now().Add(retry)
				c.mu.Unlock()
			}
			return controllers.Result{RequeueAfter: retry}, err
		}
		c.mu.Lock()
		delete(c.retryAt, key)
		c.mu.Unlock()
	}
	if c := kit.FindCondition(vm.Status.Conditions, api.ConditionProvisioned); c != nil && c.Status == api.ConditionFalse {
		return controllers.Result{}, nil // gone or not ours: nothing to follow
	}
	return c.sync(ctx, vm, prov)
}

func (c *Controller) provider(vm *api.VirtualMachine) (iaas.Provider, error) {
	name := vm.Spec.Provider
	if name == "" {
		name = c.o.DefaultProvider
	}
	return c.o.Providers.Get(name)
}

func (c *Controller) now() api.Time { return api.NewTime(c.o.Now()) }

// fail turns vm Failed with condition typ False for reason.
func (c *Controller) fail(ctx context.Context, vm *api.VirtualMachine, typ, reason, msg string) error {
	vm.Status.Phase = api.VMFailed
	vm.Status.Message = msg
	kit.SetCondition(&vm.Status.Conditions, typ, api.ConditionFalse, reason, msg, c.now())
	if _, err := c.store.UpdateStatus(ctx, vm); err != nil {
		return client.IgnoreNotFound(err)
	}
	c.rec.Event(vm, api.EventTypeWarning, reason, msg)
	return nil
}

// create places and creates the VM; it returns the stored object, or nil
// (and no error) when the cache was behind or the VM waits for room, with
// when to look again.
func (c *Controller) create(ctx context.Context, vm *api.VirtualMachine, prov iaas.Provider) (*api.VirtualMachine, time.Duration, error) {
	cpus, mem := vm.Spec.CPUs, kit.MemoryMiB(vm.Spec.Memory)
	hv := vm.Status.Hypervisor
	if hv == "" {
		hv = vm.Spec.Hypervisor
		if c.o.Placer != nil && !iaas.PlacesItself(prov) {
			req := iaas.PlacementRequest{Name: vm.Namespace + "/" + vm.Name, Provider: prov.Name(), CPUs: cpus, MemoryMiB: mem}
			if hv != "" {
				req.Hypervisors = []string{hv}
			}
			got, err := c.o.Placer.Place(ctx, req)
			if err != nil {
				if ctx.Err() != nil {
					return nil, 0, err
				}
				return c.wait(ctx, vm, "placement: "+err.Error(), err)
			}
			hv = got
		}
	}
	if vm.Status.Phase != api.VMCreating || vm.Status.Hypervisor != hv {
		vm.Status.Phase, vm.Status.Hypervisor, vm.Status.Message = api.VMCreating, hv, ""
		var err error
		if vm, err = c.store.UpdateStatus(ctx, vm); err != nil {
			return nil, 0, client.IgnoreNotFound(err)
		}
	}
	fresh, err := c.store.Get(ctx, vm.Namespace, vm.Name)
	if err != nil || fresh.ResourceVersion != vm.ResourceVersion {
		return nil, 0, client.IgnoreNotFound(err)
	}
	name := MachineName(vm)
	vms, err := prov.List(ctx)
	if err != nil {
		return nil, 0, fmt.Errorf("list machines of provider %s: %w", prov.Name(), err)
	}
	for _, m := range vms {
		if m.Name == name {
			out, err := c.created(ctx, vm, m)
			return out, 0, err
		}
	}
	files := map[string][]byte{
		"meta-data": fmt.Appendf(nil, "instance-id: %s\nlocal-hostname: %s\n", vm.UID, vm.Name),
	}
	if vm.Spec.UserData != "" {
		files["user-data"] = []byte(vm.Spec.UserData)
	}
	spec := iaas.MachineSpec{Name: name, Hypervisor: hv, Flavor: vm.Spec.Flavor, CPUs: cpus, MemoryMiB: mem,
		Image: vm.Spec.Image, Network: vm.Spec.Network, ConfigDrive: files,
		Labels: map[string]string{LabelVMNamespace: vm.Namespace, LabelVMName: vm.Name}}
	cctx, cancel := context.WithTimeout(ctx, c.o.CreateTimeout)
	defer cancel()
	m, err := prov.Create(cctx, spec)
	switch {
	case err != nil && ctx.Err() != nil:
		return nil, 0, err
	case err != nil && (errors.Is(err, iaas.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded)):
		// The provider rolled back, or left a VM under this name that the
		// next try adopts.
		return c.wait(ctx, vm, "create: "+err.Error(), err)
	case err != nil:
		return nil, 0, c.fail(ctx, vm, api.ConditionProvisioned, kit.CreateReason(err), "create: "+err.Error())
	}
	out, err := c.created(ctx, vm, m)
	return out, 0, err
}

// wait keeps a VM that found no room (or an unreachable provider) Pending,
// with condition Provisioned False saying why, and says when to try again:
// a quarter of the time it has waited, from RetryMin to RetryMax. A change to any
// Hypervisor tries again at once. (A VM that cannot be placed now is not
// failed for good, as a pod that does not fit waits for a node.)
func (c *Controller) wait(ctx context.Context, vm *api.VirtualMachine, msg string, cause error) (*api.VirtualMachine, time.Duration, error) {
	reason := kit.CreateReason(cause)
	if reason == kit.ReasonCreateFailed {
		reason = ReasonUnschedulable
	}
	first := kit.FindCondition(vm.Status.Conditions, api.ConditionProvisioned) == nil ||
		kit.FindCondition(vm.Status.Conditions, api.ConditionProvisioned).Reason != reason
	vm.Status.Phase, vm.Status.Message = api.VMPending, msg
	kit.SetCondition(&vm.Status.Conditions, api.ConditionProvisioned, api.ConditionFalse, reason, msg, c.now())
	if _, err := c.store.UpdateStatus(ctx, vm); err != nil {
		return nil, 0, client.IgnoreNotFound(err)
	}
	if first {
		c.rec.Event(vm, api.EventTypeWarning, ReasonFailedPlacement, msg)
	}
	waited := c.o.Now().Sub(kit.FindCondition(vm.Status.Conditions, api.ConditionProvisioned).LastTransitionTime.Time)
	return nil, min(max(waited/4, c.o.RetryMin), c.o.RetryMax), nil
}

// waiting reports whether vm waits for room to be created.
func waiting(vm *api.VirtualMachine) bool {
	if vm.Status.ProviderID != "" || vm.Status.Phase != api.VMPending {
		return false
	}
	p := kit.FindCondition(vm.Status.Conditions, api.ConditionProvisioned)
	return p != nil && p.Status == api.ConditionFalse
}

// created records a new VM: Running, condition Provisioned.
func (c *Controller) created(ctx context.Context, vm *api.VirtualMachine, m iaas.Machine) (*api.VirtualMachine, error) {
	vm.Status.Phase = api.VMRunning
	vm.Status.ProviderID, vm.Status.MachineID, vm.Status.Host, vm.Status.Addresses = m.ID, m.ID, m.Host, m.Addresses
	if m.Hypervisor != "" {
		vm.Status.Hypervisor = m.Hypervisor
	}
	kit.SetCondition(&vm.Status.Conditions, api.ConditionProvisioned, api.ConditionTrue, ReasonCreated,
		fmt.Sprintf("VM %s created on host %s", m.ID, m.Host), c.now())
	out, err := c.store.UpdateStatus(ctx, vm)
	if err != nil {
		return nil, client.IgnoreNotFound(err)
	}
	c.rec.Eventf(vm, api.EventTypeNormal, ReasonCreated, "Created VM %s on host %s", m.ID, m.Host)
	return out, nil
}

// sync applies the run strategy and restart requests and refreshes the
// status of a created VM.
func (c *Controller) sync(ctx context.Context, vm *api.VirtualMachine, prov iaas.Provider) (controllers.Result, error) {
	res := controllers.Result{RequeueAfter: c.o.Refresh}
	cctx, cancel := context.WithTimeout(ctx, c.o.CallTimeout)
	defer cancel()
	id := vm.Status.ProviderID
	m, err := prov.Get(cctx, id)
	switch {
	case errors.Is(err, iaas.ErrNotFound):
		return controllers.Result{}, c.fail(ctx, vm, api.ConditionProvisioned, ReasonVMDisappeared,
			fmt.Sprintf("VM %s is gone from provider %s", id, prov.Name()))
	case err != nil && ctx.Err() == nil && (errors.Is(err, iaas.ErrUnreachable) || errors.Is(err, context.DeadlineExceeded)):
		next := vm.Status
		next.Conditions = append([]api.Condition(nil), vm.Status.Conditions...)
		kit.SetCondition(&next.Conditions, api.ConditionReachable, api.ConditionFalse, kit.ReasonUnreachable, err.Error(), c.now())
		return res, c.writeStatus(ctx, vm, next)
	case err != nil:
		return controllers.Result{}, fmt.Errorf("look up VM %s: %w", id, err)
	case m.Name != MachineName(vm):
		// Tenants may write their VMs' status: never act on a VM that
		// is not this object's.
		return controllers.Result{}, c.fail(ctx, vm, api.ConditionProvisioned, ReasonNotOurs,
			fmt.Sprintf("VM %s at the provider is not this VirtualMachine's", id))
	}
	next := vm.Status
	next.Conditions = append([]api.Condition(nil), vm.Status.Conditions...)
	next.Message = ""
	if kit.FindCondition(next.Conditions, api.ConditionReachable) != nil {
		kit.SetCondition(&next.Conditions, api.ConditionReachable, api.ConditionTrue, "Reachable", "", c.now())
	}
	state, perr := c.power(cctx, vm, prov, m.State)
	if perr != nil {
		next.Message = perr.Error()
	}
	switch state {
	case iaas.StateRunning, iaas.StatePending:
		next.Phase = api.VMRunning
	case iaas.StateStopped:
		next.Phase = api.VMStopped
	case iaas.StateError:
		next.Phase, next.Message = api.VMFailed, "the provider reports an error: "+m.Message
	}
	next.Host, next.Addresses = m.Host, m.Addresses
	if cr, ok := prov.(iaas.ConsoleReader); ok {
		if b, err := cr.ConsoleLog(cctx, id, 16<<10); err == nil {
			next.ConsoleTail = lastLines(string(b), c.o.ConsoleLines)
		}
	}
	if err := c.writeStatus(ctx, vm, next); err != nil {
		return controllers.Result{}, err
	}
	if vm.Annotations[AnnotationRestart] != "" && perr == nil {
		delete(vm.Annotations, AnnotationRestart)
		if _, err := c.store.Update(ctx, vm); err != nil {
			return controllers.Result{}, client.IgnoreNotFound(err)
		}
	}
	return res, nil
}

// power applies spec.running and a restart request to a VM in state st;
// it returns the state after.
func (c *Controller) power(ctx context.Context, vm *api.VirtualMachine, prov iaas.Provider, st iaas.MachineState) (iaas.MachineState, error) {
	want := vm.Spec.Running == nil || *vm.Spec.Running
	restart := vm.Annotations[AnnotationRestart] != ""
	if !restart && want == (st == iaas.StateRunning || st == iaas.StatePending) || st == iaas.StateError {
		return st, nil
	}
	pm, ok := prov.(iaas.PowerManager)
	if !ok {
		msg := fmt.Sprintf("provider %s cannot start, stop or reboot VMs", prov.Name())
		c.rec.Event(vm, api.EventTypeWarning, ReasonNoPower, msg)
		return st, errors.New(msg)
	}
	id := vm.Status.ProviderID
	var err error
	switch {
	case want && st == iaas.StateRunning && restart:
		if err = pm.Reboot(ctx, id); err == nil {
			c.rec.Event(vm, api.EventTypeNormal, ReasonRestarted, "Rebooted the VM")
			return iaas.StateRunning, nil
		}
	case want:
		if err = pm.Start(ctx, id); err == nil {
			c.rec.Event(vm, api.EventTypeNormal, ReasonStarted, "Started the VM")
			return iaas.StateRunning, nil
		}
	case st != iaas.StateStopped:
		if err = pm.Stop(ctx, id); err == nil {
			c.rec.Event(vm, api.EventTypeNormal, ReasonStopped, "Stopped the VM")
			return iaas.StateStopped, nil
		}
	default:
		return st, nil // a restart of a VM meant to be off: nothing to do
	}
	c.rec.Eventf(vm, api.EventTypeWarning, ReasonPowerFailed, "%v", err)
	return st, fmt.Errorf("power: %w", err)
}

// writeStatus stores next as vm's status when it differs.
func (c *Controller) writeStatus(ctx context.Context, vm *api.VirtualMachine, next api.VirtualMachineStatus) error {
	if reflect.DeepEqual(next, vm.Status) {
		return nil
	}
	vm.Status = next
	out, err := c.store.UpdateStatus(ctx, vm)
	if err != nil {
		return client.IgnoreNotFound(err)
	}
	*vm = *out
	return nil
}

// lastLines is the last n lines of s.
func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// finalize deletes the VM, then lets the object go.
func (c *Controller) finalize(ctx context.Context, vm *api.VirtualMachine) error {
	if !kit.HasFinalizer(&vm.ObjectMeta, Finalizer) {
		return nil
	}
	if vm.Status.Phase != api.VMDeleting {
		vm.Status.Phase = api.VMDeleting
		out, err := c.store.UpdateStatus(ctx, vm)
		if err != nil {
			return client.IgnoreNotFound(err)
		}
		vm = out
	}
	prov, err := c.provider(vm)
	if err != nil && vm.Status.ProviderID != "" {
		return fmt.Errorf("cannot delete VM %s: %w", vm.Status.ProviderID, err)
	}
	if err == nil {
		cctx, cancel := context.WithTimeout(ctx, c.o.CallTimeout)
		defer cancel()
		// Found by name, not by status.providerID, which a tenant may
		// have written.
		id := ""
		ms, err := prov.List(cctx)
		if err != nil {
			return fmt.Errorf("list machines of provider %s: %w", prov.Name(), err)
		}
		for _, m := range ms {
			if m.Name == MachineName(vm) {
				id = m.ID
			}
		}
		if id != "" {
			if err := prov.Delete(cctx, id); err != nil && !errors.Is(err, iaas.ErrNotFound) {
				return fmt.Errorf("delete VM %s: %w", id, err)
			}
		}
	}
	kit.RemoveFinalizer(&vm.ObjectMeta, Finalizer)
	if _, err := c.store.Update(ctx, vm); err != nil {
		return client.IgnoreNotFound(err)
	}
	return nil
}
