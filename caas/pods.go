package caas

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// PodConfig tunes the pod loop.
type PodConfig struct {
	NodeName string
	HostIP   string
	// LogDir holds one log file per container attempt.
	LogDir string
	// Resync is how often the agent's containers are listed, to sync the
	// pods whose containers changed (an exit to restart, a status to
	// refresh) and those that still need attention (default 2s).
	Resync time.Duration
	// FullResync is how often every pod is synced whether or not anything
	// changed, as a safety net (default 1m).
	FullResync time.Duration
	// BackoffBase and BackoffMax bound the delay between restarts of a
	// crashing container and retries of a failing pull (10s and 5m, as
	// Kubernetes).
	BackoffBase, BackoffMax time.Duration
	// Workers is how many pods are worked on at once (default 4).
	Workers int
}

// PodManager runs the pods bound to its node in a Runtime and reports
// their status through the API.
type PodManager struct {
	cfg  PodConfig
	c    *client.Client
	pods *client.Resource[api.Pod, *api.Pod]
	// secrets are read for the logins of pods' imagePullSecrets.
	secrets *client.Resource[api.Secret, *api.Secret]
	rt      Runtime
	log     *slog.Logger
	// probes runs the containers' liveness, readiness and startup probes.
	probes *prober

	mu sync.Mutex
	// backoff and waiting are per container, keyed "podUID/name".
	backoff map[string]*backoff
	waiting map[string]api.ContainerStateWaiting
	started map[string]time.Time // pod UID → first seen

	// cache holds the node's pods once Run has listed them, for the node
	// server (logs, exec).
	cache atomic.Pointer[client.Cache]
	// syncing cancels the in-flight sync of a pod not being deleted, by
	// pod key, so that deleting the pod abandons a long image pull
	// instead of waiting for it.
	syncing map[string]context.CancelFunc
}

type backoff struct {
	delay time.Duration
	until time.Time
}

// NewPodManager builds the pod loop of node cfg.NodeName.
func NewPodManager(c *client.Client, rt Runtime, cfg PodConfig, log *slog.Logger) *PodManager {
	if cfg.Resync == 0 {
		cfg.Resync = 2 * time.Second
	}
	if cfg.FullResync == 0 {
		cfg.FullResync = time.Minute
	}
	if cfg.BackoffBase == 0 {
		cfg.BackoffBase = 10 * time.Second
	}
	if cfg.BackoffMax == 0 {
		cfg.BackoffMax = 5 * time.Minute
	}
	if cfg.Workers == 0 {
		cfg.Workers = 4
	}
	if abs, err := filepath.Abs(cfg.LogDir); err == nil {
		cfg.LogDir = abs // the runtime writes logs from another process
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &PodManager{cfg: cfg, c: c, pods: client.For[api.Pod](c), secrets: client.For[api.Secret](c), rt: rt, log: log,
		probes:  newProber(rt, c, cfg.NodeName, log),
		backoff: map[string]*backoff{}, waiting: map[string]api.ContainerStateWaiting{}, started: map[string]time.Time{},
		syncing: map[string]context.CancelFunc{}}
}

// Run watches the node's pods and keeps them running until ctx ends.
func (m *PodManager) Run(ctx context.Context) error {
	cache := client.NewCache(m.c, m.pods.Kind(), "", client.ListOptions{FieldSelector: "spec.nodeName=" + m.cfg.NodeName}, m.log)
	q := newQueue()
	m.probes.setNotify(q.add)
	defer m.probes.stop()
	enqueue := func(o api.Object) { q.add(client.Key(o)) }
	cache.AddHandler(client.Handler{OnAdd: enqueue,
		OnUpdate: func(_, o api.Object) {
			if o.GetObjectMeta().DeletionTimestamp != nil {
				m.abandon(client.Key(o))
			}
			enqueue(o)
		},
		OnDelete: func(o api.Object) { m.abandon(client.Key(o)); enqueue(o) }})
	go func() { _ = cache.Run(ctx) }()
	if !cache.WaitForSync(ctx) {
		return nil
	}
	m.cache.Store(cache)
	rl := newRelister(m.cfg.FullResync)
	var wg sync.WaitGroup
	for range m.cfg.Workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				key, ok := q.get()
				if !ok {
					return
				}
				obj, _ := cache.Get(key)
				pod := copyPod(obj) // the cache's objects are shared: never modify them
				sctx, cancel := m.syncContext(ctx, key, pod, cache)
				err := m.sync(sctx, key, pod)
				abandoned := sctx.Err() != nil && ctx.Err() == nil
				cancel()
				if abandoned {
					err = nil // the delete that abandoned it enqueues the pod
				}
				rl.syncDone(key, err)
				switch {
				case abandoned:
					m.log.Info("pod deleted during its sync: abandoned it", "pod", key)
					if cur, _ := cache.Get(key); cur == nil || cur.GetObjectMeta().UID != pod.UID {
						// Gone at once (forced): no terminate will remove
						// the sandbox this sync may have made.
						_ = m.rt.RemoveSandbox(ctx, pod.UID)
					}
				case err != nil && ctx.Err() == nil:
					m.log.Warn("sync pod", "pod", key, "err", err)
				}
				q.done(key)
			}
		}()
	}
	t := time.NewTicker(m.cfg.Resync)
	defer t.Stop()
	for {
		for _, key := range m.relist(ctx, cache, rl) {
			q.add(key)
		}
		select {
		case <-ctx.Done():
			q.close()
			wg.Wait()
			return nil
		case <-t.C:
		}
	}
}

