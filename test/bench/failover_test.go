package bench

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/leader"
	"github.com/cloudmgr/cloud/store"
	"github.com/cloudmgr/cloud/test"
)

// BenchmarkLeaderFailover runs two cloudd on one etcd with the default
// leader lease (5s), SIGKILLs the leader, and reports the time from the
// kill until the survivor is elected (ms-to-leader), until it has bound a
// pod created right after the kill (ms-to-first-bind) and until its
// controllers have reconciled a Job created right after the kill into a
// pod (ms-to-first-reconcile), next to the lease TTL, which bounds them
// from above (plus the new term's start).
func BenchmarkLeaderFailover(b *testing.B) {
	bin, err := test.Binaries("cloudd")
	if err != nil {
		b.Fatal(err)
	}
	var toLeader, toBind, toReconcile time.Duration
	for i := 0; i < b.N; i++ {
		l, bind, rec := failoverOnce(b, bin)
		toLeader += l
		toBind += bind
		toReconcile += rec
	}
	b.ReportMetric(float64(toLeader.Milliseconds())/float64(b.N), "ms-to-leader")
	b.ReportMetric(float64(toBind.Milliseconds())/float64(b.N), "ms-to-first-bind")
	b.ReportMetric(float64(toReconcile.Milliseconds())/float64(b.N), "ms-to-first-reconcile")
	b.ReportMetric(float64(leader.DefaultTTL.Milliseconds()), "ms-lease-ttl")
}

func failoverOnce(b *testing.B, bin string) (toLeader, toBind, toReconcile time.Duration) {
	b.Helper()
	ctx := context.Background()
	var urls []url.URL
	for range 2 {
		p, err := test.FreePort()
		if err != nil {
			b.Fatal(err)
		}
		urls = append(urls, url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", p)})
	}
	e, err := store.StartEmbedded(store.EmbeddedConfig{Dir: b.TempDir(), PeerURLs: urls[:1], ClientURLs: urls[1:]})
	if err != nil {
		b.Fatal(err)
	}
	defer e.Close()
	var cs []*test.Cloudd
	for range 2 {
		p, err := test.FreePort()
		if err != nil {
			b.Fatal(err)
		}
		c, err := test.StartCloudd(bin, b.TempDir(), fmt.Sprintf("127.0.0.1:%d", p), "--etcd-endpoints", urls[1].String())
		if err != nil {
			b.Fatal(err)
		}
		defer func() { _ = c.Stop(syscall.SIGKILL) }()
		if err := c.WaitReady(ctx, time.Minute); err != nil {
			b.Fatal(err)
		}
		cs = append(cs, c)
	}
	lead := leaderOf(b, e.Client(), time.Minute, cs...)
	other := cs[0]
	if lead == cs[0] {
		other = cs[1]
	}
	admin := adminOf(b, other.DataDir)
	node := &api.Node{
		ObjectMeta: api.ObjectMeta{Name: "sim-1"},
		Status: api.NodeStatus{
			Allocatable: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("4"), api.ResourceMemory: api.MustParseQuantity("8Gi"), api.ResourcePods: api.MustParseQuantity("110")},
			Conditions:  []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}},
		},
	}
	if _, err := client.For[api.Node](admin).Create(ctx, node); err != nil {
		b.Fatal(err)
	}
	pods := client.For[api.Pod](admin)
	if _, err := pods.Create(ctx, pod("before")); err != nil {
		b.Fatal(err)
	}
	if err := waitPodBound(pods, "before", time.Minute); err != nil {
		b.Fatal(err)
	}

	killed := time.Now()
	if err := lead.Cmd.Process.Kill(); err != nil {
		b.Fatal(err)
	}
	if _, err := pods.Create(ctx, pod("after")); err != nil {
		b.Fatal(err)
	}
	job := &api.Job{ObjectMeta: api.ObjectMeta{Name: "after", Namespace: "default"}}
	job.Spec.Template.Spec.Containers = []api.Container{{Name: "c", Image: "busybox:1.36"}}
	if _, err := client.For[api.Job](admin).Create(ctx, job); err != nil {
		b.Fatal(err)
	}
	leaderOf(b, e.Client(), time.Minute, other)
	toLeader = time.Since(killed)
	var bound, reconciled time.Duration
	for deadline := time.Now().Add(time.Minute); bound == 0 || reconciled == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatalf("after a minute: pod bound %v, job reconciled %v", bound != 0, reconciled != 0)
		}
		if bound == 0 {
			p, err := pods.Get(ctx, "default", "after")
			if err != nil {
				b.Fatal(err)
			}
			if p.Spec.NodeName != "" {
				bound = time.Since(killed)
			}
		}
		if reconciled == 0 {
			ps, _, err := pods.List(ctx, "default", client.ListOptions{LabelSelector: api.LabelJobName + "=after"})
			if err != nil {
				b.Fatal(err)
			}
			if len(ps) > 0 {
				reconciled = time.Since(killed)
			}
		}
	}
	return toLeader, bound, reconciled
}

// leaderOf waits until the election names one of cs.
func leaderOf(b *testing.B, ec *clientv3.Client, within time.Duration, cs ...*test.Cloudd) *test.Cloudd {
	b.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		id, err := leader.Current(context.Background(), ec, "")
		if err != nil {
			b.Fatal(err)
		}
		for _, c := range cs {
			if id != "" && strings.Contains(id, "://"+c.Addr+"/") {
				return c
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.Fatalf("no expected leader after %s", within)
	return nil
}

func waitPodBound(pods *client.Resource[api.Pod, *api.Pod], name string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		p, err := pods.Get(context.Background(), "default", name)
		if err != nil {
			return err
		}
		if p.Spec.NodeName != "" {
			return nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("pod %s not bound after %s", name, within)
}

// adminOf reads DATA-DIR/admin.yaml as cloudctl would.
func adminOf(b *testing.B, dir string) *client.Client {
	b.Helper()
	f, err := client.LoadConfigFile(dir + "/admin.yaml")
	if err != nil {
		b.Fatal(err)
	}
	cur, err := f.Context("")
	if err != nil {
		b.Fatal(err)
	}
	cfg, err := cur.ClientConfig()
	if err != nil {
		b.Fatal(err)
	}
	c, err := client.New(cfg, api.NewScheme())
	if err != nil {
		b.Fatal(err)
	}
	return c
}
