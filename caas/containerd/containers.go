package containerd

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/containerd/containerd/api/types/runc/options"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/oci"
	"github.com/containerd/errdefs"
	specs "github.com/opencontainers/runtime-spec/specs-go"

	"github.com/cloudmgr/cloud/caas"
)

// Labels on every container the runtime makes; ListContainers rebuilds
// caas.ContainerStatus from them.
const (
	labelPodUID       = "cloudmgr.io/pod-uid"
	labelPodNamespace = "cloudmgr.io/pod-namespace"
	labelPodName      = "cloudmgr.io/pod-name"
	labelName         = "cloudmgr.io/container-name"
	labelAttempt      = "cloudmgr.io/attempt"
	labelImageID      = "cloudmgr.io/image-id"
	labelStartedAt    = "cloudmgr.io/started-at"
	// labelStartError and labelFinishedAt mark a container whose process
	// could not start, kept as an exited attempt.
	labelStartError = "cloudmgr.io/start-error"
	labelFinishedAt = "cloudmgr.io/finished-at"
)

// exitStartError is the exit code reported for a process that could not
// start, as runc's shell convention and Kubernetes report it.
const exitStartError = 128

// maxStartErrorLabel bounds the error kept in a label (containerd limits
// a label to 4 KiB).
const maxStartErrorLabel = 1024

// maxIDLength is the longest identifier containerd accepts.
const maxIDLength = 76

// ContainerID is the deterministic ID of a pod's container attempt, so a
// retried start finds the container its predecessor made: the first 12
// characters of the pod UID, the name and the attempt. A name too long for
// containerd is cut and suffixed with a hash of the whole name.
func ContainerID(podUID, name string, attempt int) string {
	if len(podUID) > 12 {
		podUID = podUID[:12]
	}
	suffix := "-" + strconv.Itoa(attempt)
	if len(podUID)+1+len(name)+len(suffix) > maxIDLength {
		sum := sha256.Sum256([]byte(name))
		keep := maxIDLength - len(podUID) - 1 - len(suffix) - 9
		name = name[:keep] + "-" + hex.EncodeToString(sum[:4])
	}
	return podUID + "-" + name + suffix
}

// StartContainer creates the container and its task and starts it. On any
// failure (a missing image, a command runc cannot exec) it removes what it
// made and returns the error.
func (r *Runtime) StartContainer(ctx context.Context, spec caas.ContainerSpec) (id string, err error) {
	ctx = r.ctx(ctx)
	if err := validName(spec.PodUID); err != nil {
		return "", fmt.Errorf("start container: pod uid: %w", err)
	}
	if err := validName(spec.Name); err != nil {
		return "", fmt.Errorf("start container: name: %w", err)
	}
	id = ContainerID(spec.PodUID, spec.Name, spec.Attempt)
	img, err := r.client.GetImage(ctx, spec.Image)
	if err != nil {
		return "", fmt.Errorf("start container %s: image %s: %w", id, spec.Image, err)
	}
	if spec.LogPath != "" {
		if err := os.MkdirAll(filepath.Dir(spec.LogPath), 0o755); err != nil {
			return "", fmt.Errorf("start container %s: log directory: %w", id, err)
		}
	}
	labels := map[string]string{
		labelPodUID: spec.PodUID, labelPodNamespace: spec.PodNamespace, labelPodName: spec.PodName,
		labelName: spec.Name, labelAttempt: strconv.Itoa(spec.Attempt),
		labelImageID: img.Target().Digest.String(),
	}
	copts := []containerd.NewContainerOpts{containerd.WithImage(img)}
	if r.cfg.Snapshotter != "" {
		copts = append(copts, containerd.WithSnapshotter(r.cfg.Snapshotter))
	}
	copts = append(copts,
		containerd.WithNewSnapshot(id, img),
		containerd.WithRuntime("io.containerd.runc.v2", &options.Options{Root: r.cfg.RuncRoot}),
		containerd.WithNewSpec(specOpts(img, spec)...),
		containerd.WithContainerLabels(labels),
	)
	ctr, err := r.client.NewContainer(ctx, id, copts...)
	if err != nil {
		if !errdefs.IsAlreadyExists(err) {
			// NewContainer makes the snapshot first and does not undo it.
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			_ = r.client.SnapshotService(r.cfg.Snapshotter).Remove(cctx, id)
		}
		return "", fmt.Errorf("create container %s: %w", id, err)
	}
	defer func() {
		var se *caas.StartError
		if err != nil && !errors.As(err, &se) {
			cctx, cancel := cleanupContext(ctx)
			defer cancel()
			_ = r.removeContainer(cctx, ctr)
		}
	}()
	task, err := ctr.NewTask(ctx, r.logCreator(spec.LogPath))
	if err != nil {
		return "", r.startFailed(ctx, ctr, nil, fmt.Errorf("create task: %w", err))
	}
	if err := task.Start(ctx); err != nil {
		return "", r.startFailed(ctx, ctr, task, fmt.Errorf("start task: %w", err))
	}
	started := time.Now().UTC().Format(time.RFC3339Nano)
	if _, err := ctr.SetLabels(ctx, map[string]string{labelStartedAt: started}); err != nil {
		return "", fmt.Errorf("label container %s: %w", id, err)
	}
	return id, nil
}

