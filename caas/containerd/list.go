package containerd

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	tasks "github.com/containerd/containerd/api/services/tasks/v1"
	tasktypes "github.com/containerd/containerd/api/types/task"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/protobuf"
	"github.com/containerd/errdefs"
	"github.com/containerd/errdefs/pkg/errgrpc"
	"golang.org/x/sys/unix"

	"github.com/cloudmgr/cloud/caas"
)

// reasonStartError is the reason of an attempt whose process could not
// start.
const reasonStartError = "StartError"

// exitKilled is the exit code of a process ended by SIGKILL, as the OOM
// killer ends it.
const exitKilled = 128 + 9

// ListContainers lists the containers carrying the runtime's labels in its
// namespace, with the state of their tasks. The pod loop calls it every
// tick, so it reads every task's state in one call to containerd rather
// than two per container.
func (r *Runtime) ListContainers(ctx context.Context) ([]caas.ContainerStatus, error) {
	ctx = r.ctx(ctx)
	// Containers first: a task started after its container was listed is
	// then in the task list, as it would be to a later per-container get.
	ctrs, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q", labelPodUID))
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	resp, err := r.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("list tasks: %w", errgrpc.ToNative(err))
	}
	procs := make(map[string]*tasktypes.Process, len(resp.Tasks))
	for _, p := range resp.Tasks {
		procs[p.ID] = p
	}
	out := make([]caas.ContainerStatus, 0, len(ctrs))
	for _, ctr := range ctrs {
		var st caas.ContainerStatus
		if p, ok := procs[ctr.ID()]; ok {
			st, err = r.labelStatus(ctx, ctr)
			if err == nil {
				r.taskState(ctx, ctr, &st, containerd.Status{Status: containerd.ProcessStatus(strings.ToLower(p.Status.String())),
					ExitStatus: p.ExitStatus, ExitTime: protobuf.FromTimestamp(p.ExitedAt)})
			}
		} else {
			// No task, or one the list left out (its shim did not
			// answer): ask for it alone, which says which.
			st, err = r.status(ctx, ctr)
		}
		if errdefs.IsNotFound(err) {
			continue // removed while we listed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// PodContainers lists the containers of one pod; containerd filters them
// by label, so the cost does not grow with the number of pods.
func (r *Runtime) PodContainers(ctx context.Context, podUID string) ([]caas.ContainerStatus, error) {
	return r.list(ctx, fmt.Sprintf("labels.%q==%q", labelPodUID, podUID))
}

func (r *Runtime) list(ctx context.Context, filter string) ([]caas.ContainerStatus, error) {
	ctx = r.ctx(ctx)
	ctrs, err := r.client.Containers(ctx, filter)
	if err != nil {
		return nil, fmt.Errorf("list containers: %w", err)
	}
	out := make([]caas.ContainerStatus, 0, len(ctrs))
	for _, ctr := range ctrs {
		st, err := r.status(ctx, ctr)
		if errdefs.IsNotFound(err) {
			continue // removed while we listed
		}
		if err != nil {
			return nil, err
		}
		out = append(out, st)
	}
	return out, nil
}

// status builds one container's status from its labels and task.
func (r *Runtime) status(ctx context.Context, ctr containerd.Container) (caas.ContainerStatus, error) {
	st, err := r.labelStatus(ctx, ctr)
	if err != nil {
		return st, err
	}
	task, err := ctr.Task(ctx, nil)
	if errdefs.IsNotFound(err) {
		switch {
		case st.Reason == reasonStartError:
			st.State = caas.ContainerExited // its process never started
		case !st.StartedAt.IsZero():
			st.State = caas.ContainerUnknown // started once, task gone
		}
		return st, nil
	}
	if err != nil {
		return caas.ContainerStatus{}, fmt.Errorf("task %s: %w", ctr.ID(), err)
	}
	ts, err := task.Status(ctx)
	if err != nil {
		return caas.ContainerStatus{}, fmt.Errorf("task %s: %w", ctr.ID(), err)
	}
	r.taskState(ctx, ctr, &st, ts)
	return st, nil
}

// labelStatus is what a container's labels say of it, with no task yet:
// created. The labels come with the container list, no call needed.
func (r *Runtime) labelStatus(ctx context.Context, ctr containerd.Container) (caas.ContainerStatus, error) {
	info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
	if err != nil {
		return caas.ContainerStatus{}, fmt.Errorf("container %s: %w", ctr.ID(), err)
	}
	l := info.Labels
	attempt, _ := strconv.Atoi(l[labelAttempt])
	st := caas.ContainerStatus{
		ID: ctr.ID(), PodUID: l[labelPodUID], PodNamespace: l[labelPodNamespace], PodName: l[labelPodName],
		Name: l[labelName], Attempt: attempt, Image: info.Image, ImageID: l[labelImageID],
		State: caas.ContainerCreated,
	}
	if t, err := time.Parse(time.RFC3339Nano, l[labelStartedAt]); err == nil {
		st.StartedAt = t
	}
	if msg, ok := l[labelStartError]; ok {
		st.Reason, st.Message, st.ExitCode = reasonStartError, msg, exitStartError
		if t, err := time.Parse(time.RFC3339Nano, l[labelFinishedAt]); err == nil {
			st.FinishedAt = t
		}
	}
	return st, nil
}

// taskState sets st's state from its task's status ts.
func (r *Runtime) taskState(ctx context.Context, ctr containerd.Container, st *caas.ContainerStatus, ts containerd.Status) {
	switch ts.Status {
	case containerd.Running, containerd.Paused, containerd.Pausing:
		st.State = caas.ContainerRunning
	case containerd.Created:
		st.State = caas.ContainerCreated
	case containerd.Stopped:
		st.State = caas.ContainerExited
		st.ExitCode = int32(ts.ExitStatus)
		st.FinishedAt = ts.ExitTime
		st.OOMKilled = r.oomKilled(ctx, ctr, st.ExitCode)
	default:
		st.State = caas.ContainerUnknown
	}
}

// oomKilled reports whether the OOM killer ended the container: containerd
// told us so, or its memory cgroup (kept until the task is deleted) counts
// an OOM kill.
func (r *Runtime) oomKilled(ctx context.Context, ctr containerd.Container, code int32) bool {
	if code != exitKilled {
		return false
	}
	if r.oom.seen(ctr.ID()) {
		return true
	}
	spec, err := ctr.Spec(ctx)
	if err != nil || spec.Linux == nil || spec.Linux.CgroupsPath == "" {
		return false
	}
	n, err := cgroupOOMKills(spec.Linux.CgroupsPath)
	return err == nil && n > 0
}

// cgroupOOMKills reads the oom_kill count of a memory cgroup given by its
// path from the hierarchy root: memory.events on cgroup v2,
// memory.oom_control on v1.
func cgroupOOMKills(cgroupPath string) (int64, error) {
	file := filepath.Join("/sys/fs/cgroup/memory", cgroupPath, "memory.oom_control")
	var st unix.Statfs_t
	if unix.Statfs("/sys/fs/cgroup", &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
		file = filepath.Join("/sys/fs/cgroup", cgroupPath, "memory.events")
	}
	f, err := os.Open(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "oom_kill "); ok {
			return strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		}
	}
	return 0, sc.Err()
}
