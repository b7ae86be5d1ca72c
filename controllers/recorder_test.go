package controllers_test

import (
	"context"
	"sort"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

func startRecorder(t *testing.T, c *client.Client, interval time.Duration) *controllers.Recorder {
	t.Helper()
	r := controllers.NewRecorder(c, "test-controller", nil)
	r.Interval = interval
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return r
}

func flush(t *testing.T, r *controllers.Recorder) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
}

func listEvents(t *testing.T, c *client.Client, ns string) []*api.Event {
	t.Helper()
	items, _, err := client.For[api.Event](c).List(context.Background(), ns, client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	sort.Slice(items, func(i, j int) bool { return items[i].Name < items[j].Name })
	return items
}

func createTestPod(t *testing.T, c *client.Client, name string) *api.Pod {
	t.Helper()
	p, err := client.For[api.Pod](c).Create(context.Background(), &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// TestRecorderAggregatesRepeats: the same event ten times is one Event
// with a count of ten, referring to the object.
func TestRecorderAggregatesRepeats(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	r := startRecorder(t, env.Admin, time.Hour)
	pod := createTestPod(t, env.Admin, "web")
	for range 10 {
		r.Event(pod, api.EventTypeWarning, "BackOff", "restarting failed container")
	}
	r.Eventf(pod, api.EventTypeNormal, "Created", "created %s", "web")
	flush(t, r)
	evs := listEvents(t, env.Admin, "default")
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2: %+v", len(evs), evs)
	}
	byReason := map[string]*api.Event{}
	for _, e := range evs {
		byReason[e.Reason] = e
	}
	b := byReason["BackOff"]
	if b == nil || b.Count != 10 || b.Type != api.EventTypeWarning || b.Message != "restarting failed container" {
		t.Fatalf("BackOff event: %+v", b)
	}
	ref := b.InvolvedObject
	if ref.Kind != api.KindPod || ref.Namespace != "default" || ref.Name != "web" || ref.UID != pod.UID || ref.APIVersion != "v1" {
		t.Fatalf("involved object %+v", ref)
	}
	if b.Source.Component != "test-controller" {
		t.Fatalf("source %+v", b.Source)
	}
	if c := byReason["Created"]; c == nil || c.Count != 1 || c.Message != "created web" {
		t.Fatalf("Created event: %+v", c)
	}
	// A repeat after the first write updates the same Event's count.
	r.Event(pod, api.EventTypeWarning, "BackOff", "restarting failed container")
	flush(t, r)
	evs = listEvents(t, env.Admin, "default")
	if len(evs) != 2 {
		t.Fatalf("%d events after a repeat, want 2", len(evs))
	}
	for _, e := range evs {
		if e.Reason == "BackOff" && e.Count != 11 {
			t.Fatalf("BackOff count %d after a repeat, want 11", e.Count)
		}
	}
}

// TestRecorderRateLimits: distinct messages for one object and reason are
// written at most once per interval; those in between are counted into
// the next write, which carries the latest message.
func TestRecorderRateLimits(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	r := startRecorder(t, env.Admin, time.Hour)
	pod := createTestPod(t, env.Admin, "web")
	for i := range 50 {
		r.Eventf(pod, api.EventTypeNormal, "Progress", "step %d", i)
	}
	// Without a flush, only the first is written within the interval.
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for len(listEvents(t, env.Admin, "default")) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	if evs := listEvents(t, env.Admin, "default"); len(evs) != 1 || evs[0].Message != "step 0" {
		t.Fatalf("within the interval: %d events, want 1 (step 0)", len(evs))
	}
	if err := r.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	evs := listEvents(t, env.Admin, "default")
	if len(evs) != 2 {
		t.Fatalf("%d events, want 2", len(evs))
	}
	var total int32
	var latest bool
	for _, e := range evs {
		total += e.Count
		latest = latest || (e.Message == "step 49" && e.Count == 49)
	}
	if total != 50 || !latest {
		t.Fatalf("events %+v: want counts adding to 50 and the latest message counting 49", evs)
	}
}

// TestRecorderClusterScoped: events about a node land in "default".
func TestRecorderClusterScoped(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	r := startRecorder(t, env.Admin, 50*time.Millisecond)
	node, err := client.For[api.Node](env.Admin).Create(context.Background(), &api.Node{ObjectMeta: api.ObjectMeta{Name: "node-1"}})
	if err != nil {
		t.Fatal(err)
	}
	r.Event(node, api.EventTypeWarning, "NodeNotReady", "lease expired")
	flush(t, r)
	evs := listEvents(t, env.Admin, "default")
	if len(evs) != 1 || evs[0].InvolvedObject.Kind != api.KindNode || evs[0].InvolvedObject.Name != "node-1" {
		t.Fatalf("events %+v", evs)
	}
}
