package replicaset_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/replicaset"
)

// activeCounter follows the active pods matching a selector from a watch
// and remembers the most seen at once.
type activeCounter struct {
	mu     sync.Mutex
	active map[string]bool
	max    int
}

func watchActive(t *testing.T, ctx context.Context, c *client.Client, selector string) *activeCounter {
	w, err := client.For[api.Pod](c).Watch(ctx, "default", client.ListOptions{LabelSelector: selector})
	if err != nil {
		t.Fatal(err)
	}
	a := &activeCounter{active: map[string]bool{}}
	go func() {
		defer w.Stop()
		for ev := range w.Events() {
			if ev.Type == client.Error {
				t.Errorf("watch: %v", ev.Err)
				return
			}
			p := ev.Object.(*api.Pod)
			a.mu.Lock()
			a.active[p.Name] = ev.Type != client.Deleted && controllers.IsPodActive(p)
			n := 0
			for _, on := range a.active {
				if on {
					n++
				}
			}
			a.max = max(a.max, n)
			a.mu.Unlock()
		}
	}()
	return a
}

func (a *activeCounter) current() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	n := 0
	for _, on := range a.active {
		if on {
			n++
		}
	}
	return n
}

// reset starts a new peak from the current count.
func (a *activeCounter) reset() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.max = 0
	for _, on := range a.active {
		if on {
			a.max++
		}
	}
}

func (a *activeCounter) peak() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.max
}

func startManager(t *testing.T, c *controllerstest.Cluster) {
	controllerstest.RunManager(t, c.Admin, nil, func(m *controllers.Manager) error { return replicaset.Setup(m) })
}

func webPods(t *testing.T, c *client.Client) (active []*api.Pod) {
	ps, _, err := client.For[api.Pod](c).List(context.Background(), "default", client.ListOptions{LabelSelector: "app=web"})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range ps {
		if controllers.IsPodActive(p) {
			active = append(active, p)
		}
	}
	return active
}

func template() api.PodTemplateSpec {
	return api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
}

// TestReplicaSetLifecycle: a ReplicaSet adopts a matching orphan, creates
// the rest, releases a pod relabeled out of its selector and replaces it,
// scales up and down, replaces deleted pods, and never has more active
// matching pods than declared, as seen from a watch.
// rsEvents returns the latest message of each reason among the Events the
// replicaset-controller recorded about rs.
func rsEvents(t *testing.T, c *client.Client, rs *api.ReplicaSet) map[string]string {
	t.Helper()
	evs, _, err := client.For[api.Event](c).List(context.Background(), rs.Namespace, client.ListOptions{FieldSelector: "involvedObject.name=" + rs.Name})
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, e := range evs {
		ref := e.InvolvedObject
		if ref.Kind == api.KindReplicaSet && ref.UID == rs.UID && e.Source.Component == "replicaset-controller" && e.Type == api.EventTypeNormal {
			out[e.Reason] = e.Message
		}
	}
	return out
}

func TestReplicaSetLifecycle(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 3, Hypervisors: 3})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	counter := watchActive(t, ctx, c.Admin, "app=web")
	pods := client.For[api.Pod](c.Admin)
	tmpl := template()
	orphan := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "orphan", Namespace: "default", Labels: tmpl.Labels}, Spec: tmpl.Spec}
	if _, err := pods.Create(ctx, orphan); err != nil {
		t.Fatal(err)
	}
	startManager(t, c)
	rss := client.For[api.ReplicaSet](c.Admin)
	three := int32(3)
	rs, err := rss.Create(ctx, &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.ReplicaSetSpec{Replicas: &three, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}, Template: tmpl}})
	if err != nil {
		t.Fatal(err)
	}
	readyN := func(n int32) func() bool {
		return func() bool {
			got, err := rss.Get(ctx, "default", "web")
			return err == nil && got.Status.ReadyReplicas == n && got.Status.Replicas == n && got.Status.ObservedGeneration == got.Generation
		}
	}
	controllerstest.WaitFor(t, readyN(3), "3 ready replicas")
	active := webPods(t, c.Admin)
	if len(active) != 3 {
		t.Fatalf("%d active pods, want 3", len(active))
	}
	for _, p := range active {
		if ref := controllers.ControllerRef(p); ref == nil || ref.UID != rs.UID || ref.Kind != "ReplicaSet" {
			t.Fatalf("pod %s not controlled by the ReplicaSet: %+v", p.Name, p.OwnerReferences)
		}
	}
	if o, err := pods.Get(ctx, "default", "orphan"); err != nil || controllers.ControllerRef(o) == nil {
		t.Fatalf("orphan not adopted: %+v %v", o, err)
	}

	// Relabel a pod out of the selector: released and replaced.
	var victim *api.Pod
	for _, p := range active {
		if p.Name != "orphan" {
			victim = p
		}
	}
	victim.Labels = map[string]string{"app": "debug"}
	if _, err := pods.Update(ctx, victim); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		p, err := pods.Get(ctx, "default", victim.Name)
		return err == nil && controllers.ControllerRef(p) == nil && len(webPods(t, c.Admin)) == 3
	}, "relabeled pod released and replaced")

	scale := func(n int32) {
		t.Helper()
		for {
			cur, err := rss.Get(ctx, "default", "web")
			if err != nil {
				t.Fatal(err)
			}
			cur.Spec.Replicas = &n
			if _, err = rss.Update(ctx, cur); err == nil {
				return
			} else if !client.IsConflict(err) {
				t.Fatal(err)
			}
		}
	}
	scale(5)
	controllerstest.WaitFor(t, readyN(5), "5 ready replicas")
	scale(2)
	controllerstest.WaitFor(t, func() bool { return readyN(2)() && len(webPods(t, c.Admin)) == 2 }, "2 replicas")
	// The controller recorded its pod creations and deletions as Events
	// on the ReplicaSet, worded as in Kubernetes.
	controllerstest.WaitFor(t, func() bool {
		evs := rsEvents(t, c.Admin, rs)
		return strings.HasPrefix(evs[replicaset.ReasonSuccessfulCreate], "Created pod: web-") &&
			strings.HasPrefix(evs[replicaset.ReasonSuccessfulDelete], "Deleted pod: web-")
	}, "SuccessfulCreate and SuccessfulDelete events")

	// Delete every pod at once: the ReplicaSet makes exactly 2 again,
	// never more at any moment.
	controllerstest.WaitFor(t, func() bool { return counter.current() == 2 }, "the watch to see 2 active pods")
	counter.reset()
	for _, p := range webPods(t, c.Admin) {
		if err := pods.Delete(ctx, "default", p.Name, client.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool { return readyN(2)() && len(webPods(t, c.Admin)) == 2 }, "2 replicas after deleting all")
	time.Sleep(300 * time.Millisecond)
	if n := len(webPods(t, c.Admin)); n != 2 {
		t.Fatalf("%d active pods after settling, want 2", n)
	}
	if p := counter.peak(); p > 2 {
		t.Fatalf("up to %d active matching pods at once while 2 were declared", p)
	}
}