// syncContext returns the context of one sync of pod: one that deleting
// the pod cancels (see abandon), except for a pod already being deleted,
// whose termination must run to its end.
func (m *PodManager) syncContext(ctx context.Context, key string, pod *api.Pod, cache *client.Cache) (context.Context, context.CancelFunc) {
	if pod == nil || pod.DeletionTimestamp != nil {
		return ctx, func() {}
	}
	sctx, cancel := context.WithCancel(ctx)
	m.mu.Lock()
	m.syncing[key] = cancel
	m.mu.Unlock()
	// A delete seen between the cache read and here would be missed.
	if cur, _ := cache.Get(key); cur == nil || cur.GetObjectMeta().DeletionTimestamp != nil {
		cancel()
	}
	return sctx, func() {
		m.mu.Lock()
		delete(m.syncing, key)
		m.mu.Unlock()
		cancel()
	}
}

// abandon cancels the in-flight sync of the pod with key, if any.
func (m *PodManager) abandon(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if cancel, ok := m.syncing[key]; ok {
		cancel()
	}
}

// cleanOrphans stops and removes containers whose pod is no longer bound
// to this node (deleted while the agent was down, or force-deleted); pods
// are the node's pods and list the agent's containers.
func (m *PodManager) cleanOrphans(ctx context.Context, pods []api.Object, list []ContainerStatus) {
	known := map[string]bool{}
	for _, o := range pods {
		known[o.GetObjectMeta().UID] = true
	}
	gone := map[string]bool{}
	for _, c := range list {
		if known[c.PodUID] {
			continue
		}
		gone[c.PodUID] = true
		if err := m.rt.StopContainer(ctx, c.ID, 0); err != nil {
			m.log.Warn("stop orphan container", "container", c.ID, "err", err)
			continue
		}
		if err := m.rt.RemoveContainer(ctx, c.ID); err != nil {
			m.log.Warn("remove orphan container", "container", c.ID, "err", err)
		}
	}
	for uid := range gone {
		_ = m.rt.RemoveSandbox(ctx, uid)
		m.forget(uid)
	}
}

func (m *PodManager) forget(uid string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.started, uid)
	m.probes.forgetPod(uid)
	for k := range m.backoff {
		if len(k) > len(uid) && k[:len(uid)+1] == uid+"/" {
			delete(m.backoff, k)
			delete(m.waiting, k)
		}
	}
}

// containersOf returns the pod's containers by name, newest attempt first.
func (m *PodManager) containersOf(ctx context.Context, uid string) (map[string][]ContainerStatus, error) {
	list, err := m.rt.PodContainers(ctx, uid)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := map[string][]ContainerStatus{}
	for _, c := range list {
		out[c.Name] = append(out[c.Name], c)
	}
	for _, cs := range out {
		for i := 1; i < len(cs); i++ { // few attempts are kept: insertion sort
			for j := i; j > 0 && cs[j].Attempt > cs[j-1].Attempt; j-- {
				cs[j], cs[j-1] = cs[j-1], cs[j]
			}
		}
	}
	return out, nil
}

