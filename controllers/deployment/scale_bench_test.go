package deployment_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/deployment"
	"github.com/cloudmgr/cloud/controllers/replicaset"
)

// BenchmarkDeployment1000 measures, on 100 simulated nodes, the time for
// a 1,000-replica Deployment to have every pod bound, Running and Ready
// (s-to-running), and for a rolling update of it with the default 25%
// surge and unavailability to complete (s-rollout). It is the figure of
// issue 5; run it with -bench Deployment1000 -benchtime 1x.
func BenchmarkDeployment1000(b *testing.B) {
	for range b.N {
		c := controllerstest.Start(b, controllerstest.Options{Nodes: benchNodes, Hypervisors: 10})
		ctx, cancel := context.WithCancel(context.Background())
		m := controllers.NewManager(c.Admin, nil)
		if err := replicaset.Setup(m, replicaset.Options{Workers: 8}); err != nil {
			b.Fatal(err)
		}
		if err := deployment.Setup(m); err != nil {
			b.Fatal(err)
		}
		done := make(chan struct{})
		go func() { defer close(done); _ = m.Run(ctx) }()
		d := newDeployment("big", benchReplicas, "busybox:1")
		start := time.Now()
		if _, err := client.For[api.Deployment](c.Admin).Create(ctx, d); err != nil {
			b.Fatal(err)
		}
		waitUntil(b, c.Admin, complete(c.Admin, "big", "busybox:1"), 90*time.Second, "1000 replicas running")
		b.ReportMetric(time.Since(start).Seconds(), "s-to-running")
		start = time.Now()
		deps := client.For[api.Deployment](c.Admin)
		for {
			cur, err := deps.Get(ctx, "default", "big")
			if err != nil {
				b.Fatal(err)
			}
			cur.Spec.Template.Spec.Containers[0].Image = "busybox:2"
			if _, err = deps.Update(ctx, cur); err == nil {
				break
			} else if !client.IsConflict(err) {
				b.Fatal(err)
			}
		}
		waitUntil(b, c.Admin, complete(c.Admin, "big", "busybox:2"), 10*time.Minute, "rolling update of 1000 replicas")
		b.ReportMetric(time.Since(start).Seconds(), "s-rollout")
		cancel()
		<-done
	}
}

var benchNodes, benchReplicas = 100, int32(1000)

func waitUntil(b *testing.B, c *client.Client, cond func() bool, limit time.Duration, what string) {
	deadline := time.Now().Add(limit)
	for !cond() {
		if time.Now().After(deadline) {
			ctx := context.Background()
			d, _ := client.For[api.Deployment](c).Get(ctx, "default", "big")
			rss, _, _ := client.For[api.ReplicaSet](c).List(ctx, "default", client.ListOptions{})
			pods, _, _ := client.For[api.Pod](c).List(ctx, "default", client.ListOptions{})
			phases := map[string]int{}
			for _, p := range pods {
				k := string(p.Status.Phase)
				if p.Spec.NodeName == "" {
					k += "/unbound"
				}
				if p.DeletionTimestamp != nil {
					k += "/terminating"
				}
				phases[k]++
			}
			b.Logf("deployment gen %d status %+v", d.Generation, d.Status)
			for _, rs := range rss {
				b.Logf("rs %s spec %d gen %d status %+v", rs.Name, *rs.Spec.Replicas, rs.Generation, rs.Status)
			}
			b.Logf("pods %v", phases)
			b.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
