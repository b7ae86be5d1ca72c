package caas

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"math"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// UsageConfig tunes the usage sampler.
type UsageConfig struct {
	// NodeName is the Node whose status.usage is written.
	NodeName string
	// Interval is how often counters are sampled and the Node's usage
	// written (default 10s). CPU figures are averaged over it.
	Interval time.Duration
	// MaxCores bounds a believable CPU figure (default: the machine's
	// CPU count); a container above it had its counter restarted.
	MaxCores float64
}

// UsageSampler measures the CPU and memory use of the node and of its
// pods from cgroup counters, keeps the latest figures in memory, writes
// the node's figures to its Node's status.usage, and serves the per-pod
// figures over HTTP (Handler). Per-pod figures are not written to the API:
// that would be a write per pod every interval, and the Node object is
// readable by tenants that must not see other tenants' pods.
//
// A container has figures once it has been sampled twice: a new container
// (a restart is a new container ID) is left out of its pod, and of the
// node's pod sum, for its first interval.
type UsageSampler struct {
	cfg   UsageConfig
	nodes *client.Resource[api.Node, *api.Node]
	rt    Runtime
	host  HostStats
	log   *slog.Logger

	mu       sync.Mutex
	prevHost *HostSample
	prev     map[string]ContainerStats // by container ID
	node     *api.NodeUsage
	pods     []api.PodMetrics // sorted by namespace and name
}