// sync brings one pod's containers to what its spec and phase call for.
func (m *PodManager) sync(ctx context.Context, key string, pod *api.Pod) error {
	if pod == nil {
		return nil // gone from the API: cleanOrphans removes its containers
	}
	if pod.DeletionTimestamp != nil {
		return m.terminate(ctx, pod)
	}
	m.mu.Lock()
	if _, ok := m.started[pod.UID]; !ok {
		m.started[pod.UID] = time.Now()
	}
	m.mu.Unlock()
	if pod.Status.Phase == api.PodSucceeded || pod.Status.Phase == api.PodFailed {
		m.probes.forgetPod(pod.UID)
		return nil
	}
	have, err := m.containersOf(ctx, pod.UID)
	if err != nil {
		return err
	}
	sb, err := m.rt.CreateSandbox(ctx, pod.UID)
	if err != nil {
		return fmt.Errorf("sandbox: %w", err)
	}
	for i := range pod.Spec.Containers {
		m.ensureContainer(ctx, pod, &pod.Spec.Containers[i], have[pod.Spec.Containers[i].Name], sb)
	}
	if have, err = m.containersOf(ctx, pod.UID); err != nil {
		return err
	}
	m.probes.sync(ctx, pod, have, sb)
	return m.writeStatus(ctx, pod, have)
}

// ensureContainer starts a container that never ran, and restarts one that
// exited when the restart policy says so, after its back-off.
func (m *PodManager) ensureContainer(ctx context.Context, pod *api.Pod, c *api.Container, attempts []ContainerStatus, sb Sandbox) {
	key := pod.UID + "/" + c.Name
	next := 0
	if len(attempts) > 0 {
		latest := attempts[0]
		if latest.State == ContainerRunning {
			return
		}
		if !shouldRestart(pod.Spec.RestartPolicy, latest) {
			return
		}
		if m.inBackoff(key) {
			m.setWaiting(key, "CrashLoopBackOff", fmt.Sprintf("back-off %s restarting failed container %s in pod %s", m.backoffDelay(key), c.Name, pod.Name))
			return
		}
		next = latest.Attempt + 1
		// Keep only the last attempt, for lastState and logs.
		for _, old := range attempts[1:] {
			_ = m.rt.RemoveContainer(ctx, old.ID)
		}
	} else if m.inBackoff(key) {
		return // a pull or create failed: wait
	}
	always := c.ImagePullPolicy == api.PullAlways
	if c.ImagePullPolicy != api.PullNever || len(attempts) == 0 {
		auth, missing, err := m.pullAuth(ctx, pod, c.Image)
		if err == nil {
			_, err = m.rt.EnsureImage(ctx, c.Image, always && len(attempts) == 0, auth)
		}
		if err != nil {
			reason := "ErrImagePull"
			if m.hadWaiting(key, "ErrImagePull", "ImagePullBackOff") {
				reason = "ImagePullBackOff"
			}
			msg := err.Error()
			if missing != "" {
				msg = missing + "; " + msg
			}
			m.setWaiting(key, reason, msg)
			m.bumpBackoff(key)
			return
		}
	}
	spec := containerSpec(pod, c, next, sb, m.logPath(pod, c.Name, next))
	if _, err := m.rt.StartContainer(ctx, spec); err != nil {
		m.bumpBackoff(key)
		var se *StartError
		if errors.As(err, &se) {
			// The runtime kept the attempt as exited (StartError): the
			// next sync backs off from it as from a crash.
			m.clearWaiting(key)
			return
		}
		m.setWaiting(key, "CreateContainerError", err.Error())
		return
	}
	if next > 0 {
		m.bumpBackoff(key) // the next restart waits longer
	}
	m.clearWaiting(key)
}

// logPath is where attempt of container name of pod writes its output.
func (m *PodManager) logPath(pod *api.Pod, name string, attempt int) string {
	return filepath.Join(m.cfg.LogDir, pod.Namespace+"_"+pod.Name+"_"+pod.UID, fmt.Sprintf("%s-%d.log", name, attempt))
}

// copyPod returns a private copy of a cached pod, or nil.
func copyPod(obj api.Object) *api.Pod {
	p, ok := obj.(*api.Pod)
	if !ok || p == nil {
		return nil
	}
	data, err := json.Marshal(p)
	if err != nil {
		return nil
	}
	var out api.Pod
	if err := json.Unmarshal(data, &out); err != nil {
		return nil
	}
	return &out
}

