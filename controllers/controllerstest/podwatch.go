package controllerstest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// PodWatch follows the pods matching a label selector through one API
// watch and, after every event, checks an invariant over all of them. It
// records the first violation, so a rollout's limits are judged at every
// step the API server stored, not at polling instants.
type PodWatch struct {
	mu        sync.Mutex
	pods      map[string]*api.Pod
	violation string
	events    int
	stop      func()
	done      chan struct{}
}

// WatchPods starts a PodWatch over the pods of namespace matching
// selector, through c, until Result is called or the test ends. check runs
// under the watch's lock after each event with the current pods by name;
// it returns "" while the invariant holds, else what is wrong. A watch
// error is a violation too (a gap in the watch would hide steps).
func WatchPods(t testing.TB, c *client.Client, namespace, selector string, check func(pods map[string]*api.Pod) string) *PodWatch {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	w, err := client.For[api.Pod](c).Watch(ctx, namespace, client.ListOptions{LabelSelector: selector})
	if err != nil {
		cancel()
		t.Fatalf("watch pods %q: %v", selector, err)
	}
	pw := &PodWatch{pods: map[string]*api.Pod{}, done: make(chan struct{})}
	var once sync.Once
	pw.stop = func() { once.Do(func() { cancel(); w.Stop(); <-pw.done }) }
	t.Cleanup(pw.stop)
	go func() {
		defer close(pw.done)
		for ev := range w.Events() {
			pw.mu.Lock()
			switch ev.Type {
			case client.Error:
				if pw.violation == "" && ctx.Err() == nil {
					pw.violation = fmt.Sprintf("watch error: %v", ev.Err)
				}
			case client.Deleted:
				delete(pw.pods, ev.Object.(*api.Pod).Name)
			default:
				p := ev.Object.(*api.Pod)
				pw.pods[p.Name] = p
			}
			pw.events++
			if ev.Type != client.Error {
				if msg := check(pw.pods); msg != "" && pw.violation == "" {
					pw.violation = fmt.Sprintf("after event %d (%s): %s", pw.events, ev.Type, msg)
				}
			}
			pw.mu.Unlock()
		}
	}()
	return pw
}

// Inspect runs f with the current pods under the watch's lock (f must not
// keep the map).
func (pw *PodWatch) Inspect(f func(pods map[string]*api.Pod)) {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	f(pw.pods)
}

// Violation returns the first violation so far ("" for none) without
// stopping the watch.
func (pw *PodWatch) Violation() string {
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.violation
}

// Result stops the watch and returns the first violation ("" for none)
// and how many events it saw.
func (pw *PodWatch) Result() (violation string, events int) {
	pw.stop()
	pw.mu.Lock()
	defer pw.mu.Unlock()
	return pw.violation, pw.events
}

// CountPods returns how many pods are active (not terminating nor
// finished) and how many of those are Ready.
func CountPods(pods map[string]*api.Pod) (ready, active int) {
	for _, p := range pods {
		if controllers.IsPodActive(p) {
			active++
			if controllers.IsPodReady(p) {
				ready++
			}
		}
	}
	return ready, active
}

// PodSummary lists pods, sorted by name, as name[hash active ready] for
// failure messages.
func PodSummary(pods map[string]*api.Pod) string {
	names := make([]string, 0, len(pods))
	for n := range pods {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	for _, n := range names {
		p := pods[n]
		fmt.Fprintf(&b, " %s[%s active=%t ready=%t]", p.Name, p.Labels[api.LabelPodTemplateHash],
			controllers.IsPodActive(p), controllers.IsPodReady(p))
	}
	return b.String()
}
