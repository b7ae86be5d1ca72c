package e2e

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
)

// TestLeaderFailoverReplicaSet: two cloudd share one etcd cluster and a
// ReplicaSet runs on a simulated node (a Node object, no agent: its pods
// stay bound and Pending). The ReplicaSet is scaled up just before the
// leader is SIGKILLed and scaled down and up again while the survivor
// takes over; a watch on the survivor checks at every pod event that the
// ReplicaSet's active pods never exceed its declared replicas (no pod is
// created above it, and there are never more than the largest declared),
// and the count settles on each declared value.
func TestLeaderFailoverReplicaSet(t *testing.T) {
	ec, lead, other := startLeaderPair(t)
	ctx := context.Background()

	survivor := adminClient(t, other.DataDir)
	node := simNodeObject("sim-1")
	if _, err := client.For[api.Node](survivor).Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	rss := client.For[api.ReplicaSet](survivor)
	zero := int64(0)
	five := int32(5)
	rs, err := rss.Create(ctx, &api.ReplicaSet{
		ObjectMeta: api.ObjectMeta{Name: "rs", Namespace: "default"},
		Spec: api.ReplicaSetSpec{
			Replicas: &five,
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "rs"}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "rs"}},
				Spec: api.PodSpec{TerminationGracePeriodSeconds: &zero,
					Containers: []api.Container{{Name: "c", Image: "busybox:1.36"}}},
			},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	owned := func(p *api.Pod) bool {
		ref := controllers.ControllerRef(p)
		return ref != nil && ref.UID == rs.UID && controllers.IsPodActive(p)
	}
	count := func(pods map[string]*api.Pod) (n int32, names []string) {
		for _, p := range pods {
			if owned(p) {
				n++
				names = append(names, p.Name)
			}
		}
		return n, names
	}

	// The declared replicas in store order: each scale records the revision
	// its update was stored at, so a pod is judged against what was
	// declared when it was created (the watch delivers events in revision
	// order, late for pods the killed leader created just before a scale
	// down). pending is a scale whose update has not returned yet; until
	// it does, the larger of it and the last stored value is allowed.
	type declaredAt struct {
		rev int64
		n   int32
	}
	var (
		declMu   sync.Mutex
		declared = []declaredAt{{0, 5}}
		pending  int32
		most     atomic.Int32
	)
	most.Store(5)
	declaredFor := func(rev int64) int32 {
		declMu.Lock()
		defer declMu.Unlock()
		n := declared[0].n
		for _, d := range declared {
			if d.rev <= rev {
				n = d.n
			}
		}
		if last := declared[len(declared)-1]; rev > last.rev && pending > 0 {
			n = max(n, pending)
		}
		return n
	}
	var last, peak int32
	pw := controllerstest.WatchPods(t, survivor, "default", "app=rs", func(pods map[string]*api.Pod) string {
		n, names := count(pods)
		grew := n > last
		last = n
		peak = max(peak, n)
		// The pod that just made the count grow is the newest one.
		var newest int64
		for _, p := range pods {
			if owned(p) {
				if rv, err := api.ParseResourceVersion(p.ResourceVersion); err == nil && p.DeletionTimestamp == nil {
					newest = max(newest, rv)
				}
			}
		}
		switch {
		case n > most.Load():
			return fmt.Sprintf("%d active pods, more than ever declared (%d): %v", n, most.Load(), names)
		case grew && n > declaredFor(newest):
			return fmt.Sprintf("a pod was created (revision %d) above the %d replicas declared then: %d active %v", newest, declaredFor(newest), n, names)
		}
		return ""
	})
	// settled waits until the ReplicaSet has exactly want active pods and
	// its status says so.
	settled := func(want int32, within time.Duration, logOf fmt.Stringer) {
		t.Helper()
		eventually(t, within, fmt.Sprintf("%d active pods", want), func() (bool, string) {
			ps, _, err := client.For[api.Pod](survivor).List(ctx, "default", client.ListOptions{LabelSelector: "app=rs"})
			if err != nil {
				return false, err.Error()
			}
			m := map[string]*api.Pod{}
			for _, p := range ps {
				m[p.Name] = p
			}
			n, names := count(m)
			cur, err := rss.Get(ctx, "default", "rs")
			if err != nil {
				return false, err.Error()
			}
			return n == want && cur.Status.Replicas == want, fmt.Sprintf("%d active %v, status %+v\n%s", n, names, cur.Status, logOf.String())
		})
	}
	scale := func(to int32) {
		t.Helper()
		if to > most.Load() {
			most.Store(to)
		}
		declMu.Lock()
		pending = to
		declMu.Unlock()
		for {
			cur, err := rss.Get(ctx, "default", "rs")
			if err != nil {
				t.Fatal(err)
			}
			cur.Spec.Replicas = &to
			stored, err := rss.Update(ctx, cur)
			if err == nil {
				rev, err := api.ParseResourceVersion(stored.ResourceVersion)
				if err != nil {
					t.Fatal(err)
				}
				declMu.Lock()
				declared, pending = append(declared, declaredAt{rev, to}), 0
				declMu.Unlock()
				return
			} else if !client.IsConflict(err) {
				t.Fatal(err)
			}
		}
	}
	settled(5, 30*time.Second, lead.Log)

	// Scale up and kill the leader at once: it may be creating the pods.
	scale(8)
	killed := time.Now()
	if err := lead.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, done := lead.Exited(10 * time.Second); !done {
		t.Fatal("the killed leader did not exit")
	}
	// Scale down while no one leads (the TTL has not run out), then up
	// again once the survivor leads.
	scale(3)
	settled(3, 30*time.Second, other.Log)
	t.Logf("leader SIGKILLed -> survivor settled the ReplicaSet at 3: %s (TTL 3s)", time.Since(killed).Round(time.Millisecond))
	if got := waitLeader(t, ec, 5*time.Second, other); got != other {
		t.Fatal("the survivor is not the leader")
	}
	scale(6)
	settled(6, 30*time.Second, other.Log)
	scale(2)
	settled(2, 30*time.Second, other.Log)
	violation, events := pw.Result()
	if violation != "" {
		t.Fatalf("active pods exceeded the declared replicas: %s\nsurvivor log:\n%s", violation, other.Log.String())
	}
	t.Logf("the watch checked %d pod events; at most %d active pods", events, peak)
}