func shouldRestart(policy api.RestartPolicy, latest ContainerStatus) bool {
	if latest.State != ContainerExited && latest.State != ContainerCreated {
		return false
	}
	switch policy {
	case api.RestartPolicyNever:
		return false
	case api.RestartPolicyOnFailure:
		return latest.ExitCode != 0
	}
	return true
}

// containerSpec turns a pod's container into what the runtime runs, with
// requests and limits as cgroup settings.
func containerSpec(pod *api.Pod, c *api.Container, attempt int, sb Sandbox, logPath string) ContainerSpec {
	spec := ContainerSpec{
		PodUID: pod.UID, PodNamespace: pod.Namespace, PodName: pod.Name, Name: c.Name, Attempt: attempt,
		Image: c.Image, Command: c.Command, Args: c.Args, WorkingDir: c.WorkingDir, NetNSPath: sb.NetNSPath, LogPath: logPath,
	}
	for _, e := range c.Env {
		spec.Env = append(spec.Env, e.Name+"="+e.Value)
	}
	cpuReq := c.Resources.Requests.Cpu()
	if cpuReq.IsZero() {
		cpuReq = c.Resources.Limits.Cpu()
	}
	spec.CPUShares = max(2, uint64(cpuReq.MilliValue())*1024/1000)
	if lim := c.Resources.Limits.Cpu(); !lim.IsZero() {
		spec.CPUPeriod = 100000
		spec.CPUQuota = max(1000, lim.MilliValue()*100000/1000)
	}
	if mem := c.Resources.Limits.Memory(); !mem.IsZero() {
		spec.MemoryLimit = mem.Value()
	}
	return spec
}

func (m *PodManager) inBackoff(key string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.backoff[key]
	return ok && time.Now().Before(b.until)
}

func (m *PodManager) bumpBackoff(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, ok := m.backoff[key]
	if !ok {
		b = &backoff{}
		m.backoff[key] = b
	}
	if b.delay == 0 {
		b.delay = m.cfg.BackoffBase
	} else {
		b.delay = min(2*b.delay, m.cfg.BackoffMax)
	}
	b.until = time.Now().Add(b.delay)
}

// backoffDelay is the current back-off of the container with key.
func (m *PodManager) backoffDelay(key string) time.Duration {
	m.mu.Lock()
	defer m.mu.Unlock()
	if b, ok := m.backoff[key]; ok {
		return b.delay
	}
	return 0
}

func (m *PodManager) setWaiting(key, reason, msg string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.waiting[key] = api.ContainerStateWaiting{Reason: reason, Message: msg}
}

func (m *PodManager) hadWaiting(key string, reasons ...string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.waiting[key]
	if !ok {
		return false
	}
	for _, r := range reasons {
		if w.Reason == r {
			return true
		}
	}
	return false
}

func (m *PodManager) clearWaiting(key string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.waiting, key)
}

func (m *PodManager) waitingOf(key string) (api.ContainerStateWaiting, bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	w, ok := m.waiting[key]
	return w, ok
}

// terminate stops a pod being deleted: SIGTERM, SIGKILL after its grace
// period, removal of containers and sandbox, then the final delete.
func (m *PodManager) terminate(ctx context.Context, pod *api.Pod) error {
	grace := 30 * time.Second
	if g := pod.DeletionGracePeriodSeconds; g != nil {
		grace = time.Duration(*g) * time.Second
	}
	have, err := m.containersOf(ctx, pod.UID)
	if err != nil {
		return err
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for _, attempts := range have {
		for _, c := range attempts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := m.rt.StopContainer(ctx, c.ID, grace); err != nil {
					errs <- err
					return
				}
				if err := m.rt.RemoveContainer(ctx, c.ID); err != nil {
					errs <- err
				}
			}()
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return fmt.Errorf("stop containers: %w", err)
	}
	if err := m.rt.RemoveSandbox(ctx, pod.UID); err != nil {
		return fmt.Errorf("remove sandbox: %w", err)
	}
	m.forget(pod.UID)
	zero := int64(0)
	err = m.pods.Delete(ctx, pod.Namespace, pod.Name, client.DeleteOptions{GracePeriodSeconds: &zero})
	if client.IsNotFound(err) || errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
