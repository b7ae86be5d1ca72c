package scheduler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

func testNode(name, hypervisor string, cpu, memory string) *api.Node {
	return &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelHypervisor: hypervisor, api.LabelHostname: name}},
		Status: api.NodeStatus{
			Allocatable: api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu), api.ResourceMemory: api.MustParseQuantity(memory),
				api.ResourcePods: api.MustParseQuantity("110")},
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}},
		},
	}
}

func requestPod(name, cpu, memory string) *api.Pod {
	p := pendingPod(name, 0, time.Time{})
	p.Spec.Containers[0].Resources.Requests = api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu), api.ResourceMemory: api.MustParseQuantity(memory)}
	return p
}

func boundPod(name, node, cpu string) *api.Pod {
	p := requestPod(name, cpu, "1Gi")
	p.Spec.NodeName = node
	return p
}

func snapNode(t *testing.T, s *Snapshot, name string) *nodeinfo.NodeInfo {
	t.Helper()
	n, ok := s.Get(name)
	if !ok {
		t.Fatalf("node %s is not in the snapshot", name)
	}
	return n
}

func TestCacheAssumeConfirmForget(t *testing.T) {
	c := NewCache(newFakeClock(), 0)
	c.SetNode(testNode("n1", "hv1", "4", "8Gi"))
	s := NewSnapshot()
	c.UpdateSnapshot(s)

	p := requestPod("web", "1", "1Gi")
	if err := c.AssumePod(nodeinfo.NewPodInfo(p), "n1"); err != nil {
		t.Fatal(err)
	}
	if err := c.AssumePod(nodeinfo.NewPodInfo(p), "n1"); err == nil {
		t.Fatal("a pod was assumed twice")
	}
	if err := c.AssumePod(nodeinfo.NewPodInfo(requestPod("other", "1", "1Gi")), "gone"); err == nil {
		t.Fatal("a pod was assumed onto a node the cache does not know")
	}
	c.UpdateSnapshot(s)
	n := snapNode(t, s, "n1")
	if n.ReqMilliCPU != 1000 || len(n.Pods) != 1 {
		t.Fatalf("assumed pod not counted: %d mcpu, %d pods", n.ReqMilliCPU, len(n.Pods))
	}

	// The watch shows the binding: confirmed, counted once, and the
	// snapshot copies nothing.
	bound := *p
	bound.Spec.NodeName = "n1"
	bound.ResourceVersion = "7"
	c.SetPod(&bound)
	if c.IsAssumed("default/web") {
		t.Fatal("the pod is still assumed after the watch showed its binding")
	}
	c.UpdateSnapshot(s)
	if got := snapNode(t, s, "n1"); got != n || got.ReqMilliCPU != 1000 {
		t.Fatalf("confirmation changed the node: same copy %v, %d mcpu", got == n, got.ReqMilliCPU)
	}
	// A confirmed pod is not forgotten by a late failure report.
	c.ForgetPod("default/web")
	c.UpdateSnapshot(s)
	if snapNode(t, s, "n1").ReqMilliCPU != 1000 {
		t.Fatal("ForgetPod dropped a confirmed pod")
	}

	// A failed bind forgets the assumption.
	q := requestPod("api", "2", "1Gi")
	if err := c.AssumePod(nodeinfo.NewPodInfo(q), "n1"); err != nil {
		t.Fatal(err)
	}
	c.ForgetPod("default/api")
	c.UpdateSnapshot(s)
	if n := snapNode(t, s, "n1"); n.ReqMilliCPU != 1000 || len(n.Pods) != 1 {
		t.Fatalf("after forget: %d mcpu, %d pods, want 1000 and 1", n.ReqMilliCPU, len(n.Pods))
	}
}

func TestCacheAssumedPodsExpire(t *testing.T) {
	clock := newFakeClock()
	c := NewCache(clock, 30*time.Second)
	c.SetNode(testNode("n1", "hv1", "4", "8Gi"))
	s := NewSnapshot()
	for _, name := range []string{"binding", "bound"} {
		if err := c.AssumePod(nodeinfo.NewPodInfo(requestPod(name, "1", "1Gi")), "n1"); err != nil {
			t.Fatal(err)
		}
	}
	c.FinishBinding("default/bound")
	clock.Step(29 * time.Second)
	c.UpdateSnapshot(s)
	if n := snapNode(t, s, "n1"); n.ReqMilliCPU != 2000 {
		t.Fatalf("%d mcpu before the TTL, want 2000", n.ReqMilliCPU)
	}
	clock.Step(time.Second)
	c.UpdateSnapshot(s)
	if n := snapNode(t, s, "n1"); n.ReqMilliCPU != 1000 {
		t.Fatalf("%d mcpu after the TTL, want 1000 (the pod still binding stays)", n.ReqMilliCPU)
	}
	if !c.IsAssumed("default/binding") || c.IsAssumed("default/bound") {
		t.Fatal("the wrong pod expired")
	}
}

