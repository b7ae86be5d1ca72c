package caas_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/caas"
)

// fakeRuntime is a hand-written Runtime for the pod loop's logic tests;
// the containerd implementation has its own tests against containerd.
type fakeRuntime struct {
	mu            sync.Mutex
	containers    map[string]*caas.ContainerStatus
	sandboxes     map[string]bool
	missingImages map[string]bool
	exitOnStart   map[string]int32  // container name → exit code right after start
	startErrors   map[string]string // container name → its process cannot start
	stopped       map[string]time.Duration
	execExit      map[string]int // container name → exit code of Exec
	execExitCmd   map[string]int // command[0] → exit code of Exec (before execExit)
	execs         []execCall     // what Exec was asked to run
	// logins: image → the login its registry requires; pulls without it
	// fail with caas.ErrUnauthorized.
	logins map[string]caas.RegistryAuth
	// Stats answers with these counters per container ID, at clock.
	cpuNanos, memBytes map[string]uint64
	clock              time.Time
	statsErr           error
	// stuckImages never finish pulling: EnsureImage closes the channel
	// (once) and waits for its context to end.
	stuckImages map[string]chan struct{}
	// lists counts ListContainers calls (the pod loop's ticks);
	// podLists counts PodContainers calls by pod UID (its syncs); starts
	// are the StartContainer times by container name.
	lists    int
	podLists map[string]int
	starts   map[string][]time.Time
}

// execCall is one Exec the fake was asked for.
type execCall struct {
	id  string
	cmd []string
	at  time.Time
}

func newFakeRuntime() *fakeRuntime {
	return &fakeRuntime{containers: map[string]*caas.ContainerStatus{}, sandboxes: map[string]bool{},
		missingImages: map[string]bool{}, exitOnStart: map[string]int32{}, startErrors: map[string]string{}, stopped: map[string]time.Duration{}, execExit: map[string]int{}, execExitCmd: map[string]int{},
		logins:   map[string]caas.RegistryAuth{},
		cpuNanos: map[string]uint64{}, memBytes: map[string]uint64{}, clock: time.Unix(1_700_000_000, 0),
		stuckImages: map[string]chan struct{}{}, podLists: map[string]int{}, starts: map[string][]time.Time{}}
}

var errNoImage = errors.New("image not found")

func (f *fakeRuntime) Version(context.Context) (string, error) { return "fake://1", nil }

func (f *fakeRuntime) EnsureImage(ctx context.Context, ref string, _ bool, auth *caas.RegistryAuth) (string, error) {
	f.mu.Lock()
	if ch, ok := f.stuckImages[ref]; ok {
		select {
		case <-ch:
		default:
			close(ch)
		}
		f.mu.Unlock()
		<-ctx.Done()
		return "", fmt.Errorf("pull %s: %w", ref, ctx.Err())
	}
	defer f.mu.Unlock()
	if want, ok := f.logins[ref]; ok && (auth == nil || *auth != want) {
		return "", fmt.Errorf("pull %s: %w", ref, caas.ErrUnauthorized)
	}
	if f.missingImages[ref] {
		return "", fmt.Errorf("pull %s: %w", ref, errNoImage)
	}
	return "sha256:" + ref, nil
}

func (f *fakeRuntime) CreateSandbox(_ context.Context, uid string) (caas.Sandbox, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sandboxes[uid] = true
	return caas.Sandbox{PodUID: uid, NetNSPath: "/fake/netns/" + uid}, nil
}

func (f *fakeRuntime) RemoveSandbox(_ context.Context, uid string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.sandboxes, uid)
	return nil
}