// NewUsageSampler builds a sampler; Run starts it. c may be nil when only
// Sample and the in-memory figures are wanted.
func NewUsageSampler(c *client.Client, rt Runtime, host HostStats, cfg UsageConfig, log *slog.Logger) *UsageSampler {
	if cfg.Interval <= 0 {
		cfg.Interval = 10 * time.Second
	}
	if cfg.MaxCores <= 0 {
		cfg.MaxCores = float64(runtime.NumCPU())
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &UsageSampler{cfg: cfg, rt: rt, host: host, log: log, prev: map[string]ContainerStats{}}
	if c != nil {
		s.nodes = client.For[api.Node](c)
	}
	return s
}

// Run samples every Interval and writes the Node's status.usage after
// each complete window, until ctx ends. Failures are logged and retried
// at the next tick.
func (s *UsageSampler) Run(ctx context.Context) error {
	t := time.NewTicker(s.cfg.Interval)
	defer t.Stop()
	for {
		if err := s.Sample(ctx); err != nil && ctx.Err() == nil {
			s.log.Warn("sample usage", "err", err)
		} else if u := s.NodeUsage(); u != nil && s.nodes != nil {
			if err := s.writeUsage(ctx, u); err != nil && ctx.Err() == nil {
				s.log.Warn("write node usage", "node", s.cfg.NodeName, "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Sample reads the counters once and, against the previous sample,
// computes the figures of the window between them. The first sample only
// sets the baseline.
func (s *UsageSampler) Sample(ctx context.Context) error {
	host, err := s.host.ReadHost()
	if err != nil {
		return err
	}
	ctrs, err := s.rt.Stats(ctx)
	if err != nil {
		return fmt.Errorf("container stats: %w", err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cur := make(map[string]ContainerStats, len(ctrs))
	for _, c := range ctrs {
		cur[c.ID] = c
	}
	pods := s.podMetrics(ctrs)
	var node *api.NodeUsage
	if s.prevHost != nil {
		if cores, window, ok := rate(s.prevHost.CPUBusyNanos, host.CPUBusyNanos, s.prevHost.Timestamp, host.Timestamp, s.cfg.MaxCores); ok {
			node = &api.NodeUsage{
				Timestamp: api.NewTime(host.Timestamp), WindowSeconds: roundTo(window.Seconds(), 3),
				Node: api.ResourceList{api.ResourceCPU: cpuQuantity(cores), api.ResourceMemory: memQuantity(host.MemoryUsedBytes)},
				Pods: sumPods(pods),
			}
		}
	}
	s.prevHost, s.prev = &host, cur
	s.pods = pods
	if node != nil || s.node == nil {
		s.node = node
	}
	return nil
}

// podMetrics groups the containers with a CPU figure (a previous sample
// of the same container, counter not restarted) by pod.
func (s *UsageSampler) podMetrics(ctrs []ContainerStats) []api.PodMetrics {
	byUID := map[string]*api.PodMetrics{}
	for _, c := range ctrs {
		p, ok := s.prev[c.ID]
		if !ok {
			continue
		}
		cores, window, ok := rate(p.CPUUsageNanos, c.CPUUsageNanos, p.Timestamp, c.Timestamp, s.cfg.MaxCores)
		if !ok {
			continue
		}
		pm := byUID[c.PodUID]
		if pm == nil {
			pm = &api.PodMetrics{
				TypeMeta:   api.TypeMeta{APIVersion: api.APIVersionMetrics, Kind: api.KindPodMetrics},
				ObjectMeta: api.ObjectMeta{Name: c.PodName, Namespace: c.PodNamespace, UID: c.PodUID},
			}
			byUID[c.PodUID] = pm
		}
		if ts := api.NewTime(c.Timestamp); ts.After(pm.Timestamp.Time) {
			pm.Timestamp = ts
		}
		pm.Window.Duration = max(pm.Window.Duration, window.Round(time.Millisecond))
		pm.Containers = append(pm.Containers, api.ContainerMetrics{Name: c.Name, Usage: api.ResourceList{
			api.ResourceCPU: cpuQuantity(cores), api.ResourceMemory: memQuantity(c.MemoryWorkingSetBytes),
		}})
	}
	out := make([]api.PodMetrics, 0, len(byUID))
	for _, pm := range byUID {
		slices.SortFunc(pm.Containers, func(a, b api.ContainerMetrics) int { return cmp.Compare(a.Name, b.Name) })
		out = append(out, *pm)
	}
	slices.SortFunc(out, func(a, b api.PodMetrics) int {
		return cmp.Or(cmp.Compare(a.Namespace, b.Namespace), cmp.Compare(a.Name, b.Name), cmp.Compare(a.UID, b.UID))
	})
	return out
}

// rate is the cores a cumulative CPU-time counter shows over a window. A
// counter that went back (the container or the machine restarted under
// the same ID), a window that is empty or went back, or a figure above
// maxCores (a restart the counter hides) gives no figure.
func rate(prevNanos, curNanos uint64, prevT, curT time.Time, maxCores float64) (float64, time.Duration, bool) {
	window := curT.Sub(prevT)
	if window <= 0 || curNanos < prevNanos {
		return 0, 0, false
	}
	cores := float64(curNanos-prevNanos) / float64(window.Nanoseconds())
	if cores > maxCores*1.05 { // a little slack for timestamps taken apart from the counters
		return 0, 0, false
	}
	return min(cores, maxCores), window, true
}

func sumPods(pods []api.PodMetrics) api.ResourceList {
	var milli, mem int64
	for _, p := range pods {
		for _, c := range p.Containers {
			milli += c.Usage.Cpu().MilliValue()
			mem += c.Usage.Memory().Value()
		}
	}
	return api.ResourceList{api.ResourceCPU: api.NewMilliQuantity(milli, api.DecimalSI), api.ResourceMemory: api.NewQuantity(mem, api.BinarySI)}
}

func cpuQuantity(cores float64) api.Quantity {
	return api.NewMilliQuantity(int64(math.Round(cores*1000)), api.DecimalSI)
}

func memQuantity(bytes uint64) api.Quantity {
	return api.NewQuantity(int64(min(bytes, math.MaxInt64)), api.BinarySI)
}

func roundTo(v float64, digits int) float64 {
	p := math.Pow10(digits)
	return math.Round(v*p) / p
}

// NodeUsage returns the node's latest figures, or nil before the first
// complete window. The caller may keep it: it is a copy.
func (s *UsageSampler) NodeUsage() *api.NodeUsage {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.node == nil {
		return nil
	}
	u := *s.node
	u.Node, u.Pods = copyResources(u.Node), copyResources(u.Pods)
	return &u
}

// PodMetrics returns the latest figures of the pods of namespace (every
// namespace when empty), sorted by namespace and name.
func (s *UsageSampler) PodMetrics(namespace string) []api.PodMetrics {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []api.PodMetrics{}
	for _, p := range s.pods {
		if namespace != "" && p.Namespace != namespace {
			continue
		}
		p.Containers = slices.Clone(p.Containers)
		out = append(out, p)
	}
	return out
}

func copyResources(l api.ResourceList) api.ResourceList {
	if l == nil {
		return nil
	}
	out := make(api.ResourceList, len(l))
	for k, v := range l {
		out[k] = v
	}
	return out
}

// writeUsage sets the Node's status.usage, leaving every other status
// field as the API holds it. The update carries the resourceVersion read,
// so a concurrent status write (the NodeAgent's conditions) makes it fail
// with a conflict instead of being overwritten; it is then read again and
// retried.
func (s *UsageSampler) writeUsage(ctx context.Context, u *api.NodeUsage) error {
	const attempts = 5
	for i := range attempts {
		node, err := s.nodes.Get(ctx, "", s.cfg.NodeName)
		if err != nil {
			return fmt.Errorf("get node: %w", err)
		}
		node.Status.Usage = u
		_, err = s.nodes.UpdateStatus(ctx, node)
		if err == nil {
			return nil
		}
		if !client.IsConflict(err) {
			return fmt.Errorf("update node status: %w", err)
		}
		if !sleep(ctx, time.Duration(i+1)*20*time.Millisecond) {
			return ctx.Err()
		}
	}
	return fmt.Errorf("update node status: still conflicting after %d attempts", attempts)
}

func secondsDuration(s float64) time.Duration {
	return time.Duration(math.Round(s * float64(time.Second)))
}