func TestCacheTerminalAndDeletedPodsFreeRoom(t *testing.T) {
	c := NewCache(newFakeClock(), 0)
	c.SetNode(testNode("n1", "hv1", "8", "8Gi"))
	s := NewSnapshot()
	for _, name := range []string{"a", "b", "c"} {
		c.SetPod(boundPod(name, "n1", "1"))
	}
	deleting := boundPod("c", "n1", "1")
	now := api.Now()
	deleting.DeletionTimestamp = &now
	if c.SetPod(deleting) {
		t.Fatal("a pod being deleted freed its room before it was gone")
	}
	c.UpdateSnapshot(s)
	if n := snapNode(t, s, "n1"); n.ReqMilliCPU != 3000 {
		t.Fatalf("%d mcpu, want 3000", n.ReqMilliCPU)
	}
	done := boundPod("a", "n1", "1")
	done.Status.Phase = api.PodSucceeded
	if !c.SetPod(done) {
		t.Fatal("a pod that succeeded did not free its room")
	}
	if !c.RemovePod("default/b") {
		t.Fatal("a deleted pod did not free its room")
	}
	c.UpdateSnapshot(s)
	if n := snapNode(t, s, "n1"); n.ReqMilliCPU != 1000 || len(n.Pods) != 1 {
		t.Fatalf("%d mcpu and %d pods, want 1000 and 1", n.ReqMilliCPU, len(n.Pods))
	}
}

func TestCacheSnapshotIsIncremental(t *testing.T) {
	c := NewCache(newFakeClock(), 0)
	for _, n := range []string{"n1", "n2", "n3"} {
		c.SetNode(testNode(n, "hv1", "4", "8Gi"))
	}
	s := NewSnapshot()
	c.UpdateSnapshot(s)
	if len(s.List()) != 3 {
		t.Fatalf("%d nodes in the snapshot, want 3", len(s.List()))
	}
	before := map[string]*nodeinfo.NodeInfo{}
	for _, n := range s.List() {
		before[n.Name] = n
	}
	list := s.List()

	c.SetPod(boundPod("p", "n2", "1"))
	c.UpdateSnapshot(s)
	for _, name := range []string{"n1", "n3"} {
		if snapNode(t, s, name) != before[name] {
			t.Fatalf("node %s was copied though it did not change", name)
		}
	}
	n2 := snapNode(t, s, "n2")
	if n2 == before["n2"] || n2.ReqMilliCPU != 1000 {
		t.Fatal("the changed node was not copied")
	}
	if before["n2"].ReqMilliCPU != 0 {
		t.Fatal("the previous copy of the node was changed")
	}
	if &s.List()[0] != &list[0] {
		t.Fatal("the snapshot's list was rebuilt although no node came or went")
	}
	// Nothing changed: nothing is copied.
	c.UpdateSnapshot(s)
	if snapNode(t, s, "n2") != n2 {
		t.Fatal("an unchanged node was copied")
	}

	// A node goes, with a pod on it: out of the snapshot; back again with
	// its pod.
	c.RemoveNode("n2")
	c.UpdateSnapshot(s)
	if _, ok := s.Get("n2"); ok || len(s.List()) != 2 {
		t.Fatalf("removed node still in the snapshot (%d nodes)", len(s.List()))
	}
	for _, n := range s.List() {
		if got, _ := s.Get(n.Name); got != n {
			t.Fatalf("snapshot index of %s is wrong after a removal", n.Name)
		}
	}
	c.SetNode(testNode("n2", "hv1", "4", "8Gi"))
	c.UpdateSnapshot(s)
	if n := snapNode(t, s, "n2"); n.ReqMilliCPU != 1000 || len(s.List()) != 3 {
		t.Fatalf("re-added node has %d mcpu (want 1000), snapshot %d nodes", n.ReqMilliCPU, len(s.List()))
	}
}

