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

func startRecorder(t *testing.T, c *client.Client) *controllers.Recorder {
	t.Helper()
	r := controllers.NewRecorder(c, "test-controller", nil)
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
	r := startRecorder(t, env.Admin)
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

// TestRecorderSpamFilter: 50 distinct events about one object are 25
// Events (the spam filter's burst), each kept; another object and another
// source still get theirs.
func TestRecorderSpamFilter(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	r := startRecorder(t, env.Admin)
	pod := createTestPod(t, env.Admin, "web")
	other := createTestPod(t, env.Admin, "db")
	for i := range 50 {
		r.Eventf(pod, api.EventTypeNormal, "Progress", "step %d", i)
	}
	r.Event(other, api.EventTypeNormal, "Progress", "step 0")
	r2 := controllers.NewRecorder(env.Admin, "other-controller", nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r2.Run(ctx) }()
	defer func() { cancel(); <-done }()
	r2.Event(pod, api.EventTypeNormal, "Progress", "step 49")
	flush(t, r)
	flush(t, r2)
	steps := map[string]bool{}
	var db, fromOther int
	for _, e := range listEvents(t, env.Admin, "default") {
		switch {
		case e.Source.Component == "other-controller":
			fromOther++
		case e.InvolvedObject.Name == "db":
			db++
		default:
			if e.Count != 1 || steps[e.Message] {
				t.Fatalf("event %+v: want each step once with count 1", e)
			}
			steps[e.Message] = true
		}
	}
	if len(steps) != controllers.DefaultSpamBurst || !steps["step 0"] || !steps["step 24"] || steps["step 25"] {
		t.Fatalf("steps written %v, want 0 to 24", steps)
	}
	if db != 1 || fromOther != 1 {
		t.Fatalf("%d events about db, %d from the other source; want 1 and 1", db, fromOther)
	}
	if r.Filtered() != 25 {
		t.Fatalf("filtered %d, want 25", r.Filtered())
	}
}

// TestRecorderClusterScoped: events about a node land in "default".
func TestRecorderClusterScoped(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	r := startRecorder(t, env.Admin)
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