func (f *fakeRuntime) StartContainer(_ context.Context, s caas.ContainerSpec) (string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := fmt.Sprintf("%s-%s-%d", s.PodUID[:8], s.Name, s.Attempt)
	if _, ok := f.containers[id]; ok {
		return "", fmt.Errorf("container %s exists", id)
	}
	c := &caas.ContainerStatus{ID: id, PodUID: s.PodUID, PodNamespace: s.PodNamespace, PodName: s.PodName, Name: s.Name,
		Attempt: s.Attempt, Image: s.Image, State: caas.ContainerRunning, StartedAt: time.Now()}
	if code, ok := f.exitOnStart[s.Name]; ok {
		c.State, c.ExitCode, c.FinishedAt = caas.ContainerExited, code, time.Now()
	}
	f.starts[s.Name] = append(f.starts[s.Name], c.StartedAt)
	if msg, ok := f.startErrors[s.Name]; ok {
		// As containerd: the attempt is kept, exited, never started.
		c.State, c.ExitCode, c.Reason, c.Message = caas.ContainerExited, 128, "StartError", msg
		c.StartedAt, c.FinishedAt = time.Time{}, time.Now()
		f.containers[id] = c
		return "", &caas.StartError{ID: id, Err: errors.New(msg)}
	}
	f.containers[id] = c
	return id, nil
}

func (f *fakeRuntime) StopContainer(_ context.Context, id string, grace time.Duration) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok || c.State != caas.ContainerRunning {
		return nil
	}
	f.stopped[id] = grace
	c.State, c.ExitCode, c.FinishedAt = caas.ContainerExited, 137, time.Now()
	return nil
}

func (f *fakeRuntime) RemoveContainer(_ context.Context, id string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.containers, id)
	return nil
}

func (f *fakeRuntime) ListContainers(context.Context) ([]caas.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lists++
	out := make([]caas.ContainerStatus, 0, len(f.containers))
	for _, c := range f.containers {
		out = append(out, *c)
	}
	return out, nil
}

func (f *fakeRuntime) PodContainers(_ context.Context, uid string) ([]caas.ContainerStatus, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.podLists[uid]++
	var out []caas.ContainerStatus
	for _, c := range f.containers {
		if c.PodUID == uid {
			out = append(out, *c)
		}
	}
	return out, nil
}

// Exec runs nothing: it answers with the exit code set for the command's
// first word in execExitCmd, else for the container's name in execExit (0
// when unset), or ErrContainerNotRunning when the container is not running.
func (f *fakeRuntime) Exec(_ context.Context, id string, spec caas.ExecSpec) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	c, ok := f.containers[id]
	if !ok || c.State != caas.ContainerRunning {
		return -1, caas.ErrContainerNotRunning
	}
	f.execs = append(f.execs, execCall{id: id, cmd: spec.Command, at: time.Now()})
	if code, ok := f.execExitCmd[spec.Command[0]]; ok {
		return code, nil
	}
	return f.execExit[c.Name], nil
}

// Stats reports the running containers with the counters set in cpuNanos
// and memBytes, read at clock (or statsErr).
func (f *fakeRuntime) Stats(context.Context) ([]caas.ContainerStats, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.statsErr != nil {
		return nil, f.statsErr
	}
	var out []caas.ContainerStats
	for _, c := range f.containers {
		if c.State != caas.ContainerRunning {
			continue
		}
		out = append(out, caas.ContainerStats{ID: c.ID, PodUID: c.PodUID, PodNamespace: c.PodNamespace, PodName: c.PodName,
			Name: c.Name, Timestamp: f.clock, CPUUsageNanos: f.cpuNanos[c.ID], MemoryWorkingSetBytes: f.memBytes[c.ID]})
	}
	return out, nil
}

func (f *fakeRuntime) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.containers)
}

// exit makes the running container name of pod uid exit with code, as if
// its process ended on its own.
func (f *fakeRuntime) exit(uid, name string, code int32) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, c := range f.containers {
		if c.PodUID == uid && c.Name == name && c.State == caas.ContainerRunning {
			c.State, c.ExitCode, c.FinishedAt = caas.ContainerExited, code, time.Now()
			return true
		}
	}
	return false
}

// syncsAndTicks returns how often pod uid's containers were listed (each
// sync lists them) and how many ticks (ListContainers calls) there were.
func (f *fakeRuntime) syncsAndTicks(uid string) (syncs, ticks int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.podLists[uid], f.lists
}
