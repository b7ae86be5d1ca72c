package apiserver_test

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// wantEvent is what the next event of a watch must be; rv "" matches any.
type wantEvent struct {
	typ  client.EventType
	name string // "namespace/name" for namespaced objects
	rv   string
}

// expectEvents reads len(want) events and checks each in order.
func expectEvents(t *testing.T, w *client.Watcher, want ...wantEvent) []client.Event {
	t.Helper()
	var got []client.Event
	for i, we := range want {
		ev := nextEvent(t, w)
		got = append(got, ev)
		name := client.Key(ev.Object)
		if ev.Type != we.typ || name != we.name || (we.rv != "" && ev.Object.GetObjectMeta().ResourceVersion != we.rv) {
			t.Fatalf("event %d: got %s %s rv %s, want %s %s rv %q", i, ev.Type, name, ev.Object.GetObjectMeta().ResourceVersion, we.typ, we.name, we.rv)
		}
	}
	return got
}

// nextEvent returns the next non-error event, failing on an error event,
// the end of the stream or 10s of silence.
func nextEvent(t *testing.T, w *client.Watcher) client.Event {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if !ok {
			t.Fatal("the watch ended")
		}
		if ev.Type == client.Error {
			t.Fatalf("error event: %v", ev.Err)
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return client.Event{}
}

func watchPods(t *testing.T, c *client.Client, ns string, opts client.ListOptions) *client.Watcher {
	t.Helper()
	w, err := client.For[api.Pod](c).Watch(context.Background(), ns, opts)
	if err != nil {
		t.Fatalf("watch pods in %q: %v", ns, err)
	}
	t.Cleanup(w.Stop)
	return w
}

func setLabels(t *testing.T, c *client.Client, ns, name string, labels map[string]string) *api.Pod {
	t.Helper()
	pods := client.For[api.Pod](c)
	p, err := pods.Get(context.Background(), ns, name)
	if err != nil {
		t.Fatal(err)
	}
	p.Labels = labels
	p, err = pods.Update(context.Background(), p)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// deletePod deletes a pod and returns the revision of the deletion.
func deletePod(t *testing.T, c *client.Client, ns, name string) string {
	t.Helper()
	var out api.Pod
	if err := c.Delete(context.Background(), client.For[api.Pod](c).Kind(), ns, name, client.DeleteOptions{}, &out); err != nil {
		t.Fatal(err)
	}
	return out.ResourceVersion
}

// TestWatchFromRevision: a watch from a revision streams exactly the later
// changes once each, in order, then live changes; resuming from the last
// event's resourceVersion repeats nothing.
func TestWatchFromRevision(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	createNamespace(t, env.Admin, "other")
	var rvs []string
	for i := range 5 {
		rvs = append(rvs, createPod(t, env.Admin, "default", fmt.Sprintf("p%d", i)).ResourceVersion)
		createPod(t, env.Admin, "other", fmt.Sprintf("o%d", i)) // outside the watched namespace
	}

	w := watchPods(t, env.Admin, "default", client.ListOptions{ResourceVersion: rvs[1]})
	expectEvents(t, w,
		wantEvent{client.Added, "default/p2", rvs[2]},
		wantEvent{client.Added, "default/p3", rvs[3]},
		wantEvent{client.Added, "default/p4", rvs[4]},
	)
	mod := setLabels(t, env.Admin, "default", "p0", map[string]string{"x": "1"})
	createPod(t, env.Admin, "other", "o-live")
	del := deletePod(t, env.Admin, "default", "p3")
	last := expectEvents(t, w,
		wantEvent{client.Modified, "default/p0", mod.ResourceVersion},
		wantEvent{client.Deleted, "default/p3", del},
	)[1]
	w.Stop()

	resumed := watchPods(t, env.Admin, "default", client.ListOptions{ResourceVersion: last.Object.GetObjectMeta().ResourceVersion})
	p5 := createPod(t, env.Admin, "default", "p5")
	expectEvents(t, resumed, wantEvent{client.Added, "default/p5", p5.ResourceVersion})

	t.Run("all namespaces", func(t *testing.T) {
		all := watchPods(t, env.Admin, "", client.ListOptions{ResourceVersion: rvs[4]})
		expectEvents(t, all,
			wantEvent{client.Added, "other/o4", ""},
			wantEvent{client.Modified, "default/p0", mod.ResourceVersion},
			wantEvent{client.Added, "other/o-live", ""},
			wantEvent{client.Deleted, "default/p3", del},
			wantEvent{client.Added, "default/p5", p5.ResourceVersion},
		)
	})
}

// TestWatchWithoutResourceVersion: the current objects come first as
// ADDED, then changes.
func TestWatchWithoutResourceVersion(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	a := createPod(t, env.Admin, "default", "a")
	b := createPod(t, env.Admin, "default", "b")
	deletePod(t, env.Admin, "default", "a")
	a2 := createPod(t, env.Admin, "default", "a")

	w := watchPods(t, env.Admin, "default", client.ListOptions{})
	expectEvents(t, w,
		wantEvent{client.Added, "default/a", a2.ResourceVersion},
		wantEvent{client.Added, "default/b", b.ResourceVersion},
	)
	if a.ResourceVersion == a2.ResourceVersion {
		t.Fatal("the re-created pod has its old resourceVersion")
	}
	c := createPod(t, env.Admin, "default", "c")
	mod := setLabels(t, env.Admin, "default", "b", map[string]string{"tier": "db"})
	expectEvents(t, w,
		wantEvent{client.Added, "default/c", c.ResourceVersion},
		wantEvent{client.Modified, "default/b", mod.ResourceVersion},
	)
}

// TestWatchLabelSelector: objects entering the selection are ADDED, those
// leaving it DELETED, and changes outside it are not seen.
func TestWatchLabelSelector(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	setLabels(t, env.Admin, "default", createPod(t, env.Admin, "default", "a").Name, map[string]string{"app": "web"})
	setLabels(t, env.Admin, "default", createPod(t, env.Admin, "default", "b").Name, map[string]string{"app": "db"})

	w := watchPods(t, env.Admin, "default", client.ListOptions{LabelSelector: "app=web"})
	expectEvents(t, w, wantEvent{client.Added, "default/a", ""})

	enter := setLabels(t, env.Admin, "default", "b", map[string]string{"app": "web"})
	leave := setLabels(t, env.Admin, "default", "a", map[string]string{"app": "other"})
	setLabels(t, env.Admin, "default", "a", map[string]string{"app": "still-other"})
	createPod(t, env.Admin, "default", "unlabelled")
	mod := setLabels(t, env.Admin, "default", "b", map[string]string{"app": "web", "v": "2"})
	del := deletePod(t, env.Admin, "default", "b")
	evs := expectEvents(t, w,
		wantEvent{client.Added, "default/b", enter.ResourceVersion},
		wantEvent{client.Deleted, "default/a", leave.ResourceVersion},
		wantEvent{client.Modified, "default/b", mod.ResourceVersion},
		wantEvent{client.Deleted, "default/b", del},
	)
	if got := evs[1].Object.GetObjectMeta().Labels["app"]; got != "other" {
		t.Errorf("the DELETED event of a pod leaving the selection carries app=%q, want its new state", got)
	}

	t.Run("field selector", func(t *testing.T) {
		w := watchPods(t, env.Admin, "default", client.ListOptions{FieldSelector: "metadata.name=a"})
		expectEvents(t, w, wantEvent{client.Added, "default/a", ""})
		createPod(t, env.Admin, "default", "zz")
		mod := setLabels(t, env.Admin, "default", "a", nil)
		expectEvents(t, w, wantEvent{client.Modified, "default/a", mod.ResourceVersion})
	})
	t.Run("bad selector", func(t *testing.T) {
		_, err := client.For[api.Pod](env.Admin).Watch(context.Background(), "default", client.ListOptions{LabelSelector: "app in (web"})
		wantStatus(t, err, http.StatusBadRequest, api.StatusReasonBadRequest)
		_, err = client.For[api.Pod](env.Admin).Watch(context.Background(), "default", client.ListOptions{FieldSelector: "spec.image=nginx"})
		wantStatus(t, err, http.StatusBadRequest, api.StatusReasonBadRequest)
	})
}

// TestWatchCompactedRevision: a watch from a revision that is neither in
// the watch cache nor in etcd (compacted) is a 410 before anything is
// streamed; one from the compaction revision works.
func TestWatchCompactedRevision(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{WatchCacheSize: 2})
	ctx := context.Background()
	first := createPod(t, env.Admin, "default", "p0")
	for i := 1; i < 5; i++ {
		createPod(t, env.Admin, "default", fmt.Sprintf("p%d", i))
	}
	cur, err := env.Store.CurrentRevision(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := env.Store.Compact(ctx, cur); err != nil {
		t.Fatal(err)
	}
	// Once a later event has come through the watch cache, the cache has
	// moved past p0 too, so neither it nor etcd holds p0's revision. (The
	// compaction may also restart the cache, which ends its watches
	// cleanly; then try again.)
	var sp *api.Pod
	for try := 0; sp == nil; try++ {
		if try == 5 {
			t.Fatal("no watch saw the sentinel pod")
		}
		sentinel := watchPods(t, env.Admin, "default", client.ListOptions{ResourceVersion: strconv.FormatInt(cur, 10)})
		p := createPod(t, env.Admin, "default", fmt.Sprintf("sentinel-%d", try))
		select {
		case ev, ok := <-sentinel.Events():
			if ok && ev.Type == client.Added && ev.Object.GetObjectMeta().Name == p.Name {
				sp = p
			}
		case <-time.After(10 * time.Second):
		}
		sentinel.Stop()
		cur, _ = api.ParseResourceVersion(p.ResourceVersion)
	}

	_, err = client.For[api.Pod](env.Admin).Watch(ctx, "default", client.ListOptions{ResourceVersion: first.ResourceVersion})
	if !client.IsGone(err) {
		t.Fatalf("watch from a compacted revision: %v, want 410", err)
	}
	wantStatus(t, err, http.StatusGone, api.StatusReasonGone)

	r := rawRequest(t, env, env.AdminToken, "GET", "/api/v1/namespaces/default/pods?watch=1&resourceVersion="+first.ResourceVersion, "", nil)
	wantRawStatus(t, r, http.StatusGone, api.StatusReasonGone)

	w := watchPods(t, env.Admin, "default", client.ListOptions{ResourceVersion: strconv.FormatInt(cur, 10)})
	p := createPod(t, env.Admin, "default", "after")
	expectEvents(t, w, wantEvent{client.Added, "default/after", p.ResourceVersion})

	t.Run("bad resourceVersion", func(t *testing.T) {
		_, err := client.For[api.Pod](env.Admin).Watch(ctx, "default", client.ListOptions{ResourceVersion: "-1"})
		wantStatus(t, err, http.StatusBadRequest, api.StatusReasonBadRequest)
	})
}

// TestWatchTenantAcrossNamespaces: a tenant watching all namespaces sees
// only the objects of its own namespaces.
func TestWatchTenantAcrossNamespaces(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	a, b := env.Tenant(t, "team-a"), env.Tenant(t, "team-b")
	createPod(t, a, "team-a", "a0")
	createPod(t, b, "team-b", "b0")

	w := watchPods(t, a, "", client.ListOptions{})
	expectEvents(t, w, wantEvent{client.Added, "team-a/a0", ""})
	createPod(t, b, "team-b", "b1")
	createPod(t, env.Admin, "default", "sys")
	a1 := createPod(t, a, "team-a", "a1")
	setLabels(t, b, "team-b", "b0", map[string]string{"x": "y"})
	deletePod(t, b, "team-b", "b1")
	del := deletePod(t, a, "team-a", "a0")
	expectEvents(t, w,
		wantEvent{client.Added, "team-a/a1", a1.ResourceVersion},
		wantEvent{client.Deleted, "team-a/a0", del},
	)

	t.Run("namespaces", func(t *testing.T) {
		w, err := client.For[api.Namespace](a).Watch(context.Background(), "", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		defer w.Stop()
		expectEvents(t, w, wantEvent{client.Added, "team-a", ""})
		createNamespace(t, b, "b-extra")
		createNamespace(t, a, "a-extra")
		expectEvents(t, w, wantEvent{client.Added, "a-extra", ""})
	})
}

// TestWatchTenantNamespaceReused: when a tenant's namespace is deleted and
// another tenant creates one of the same name, the first tenant's open
// watches end instead of showing the second tenant's objects, and a new
// watch is authorized afresh.
func TestWatchTenantNamespaceReused(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	a, b := env.Tenant(t, "team-a"), env.Tenant(t, "team-b")
	createNamespace(t, a, "scratch")
	createPod(t, a, "scratch", "tmp")

	all := watchPods(t, a, "", client.ListOptions{})
	one := watchPods(t, a, "scratch", client.ListOptions{})
	for _, w := range []*client.Watcher{all, one} {
		expectEvents(t, w, wantEvent{client.Added, "scratch/tmp", ""})
	}
	if err := client.For[api.Namespace](a).Delete(context.Background(), "", "scratch", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	// A's pod went with the namespace; A is told.
	var last string
	for _, w := range []*client.Watcher{all, one} {
		last = expectEvents(t, w, wantEvent{client.Deleted, "scratch/tmp", ""})[0].Object.GetObjectMeta().ResourceVersion
	}

	eventually(t, 10*time.Second, "namespace scratch gone", func() bool {
		_, err := client.For[api.Namespace](env.Admin).Get(context.Background(), "", "scratch")
		return client.IsNotFound(err)
	})
	createNamespace(t, b, "scratch")
	createPod(t, b, "scratch", "secret")
	setLabels(t, b, "scratch", "secret", map[string]string{"x": "y"})
	expectEnd(t, all)
	expectEnd(t, one)

	mine := createPod(t, a, "team-a", "mine")
	resumed := watchPods(t, a, "", client.ListOptions{ResourceVersion: last})
	expectEvents(t, resumed, wantEvent{client.Added, "team-a/mine", mine.ResourceVersion})
	_, err := client.For[api.Pod](a).Watch(context.Background(), "scratch", client.ListOptions{ResourceVersion: last})
	wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
}

// expectEnd waits for the stream to end cleanly, with no further event.
func expectEnd(t *testing.T, w *client.Watcher) {
	t.Helper()
	select {
	case ev, ok := <-w.Events():
		if ok {
			name := ""
			if ev.Object != nil {
				name = client.Key(ev.Object)
			}
			t.Fatalf("got %s %s (err %v), want the end of the stream", ev.Type, name, ev.Err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the watch did not end within 10s")
	}
}

// TestWatchTimeout: a watch that asked for a timeout ends cleanly after
// it, with no error event.
func TestWatchTimeout(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	w := watchPods(t, env.Admin, "default", client.ListOptions{TimeoutSeconds: 1})
	p := createPod(t, env.Admin, "default", "web")
	expectEvents(t, w, wantEvent{client.Added, "default/web", p.ResourceVersion})
	expectEnd(t, w)

	r := rawRequest(t, env, env.AdminToken, "GET", "/api/v1/namespaces/default/pods?watch=true&timeoutSeconds=x", "", nil)
	wantRawStatus(t, r, http.StatusBadRequest, api.StatusReasonBadRequest)
}
