// Package simpods is the pod half of a SIMULATED node agent: it runs no
// container. Through one watch-fed cache of pods, shared by every node it
// simulates, it marks the pods bound to those nodes Running with their
// containers started and ready (after a delay), and confirms the deletion
// of their deleted pods, as cloudlet does once their containers have
// stopped. Each write goes through the client of the pod's node, so a
// simulated node acting with its node credential passes the API server's
// node authorization as cloudlet does.
//
// The simulator provider (providers/sim) and the controllers' test
// cluster (controllers/controllerstest) run on it.
package simpods

import (
	"context"
	"log/slog"
	"slices"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// ImageID is the image ID a simulated container reports.
const ImageID = "simulated"

// Options configure an Agent.
type Options struct {
	// Watch lists and watches the pods. To serve many simulated nodes with
	// one watch it must see pods in every namespace (a scheduler or
	// controller-manager client); a node credential sees only its own,
	// with FieldSelector spec.nodeName=NODE.
	Watch *client.Client
	// FieldSelector narrows the watch.
	FieldSelector string
	// Node returns the client through which the agent of node acts on
	// its pods, and false when the node is not simulated here (or is
	// paused: a node that stopped answering).
	Node func(node string) (*client.Client, bool)
	// StartDelay is how long a pod takes from bound to Running.
	StartDelay time.Duration
	// Ready reports whether a started pod's containers are ready
	// (default: they are).
	Ready func(p *api.Pod) bool
	// Log receives failures (default: discarded).
	Log *slog.Logger
}

// Agent acts on the pods of simulated nodes. Run it, then Kick a node
// whenever it becomes able to act (joined, resumed) so that pods bound to
// it meanwhile are handled.
type Agent struct {
	o     Options
	cache *client.Cache

	mu   sync.Mutex
	ctx  context.Context
	busy map[string]bool // "UID/start" and "UID/delete" under way
	wg   sync.WaitGroup
}

// indexNode files pods under their node's name.
const indexNode = "spec.nodeName"

// New returns an agent; Run starts it.
func New(o Options) *Agent {
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Ready == nil {
		o.Ready = func(*api.Pod) bool { return true }
	}
	a := &Agent{o: o, busy: map[string]bool{}}
	a.cache = client.NewCache(o.Watch, client.For[api.Pod](o.Watch).Kind(), "", client.ListOptions{FieldSelector: o.FieldSelector}, o.Log)
	a.cache.AddIndex(indexNode, func(obj api.Object) []string { return []string{obj.(*api.Pod).Spec.NodeName} })
	a.cache.AddHandler(client.Handler{
		OnAdd:    func(obj api.Object) { a.observe(obj.(*api.Pod)) },
		OnUpdate: func(_, obj api.Object) { a.observe(obj.(*api.Pod)) },
	})
	return a
}

// Run feeds the cache until ctx ends, then waits for the actions under way.
func (a *Agent) Run(ctx context.Context) error {
	a.mu.Lock()
	a.ctx = ctx
	a.mu.Unlock()
	err := a.cache.Run(ctx)
	a.wg.Wait()
	return err
}

// WaitForSync waits until the cache holds the pods (false if ctx ends
// first).
func (a *Agent) WaitForSync(ctx context.Context) bool { return a.cache.WaitForSync(ctx) }

// Kick acts now on the cached pods bound to node.
func (a *Agent) Kick(node string) {
	pods, err := a.cache.ByIndex(indexNode, node)
	if err != nil {
		return
	}
	for _, o := range pods {
		a.observe(o.(*api.Pod))
	}
}

// Pods returns the cached pods bound to node (shared: not to be changed).
func (a *Agent) Pods(node string) []*api.Pod {
	objs, err := a.cache.ByIndex(indexNode, node)
	if err != nil {
		return nil
	}
	out := make([]*api.Pod, 0, len(objs))
	for _, o := range objs {
		out = append(out, o.(*api.Pod))
	}
	return out
}

// claim marks an action on a pod under way, false if it already is (or
// the agent is not running).
func (a *Agent) claim(key string) (context.Context, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.ctx == nil || a.ctx.Err() != nil || a.busy[key] {
		return nil, false
	}
	a.busy[key] = true
	a.wg.Add(1)
	return a.ctx, true
}

func (a *Agent) release(key string) {
	a.mu.Lock()
	delete(a.busy, key)
	a.mu.Unlock()
	a.wg.Done()
}

// observe acts on a pod as the node agent would, asynchronously.
func (a *Agent) observe(p *api.Pod) {
	if p.Spec.NodeName == "" {
		return
	}
	c, ok := a.o.Node(p.Spec.NodeName)
	if !ok {
		return
	}
	switch {
	case p.DeletionTimestamp != nil:
		key := p.UID + "/delete"
		ctx, ok := a.claim(key)
		if !ok {
			return
		}
		go func() {
			defer a.release(key)
			a.confirmDeleted(ctx, c, p)
		}()
	case p.Status.Phase == api.PodPending && p.Status.StartTime == nil:
		key := p.UID + "/start"
		ctx, ok := a.claim(key)
		if !ok {
			return
		}
		// A timer, not a sleeping goroutine, while the pod "starts".
		time.AfterFunc(a.o.StartDelay, func() {
			defer a.release(key)
			a.markRunning(ctx, c, p)
		})
	}
}

// retry runs f until it reports done, waiting a little between attempts
// (a throttled or overloaded server), until ctx ends.
func retry(ctx context.Context, f func() (done bool)) {
	wait := 50 * time.Millisecond
	for ctx.Err() == nil && !f() {
		select {
		case <-time.After(wait):
		case <-ctx.Done():
		}
		wait = min(2*wait, 2*time.Second)
	}
}

// confirmDeleted deletes the pod at once (grace period 0), as cloudlet
// does once its containers have stopped; only this pod, not one that took
// its name.
func (a *Agent) confirmDeleted(ctx context.Context, c *client.Client, p *api.Pod) {
	zero := int64(0)
	pods := client.For[api.Pod](c)
	retry(ctx, func() bool {
		err := pods.Delete(ctx, p.Namespace, p.Name, client.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: client.PreconditionUID(p.UID)})
		if err == nil || client.IsNotFound(err) || client.IsConflict(err) || client.IsForbidden(err) {
			return true
		}
		a.o.Log.Debug("simulated agent: confirm pod deletion", "pod", p.Namespace+"/"+p.Name, "err", err)
		return false
	})
}

