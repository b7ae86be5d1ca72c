package caas

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// probeKind is which of a container's three probes a worker runs.
type probeKind int

const (
	liveness probeKind = iota
	readiness
	startup
)

// String is the kind as Kubernetes writes it in events ("Liveness").
func (k probeKind) String() string {
	return [...]string{"Liveness", "Readiness", "Startup"}[k]
}

// eventRepeat bounds how often a worker repeats the same Unhealthy event
// while a probe keeps failing with the same message, in probe time units.
const eventRepeat = 60

// prober runs the liveness, readiness and startup probes of the node's
// running containers: one worker goroutine per (pod, container, probe
// kind), started when the container runs and stopped when it stops or the
// pod goes. The pod loop reads the results (Started, Ready) when it writes
// status, and is told through notify when one changes.
type prober struct {
	rt   Runtime
	c    *client.Client
	node string
	log  *slog.Logger
	// unit is one probe second (periodSeconds, timeoutSeconds, ...);
	// tests shorten it.
	unit time.Duration
	// dial opens a connection inside a network namespace.
	dial func(ctx context.Context, netns, network, addr string) (net.Conn, error)

	mu sync.Mutex
	// notify asks the pod loop to sync the pod with this key again.
	notify func(key string)
	// containers are the probed containers by "podUID/name".
	containers map[string]*probedContainer
	// killed says why a probe killed a container, by container ID, for
	// its terminated state.
	killed map[string]killRecord
	wg     sync.WaitGroup
}

type killRecord struct {
	podUID, message string
}

// probedContainer is the probe state of one run of a container: results
// belong to its container ID and are dropped when another run replaces it.
type probedContainer struct {
	id       string
	started  bool // the startup probe passed, or there is none
	ready    bool // the readiness probe passes, or there is none
	startedC chan struct{}
	cancel   context.CancelFunc
}

// podRef is what a worker keeps of its pod.
type podRef struct {
	namespace, name, uid string
	restartPolicy        api.RestartPolicy
	grace                int64
}

func (r podRef) key() string { return r.namespace + "/" + r.name }

func newProber(rt Runtime, c *client.Client, node string, log *slog.Logger) *prober {
	return &prober{rt: rt, c: c, node: node, log: log, unit: time.Second, dial: dialInNetNS,
		notify: func(string) {}, containers: map[string]*probedContainer{}, killed: map[string]killRecord{}}
}

