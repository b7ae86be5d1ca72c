package containerd

import (
	"context"
	"fmt"
	"time"

	cgroup1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroup2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd/api/services/tasks/v1"
	"github.com/containerd/containerd/api/types/task"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/errdefs"
	"github.com/containerd/typeurl/v2"

	"github.com/cloudmgr/cloud/caas"
)

// Stats reads the counters of the agent's running containers from their
// shims: one Metrics call for every task of the namespace, which the shim
// answers from the container's cgroup (v1 or v2, whichever the host has).
func (r *Runtime) Stats(ctx context.Context) ([]caas.ContainerStats, error) {
	ctx = r.ctx(ctx)
	ctrs, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q", labelPodUID))
	if err != nil {
		return nil, fmt.Errorf("stats: list containers: %w", err)
	}
	byID := make(map[string]containerd.Container, len(ctrs))
	for _, c := range ctrs {
		byID[c.ID()] = c
	}
	// A stopped task keeps its cgroup until it is deleted; leave it out.
	list, err := r.client.TaskService().List(ctx, &tasks.ListTasksRequest{})
	if err != nil {
		return nil, fmt.Errorf("stats: list tasks: %w", err)
	}
	running := make(map[string]bool, len(list.Tasks))
	for _, t := range list.Tasks {
		if t.Status == task.Status_RUNNING {
			running[t.ID] = true
		}
	}
	resp, err := r.client.TaskService().Metrics(ctx, &tasks.MetricsRequest{})
	if err != nil {
		return nil, fmt.Errorf("stats: task metrics: %w", err)
	}
	out := make([]caas.ContainerStats, 0, len(resp.Metrics))
	for _, m := range resp.Metrics {
		ctr, ok := byID[m.ID]
		if !ok || !running[m.ID] || m.Data == nil {
			continue // not ours, or not running
		}
		info, err := ctr.Info(ctx, containerd.WithoutRefreshedMetadata)
		if errdefs.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("stats: container %s: %w", m.ID, err)
		}
		st, err := decodeMetrics(m.Data)
		if err != nil {
			return nil, fmt.Errorf("stats: container %s: %w", m.ID, err)
		}
		l := info.Labels
		st.ID, st.PodUID, st.PodNamespace, st.PodName, st.Name = m.ID, l[labelPodUID], l[labelPodNamespace], l[labelPodName], l[labelName]
		st.Timestamp = time.Now()
		if m.Timestamp != nil {
			st.Timestamp = m.Timestamp.AsTime()
		}
		out = append(out, st)
	}
	return out, nil
}

// decodeMetrics turns a shim's metrics into counters: cgroup v1 gives CPU
// time in nanoseconds and memory with total_inactive_file, cgroup v2 CPU
// time in microseconds and memory with inactive_file. The working set is
// usage less inactive file pages, as the kubelet (cAdvisor) computes it.
func decodeMetrics(data typeurl.Any) (caas.ContainerStats, error) {
	v, err := typeurl.UnmarshalAny(data)
	if err != nil {
		return caas.ContainerStats{}, fmt.Errorf("decode metrics %s: %w", data.GetTypeUrl(), err)
	}
	var st caas.ContainerStats
	switch m := v.(type) {
	case *cgroup1.Metrics:
		if m.CPU != nil && m.CPU.Usage != nil {
			st.CPUUsageNanos = m.CPU.Usage.Total
		}
		if m.Memory != nil && m.Memory.Usage != nil {
			st.MemoryWorkingSetBytes = workingSet(m.Memory.Usage.Usage, m.Memory.TotalInactiveFile)
		}
	case *cgroup2.Metrics:
		if m.CPU != nil {
			st.CPUUsageNanos = m.CPU.UsageUsec * 1000
		}
		if m.Memory != nil {
			st.MemoryWorkingSetBytes = workingSet(m.Memory.Usage, m.Memory.InactiveFile)
		}
	default:
		return caas.ContainerStats{}, fmt.Errorf("unexpected metrics type %s", data.GetTypeUrl())
	}
	return st, nil
}

func workingSet(usage, inactiveFile uint64) uint64 {
	if inactiveFile >= usage {
		return 0
	}
	return usage - inactiveFile
}