func TestCachePodBeforeItsNode(t *testing.T) {
	c := NewCache(newFakeClock(), 0)
	s := NewSnapshot()
	c.SetPod(boundPod("early", "late-node", "1"))
	c.UpdateSnapshot(s)
	if len(s.List()) != 0 {
		t.Fatal("a node known only from a pod is in the snapshot")
	}
	c.SetNode(testNode("late-node", "hv1", "4", "8Gi"))
	c.UpdateSnapshot(s)
	if n := snapNode(t, s, "late-node"); n.ReqMilliCPU != 1000 || n.AllocMilliCPU != 4000 {
		t.Fatalf("node %d/%d mcpu, want 1000/4000", n.ReqMilliCPU, n.AllocMilliCPU)
	}
	if nodes, pods := c.Counts(); nodes != 1 || pods != 1 {
		t.Fatalf("counts %d nodes %d pods", nodes, pods)
	}
}

// TestSnapshotKeepsHypervisorCounts: the per-owner, per-hypervisor counts
// the snapshot keeps for default spreading match a recount after pods are
// assumed, bound, removed, and a node is relabelled and removed.
func TestSnapshotKeepsHypervisorCounts(t *testing.T) {
	c := NewCache(newFakeClock(), 0)
	for i, hv := range []string{"hv1", "hv1", "hv2"} {
		c.SetNode(testNode(fmt.Sprintf("n%d", i), hv, "8", "32Gi"))
	}
	owned := func(name, node string) *api.Pod {
		p := boundPod(name, node, "100m")
		p.OwnerReferences = []api.OwnerReference{{Kind: "ReplicaSet", Name: "web", UID: "rs-web"}}
		return p
	}
	s := NewSnapshot()
	check := func(step string) {
		t.Helper()
		c.UpdateSnapshot(s)
		want := map[string]int{}
		for _, n := range s.List() {
			if k := n.OwnerCounts["rs-web"]; k > 0 {
				want[n.Hypervisor] += k
			}
		}
		if got := s.HypervisorCounts().Owner("rs-web"); fmt.Sprint(got) != fmt.Sprint(want) && !(len(got) == 0 && len(want) == 0) {
			t.Fatalf("%s: counts %v, recount %v", step, got, want)
		}
	}
	c.SetPod(owned("a", "n0"))
	c.SetPod(owned("b", "n1"))
	check("bound")
	pending := owned("c", "")
	if err := c.AssumePod(nodeinfo.NewPodInfo(pending), "n2"); err != nil {
		t.Fatal(err)
	}
	check("assumed")
	c.RemovePod("default/a")
	check("removed")
	relabeled := testNode("n1", "hv3", "8", "32Gi")
	c.SetNode(relabeled)
	check("relabelled")
	c.RemoveNode("n2")
	check("node removed")
}

// TestSnapshotIndexesPodKeys: the snapshot knows which pod keys its nodes
// hold, so DuplicatePodName skips its per-node look-up when no node holds
// the pod's key, and still rejects the node holding another incarnation.
func TestSnapshotIndexesPodKeys(t *testing.T) {
	c := NewCache(newFakeClock(), 0)
	c.SetNode(testNode("n0", "hv1", "8", "32Gi"))
	c.SetNode(testNode("n1", "hv1", "8", "32Gi"))
	old := boundPod("web", "n0", "100m")
	old.UID = "uid-old"
	c.SetPod(old)
	s := NewSnapshot()
	c.UpdateSnapshot(s)
	if !s.HoldsPod("default/web") || s.HoldsPod("default/api") {
		t.Fatal("the key index is wrong")
	}
	dup := plugins.DuplicatePodName{}
	run := func(p *api.Pod) (skipped bool, onN0 *framework.Status) {
		st := framework.NewCycleState()
		st.Write(nodeinfo.SnapshotKey, s)
		if pre := dup.PreFilter(context.Background(), st, p); pre.IsSkip() {
			return true, nil
		}
		n0, _ := s.Get("n0")
		return false, dup.Filter(context.Background(), st, p, n0)
	}
	if skipped, _ := run(requestPod("api", "1", "1Gi")); !skipped {
		t.Fatal("DuplicatePodName looked at every node for a pod whose key no node holds")
	}
	again := requestPod("web", "1", "1Gi")
	again.UID = "uid-new"
	if skipped, st := run(again); skipped || st.IsSuccess() {
		t.Fatalf("another incarnation of web was let onto n0 (skipped %v, %v)", skipped, st)
	}
	c.RemovePod("default/web")
	c.UpdateSnapshot(s)
	if s.HoldsPod("default/web") {
		t.Fatal("a removed pod's key is still indexed")
	}
}