// startFailed handles a task that could not be made or started. When the
// container's process is what failed (runc could not exec it), the
// container is kept, labelled with the error, as an exited attempt, and a
// *caas.StartError returned; any other failure is returned as it is and
// the caller removes the container.
func (r *Runtime) startFailed(ctx context.Context, ctr containerd.Container, task containerd.Task, err error) error {
	if !isExecFailure(err) {
		return fmt.Errorf("%s: %w", ctr.ID(), err)
	}
	cctx, cancel := cleanupContext(ctx)
	defer cancel()
	if task != nil {
		_, _ = task.Delete(cctx, containerd.WithProcessKill)
	}
	msg := err.Error()
	if len(msg) > maxStartErrorLabel {
		msg = msg[:maxStartErrorLabel]
	}
	if _, lerr := ctr.SetLabels(cctx, map[string]string{labelStartError: msg,
		labelFinishedAt: time.Now().UTC().Format(time.RFC3339Nano)}); lerr != nil {
		return fmt.Errorf("%s: %w (and labelling it: %v)", ctr.ID(), err, lerr)
	}
	return &caas.StartError{ID: ctr.ID(), Err: err}
}

// isExecFailure tells an error of the container's own process (runc's
// exec of it failed) from a failure of the machinery around it.
func isExecFailure(err error) bool {
	msg := err.Error()
	for _, s := range []string{"executable file not found", "no such file or directory", "permission denied", "exec format error", "not a directory"} {
		if strings.Contains(msg, s) && (strings.Contains(msg, "exec") || strings.Contains(msg, "starting container process")) {
			return true
		}
	}
	return false
}

// specOpts turns spec into OCI spec options. Following Kubernetes, Command
// replaces the image's entrypoint and Args alone replace only its cmd.
func specOpts(img containerd.Image, spec caas.ContainerSpec) []oci.SpecOpts {
	opts := []oci.SpecOpts{oci.WithImageConfig(img)}
	switch {
	case len(spec.Command) > 0:
		opts = append(opts, oci.WithProcessArgs(append(append([]string{}, spec.Command...), spec.Args...)...))
	case len(spec.Args) > 0:
		opts = append(opts, oci.WithImageConfigArgs(img, spec.Args))
	}
	if len(spec.Env) > 0 {
		opts = append(opts, oci.WithEnv(spec.Env))
	}
	if spec.WorkingDir != "" {
		opts = append(opts, oci.WithProcessCwd(spec.WorkingDir))
	}
	if spec.NetNSPath != "" {
		opts = append(opts, oci.WithLinuxNamespace(specs.LinuxNamespace{Type: specs.NetworkNamespace, Path: spec.NetNSPath}))
	}
	if spec.CPUShares > 0 {
		opts = append(opts, oci.WithCPUShares(spec.CPUShares))
	}
	if spec.CPUQuota > 0 {
		opts = append(opts, oci.WithCPUCFS(spec.CPUQuota, spec.CPUPeriod))
	}
	if spec.MemoryLimit > 0 {
		opts = append(opts, oci.WithMemoryLimit(uint64(spec.MemoryLimit)))
	}
	return opts
}