// setNotify sets how the prober asks for a pod to be synced again.
func (p *prober) setNotify(f func(key string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.notify = f
}

func (p *prober) wake(key string) {
	p.mu.Lock()
	f := p.notify
	p.mu.Unlock()
	f(key)
}

// sync starts workers for the pod's containers that run and have probes,
// and stops those of containers that stopped or were replaced. have is the
// runtime's view, newest attempt first.
func (p *prober) sync(ctx context.Context, pod *api.Pod, have map[string][]ContainerStatus, sb Sandbox) {
	ref := podRef{namespace: pod.Namespace, name: pod.Name, uid: pod.UID, restartPolicy: pod.Spec.RestartPolicy, grace: api.DefaultTerminationGracePeriodSeconds}
	if g := pod.Spec.TerminationGracePeriodSeconds; g != nil {
		ref.grace = *g
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.pruneKilled(pod.UID, have)
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		key := pod.UID + "/" + c.Name
		var run *ContainerStatus
		if a := have[c.Name]; len(a) > 0 && a[0].State == ContainerRunning {
			run = &a[0]
		}
		pc := p.containers[key]
		if pc != nil && (run == nil || run.ID != pc.id) {
			pc.cancel()
			delete(p.containers, key)
			pc = nil
		}
		if run == nil || pc != nil || (c.LivenessProbe == nil && c.ReadinessProbe == nil && c.StartupProbe == nil) {
			continue
		}
		pc = &probedContainer{id: run.ID, started: c.StartupProbe == nil, startedC: make(chan struct{})}
		pc.ready = pc.started && c.ReadinessProbe == nil
		if pc.started {
			close(pc.startedC)
		}
		// A worker outlives the sync that starts it (whose context ends
		// with the sync); the prober cancels it when the run stops, the
		// pod goes or the agent stops.
		wctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		pc.cancel = cancel
		p.containers[key] = pc
		for kind, pr := range map[probeKind]*api.Probe{liveness: c.LivenessProbe, readiness: c.ReadinessProbe, startup: c.StartupProbe} {
			if pr == nil {
				continue
			}
			w := &worker{p: p, kind: kind, probe: pr, pod: ref, container: *c, id: run.ID,
				startedAt: run.StartedAt, netns: sb.NetNSPath, pc: pc}
			p.wg.Add(1)
			go func() {
				defer p.wg.Done()
				w.run(wctx)
			}()
		}
	}
}

// pruneKilled drops the kill reasons of the pod's container runs that the
// runtime no longer keeps. p.mu is held.
func (p *prober) pruneKilled(uid string, have map[string][]ContainerStatus) {
	kept := map[string]bool{}
	for _, runs := range have {
		for _, r := range runs {
			kept[r.ID] = true
		}
	}
	for id, k := range p.killed {
		if k.podUID == uid && !kept[id] {
			delete(p.killed, id)
		}
	}
}

// state returns whether container c of the pod, running as id, has
// started and is ready, as its probes say.
func (p *prober) state(podUID string, c *api.Container, id string) (started, ready bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc := p.containers[podUID+"/"+c.Name]; pc != nil && pc.id == id {
		return pc.started, pc.started && pc.ready
	}
	started = c.StartupProbe == nil
	return started, started && c.ReadinessProbe == nil
}

// killMessage says why a probe killed container id, or "".
func (p *prober) killMessage(id string) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.killed[id].message
}

// forgetPod stops the pod's workers and drops its results.
func (p *prober) forgetPod(uid string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for key, pc := range p.containers {
		if strings.HasPrefix(key, uid+"/") {
			pc.cancel()
			delete(p.containers, key)
		}
	}
	for id, k := range p.killed {
		if k.podUID == uid {
			delete(p.killed, id)
		}
	}
}

// stop stops every worker and waits for them to return.
func (p *prober) stop() {
	p.mu.Lock()
	for key, pc := range p.containers {
		pc.cancel()
		delete(p.containers, key)
	}
	p.mu.Unlock()
	p.wg.Wait()
}

// setStarted marks the startup probe of pc passed.
func (p *prober) setStarted(pc *probedContainer, c *api.Container) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc.started {
		return
	}
	pc.started = true
	pc.ready = c.ReadinessProbe == nil
	close(pc.startedC)
}

// setReady records a readiness change; it reports whether it was one.
func (p *prober) setReady(pc *probedContainer, ready bool) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if pc.ready == ready {
		return false
	}
	pc.ready = ready
	return true
}

func (p *prober) recordKill(uid, id, message string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.killed[id] = killRecord{podUID: uid, message: message}
}

// event records an Event about a container of the pod; failing to record
// it is logged, never fatal.
func (p *prober) event(ctx context.Context, ref podRef, container, typ, reason, msg string) {
	now := api.Now()
	e := &api.Event{
		ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s.%x", ref.name, time.Now().UnixNano()), Namespace: ref.namespace},
		InvolvedObject: api.ObjectReference{Kind: api.KindPod, APIVersion: api.APIVersionV1, Namespace: ref.namespace,
			Name: ref.name, UID: ref.uid, FieldPath: "spec.containers{" + container + "}"},
		Reason: reason, Message: msg, Type: typ, Count: 1, FirstTimestamp: now, LastTimestamp: now,
		Source: api.EventSource{Component: "cloudlet", Host: p.node}, ReportingComponent: "cloudlet",
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if _, err := client.For[api.Event](p.c).Create(ctx, e); err != nil && ctx.Err() == nil {
		p.log.Warn("record event", "pod", ref.key(), "reason", reason, "err", err)
	}
}
