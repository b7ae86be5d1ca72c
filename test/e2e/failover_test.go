package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/leader"
	"github.com/cloudmgr/cloud/test"
)

// TestLeaderFailover: two cloudd share one etcd cluster; exactly one leads
// (runs the scheduler and the controllers). SIGKILL the leader: the other
// takes over within seconds and schedules a pod created after the kill.
func TestLeaderFailover(t *testing.T) {
	ec, lead, other := startLeaderPair(t)
	ctx := context.Background()

	admin := adminClient(t, lead.DataDir)
	node := simNodeObject("sim-1")
	if _, err := client.For[api.Node](admin).Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	if _, err := client.For[api.Pod](admin).Create(ctx, newPod("before")); err != nil {
		t.Fatal(err)
	}
	waitBound(t, adminClient(t, other.DataDir), "before", 30*time.Second, lead)
	if strings.Contains(other.Log.String(), "became leader") {
		t.Fatalf("the follower became leader while the leader lived:\n%s", other.Log.String())
	}

	killed := time.Now()
	if err := lead.Cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	if _, done := lead.Exited(10 * time.Second); !done {
		t.Fatal("the killed leader did not exit")
	}
	survivor := adminClient(t, other.DataDir)
	if _, err := client.For[api.Pod](survivor).Create(ctx, newPod("after")); err != nil {
		t.Fatal(err)
	}
	waitBound(t, survivor, "after", 30*time.Second, other)
	t.Logf("leader SIGKILLed -> pod scheduled by the new leader: %s (TTL 3s)", time.Since(killed).Round(time.Millisecond))
	if got := waitLeader(t, ec, 5*time.Second, other); got != other {
		t.Fatal("the survivor is not the leader")
	}
}

// startLeaderPair starts a 3-member etcd cluster and two cloudd on it with
// a 3 s leader lease, and returns an etcd client and the two cloudd, the
// leader first.
func startLeaderPair(t *testing.T) (ec *clientv3.Client, lead, other *test.Cloudd) {
	t.Helper()
	endpoints := startEtcdCluster(t)
	bin := binaries(t)
	flags := []string{"--etcd-endpoints", strings.Join(endpoints, ","), "--leader-elect-ttl", "3s", "--log-level", "info"}
	a := startReady(t, bin, t.TempDir(), addr(t), flags...)
	b := startReady(t, bin, t.TempDir(), addr(t), flags...)
	ec, err := clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ec.Close() })
	lead = waitLeader(t, ec, 30*time.Second, a, b)
	other = a
	if lead == a {
		other = b
	}
	return ec, lead, other
}

// simNodeObject is a Ready node with 4 cpu and 8Gi that no agent runs:
// pods bound to it stay Pending.
func simNodeObject(name string) *api.Node {
	return &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name},
		Status: api.NodeStatus{
			Allocatable: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("4"), api.ResourceMemory: api.MustParseQuantity("8Gi"), api.ResourcePods: api.MustParseQuantity("110")},
			Conditions:  []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}},
		},
	}
}

// waitLeader waits until the election names one of cs and returns it.
func waitLeader(t *testing.T, ec *clientv3.Client, within time.Duration, cs ...*test.Cloudd) *test.Cloudd {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		id, err := leader.Current(context.Background(), ec, "")
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cs {
			if id != "" && strings.Contains(id, "://"+c.Addr+"/") {
				return c
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no leader among the expected after %s (current %q)", within, id)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitBound waits until the pod is bound to a node.
func waitBound(t *testing.T, c *client.Client, name string, within time.Duration, logOf *test.Cloudd) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		p, err := client.For[api.Pod](c).Get(context.Background(), "default", name)
		if err != nil {
			t.Fatal(err)
		}
		if p.Spec.NodeName != "" {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s not bound after %s\n%s", name, within, logOf.Log.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