// markRunning writes the pod's status as a started pod's: Running, its
// containers running (ready unless Options.Ready says otherwise).
func (a *Agent) markRunning(ctx context.Context, c *client.Client, p *api.Pod) {
	pods := client.For[api.Pod](c)
	cur := p
	retry(ctx, func() bool {
		if cur == nil {
			fresh, err := pods.Get(ctx, p.Namespace, p.Name)
			if client.IsNotFound(err) || client.IsForbidden(err) {
				return true
			}
			if err != nil {
				return false
			}
			cur = fresh
		}
		if cur.UID != p.UID || cur.DeletionTimestamp != nil || cur.Status.StartTime != nil {
			return true
		}
		next := *cur
		next.Status = RunningStatus(cur, a.o.Ready(cur), api.Now())
		_, err := pods.UpdateStatus(ctx, &next)
		switch {
		case err == nil || client.IsNotFound(err) || client.IsForbidden(err):
			return true
		case client.IsConflict(err):
			cur = nil // read it again
			return false
		default:
			a.o.Log.Debug("simulated agent: pod status", "pod", p.Namespace+"/"+p.Name, "err", err)
			return false
		}
	})
}

// RunningStatus is the status of p once its simulated containers started
// at now: phase Running, every container running (and ready, with the pod,
// if ready). p is not changed.
func RunningStatus(p *api.Pod, ready bool, now api.Time) api.PodStatus {
	st := p.Status
	st.Conditions = slices.Clone(p.Status.Conditions)
	st.Phase = api.PodRunning
	st.StartTime = &now
	st.ContainerStatuses = make([]api.ContainerStatus, 0, len(p.Spec.Containers))
	for _, ctr := range p.Spec.Containers {
		st.ContainerStatuses = append(st.ContainerStatuses, api.ContainerStatus{Name: ctr.Name, Image: ctr.Image,
			ImageID: ImageID, Ready: ready, State: api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: now}}})
	}
	cond := api.ConditionFalse
	if ready {
		cond = api.ConditionTrue
	}
	api.SetPodCondition(&st, api.PodCondition{Type: api.PodInitialized, Status: api.ConditionTrue, Reason: "SimulatedAgent"})
	for _, t := range []api.PodConditionType{api.ContainersReady, api.PodReady} {
		api.SetPodCondition(&st, api.PodCondition{Type: t, Status: cond, Reason: "SimulatedAgent"})
	}
	return st
}