// StopContainer sends SIGTERM, waits up to grace, then SIGKILL, and waits
// for the task to exit. A missing container or task is already stopped.
func (r *Runtime) StopContainer(ctx context.Context, id string, grace time.Duration) error {
	ctx = r.ctx(ctx)
	task, err := r.loadTask(ctx, id)
	if err != nil || task == nil {
		return err
	}
	st, err := task.Status(ctx)
	if err != nil {
		return ignoreNotFound(fmt.Errorf("stop %s: %w", id, err))
	}
	if st.Status == containerd.Stopped {
		return nil
	}
	exitC, err := task.Wait(ctx)
	if err != nil {
		return ignoreNotFound(fmt.Errorf("stop %s: %w", id, err))
	}
	if grace > 0 {
		if err := task.Kill(ctx, syscall.SIGTERM); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("stop %s: SIGTERM: %w", id, err)
		}
		timer := time.NewTimer(grace)
		defer timer.Stop()
		select {
		case <-exitC:
			return nil
		case <-timer.C:
		case <-ctx.Done():
			return fmt.Errorf("stop %s: %w", id, ctx.Err())
		}
	}
	if err := task.Kill(ctx, syscall.SIGKILL, containerd.WithKillAll); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("stop %s: SIGKILL: %w", id, err)
	}
	select {
	case <-exitC:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("stop %s: %w", id, ctx.Err())
	}
}

// RemoveContainer deletes the container's task (killing it if it still
// runs), the container and its snapshot. A missing one is not an error.
func (r *Runtime) RemoveContainer(ctx context.Context, id string) error {
	ctx = r.ctx(ctx)
	ctr, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return ignoreNotFound(fmt.Errorf("remove %s: %w", id, err))
	}
	return r.removeContainer(ctx, ctr)
}

func (r *Runtime) removeContainer(ctx context.Context, ctr containerd.Container) error {
	task, err := ctr.Task(ctx, nil)
	switch {
	case err == nil:
		if _, err := task.Delete(ctx, containerd.WithProcessKill); err != nil && !errdefs.IsNotFound(err) {
			return fmt.Errorf("remove %s: delete task: %w", ctr.ID(), err)
		}
	case !errdefs.IsNotFound(err):
		return fmt.Errorf("remove %s: load task: %w", ctr.ID(), err)
	}
	if err := ctr.Delete(ctx, containerd.WithSnapshotCleanup); err != nil && !errdefs.IsNotFound(err) {
		return fmt.Errorf("remove %s: %w", ctr.ID(), err)
	}
	r.oom.forget(ctr.ID())
	return nil
}

// loadTask returns the container's task, or nil when the container or
// its task does not exist.
func (r *Runtime) loadTask(ctx context.Context, id string) (containerd.Task, error) {
	ctr, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return nil, ignoreNotFound(fmt.Errorf("load %s: %w", id, err))
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return nil, ignoreNotFound(fmt.Errorf("load task %s: %w", id, err))
	}
	return task, nil
}

// ignoreNotFound returns nil for a containerd not-found error.
func ignoreNotFound(err error) error {
	if errdefs.IsNotFound(err) {
		return nil
	}
	return err
}

// cleanupContext is a fresh context for undoing work, so that a cancelled
// caller still leaves nothing behind; it keeps ctx's namespace.
func cleanupContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
}
