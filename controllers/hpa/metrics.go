package hpa

import (
	"context"
	"fmt"
	"sync"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// MetricsSource reads the cpu usage of pods, in millicores by pod name; a
// pod it has no figure for is left out of the map.
type MetricsSource interface {
	PodCPU(ctx context.Context, namespace string, pods []*api.Pod) (map[string]int64, error)
}

// ClientMetrics reads pod usage from the API server's pod metrics API
// (GET /apis/metrics.cloudmgr.dev/v1/namespaces/NS/pods), which asks the
// pods' node agents.
type ClientMetrics struct {
	Client *client.Client
}

// PodCPU sums the cpu of each pod's containers.
func (m ClientMetrics) PodCPU(ctx context.Context, namespace string, pods []*api.Pod) (map[string]int64, error) {
	list, err := m.Client.PodMetrics(ctx, namespace)
	if err != nil {
		return nil, fmt.Errorf("read pod metrics of namespace %s: %w", namespace, err)
	}
	want := make(map[string]string, len(pods))
	for _, p := range pods {
		want[p.Name] = p.UID
	}
	out := make(map[string]int64, len(pods))
	for _, pm := range list.Items {
		uid, ok := want[pm.Name]
		if !ok || (pm.UID != "" && pm.UID != uid) {
			continue
		}
		var milli int64
		for _, c := range pm.Containers {
			milli += c.Usage.Cpu().MilliValue()
		}
		out[pm.Name] = milli
	}
	return out, nil
}

// FakeMetrics is a MetricsSource for tests: a function gives each pod's
// usage, and an error may be injected.
type FakeMetrics struct {
	mu    sync.Mutex
	usage func(p *api.Pod) (milli int64, ok bool)
	err   error
	calls int
}

// SetUsage sets the function that gives a pod's usage (ok false: no
// figure).
func (f *FakeMetrics) SetUsage(usage func(p *api.Pod) (int64, bool)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.usage = usage
}

// SetAll makes every pod use milli millicores.
func (f *FakeMetrics) SetAll(milli int64) {
	f.SetUsage(func(*api.Pod) (int64, bool) { return milli, true })
}

// SetErr makes the next reads fail with err (nil: succeed again).
func (f *FakeMetrics) SetErr(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.err = err
}

// Calls is how many reads were made.
func (f *FakeMetrics) Calls() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// PodCPU answers from the usage function.
func (f *FakeMetrics) PodCPU(_ context.Context, _ string, pods []*api.Pod) (map[string]int64, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	out := map[string]int64{}
	for _, p := range pods {
		if f.usage == nil {
			continue
		}
		if v, ok := f.usage(p); ok {
			out[p.Name] = v
		}
	}
	return out, nil
}
