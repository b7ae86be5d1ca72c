package scheduler

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// simNode is a Ready node as its agent would register it, on a hypervisor.
func simNode(name, hypervisor, cpu, memory string) *api.Node {
	return &api.Node{
		ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{
			api.LabelHypervisor: hypervisor, api.LabelHostname: name, api.LabelZone: "zone-a"}},
		Status: api.NodeStatus{
			Capacity: api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu), api.ResourceMemory: api.MustParseQuantity(memory),
				api.ResourcePods: api.MustParseQuantity("110")},
			Allocatable: api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu), api.ResourceMemory: api.MustParseQuantity(memory),
				api.ResourcePods: api.MustParseQuantity("110")},
			Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, LastHeartbeatTime: api.Now()}},
		},
	}
}

// replica is a pod of a workload (one owner uid).
func replica(name, owner, cpu string) *api.Pod {
	yes := true
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", Labels: map[string]string{"app": owner},
			OwnerReferences: []api.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: owner, UID: "uid-" + owner, Controller: &yes}}},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox:1.36",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu), api.ResourceMemory: api.MustParseQuantity("128Mi")}}}}},
	}
}

// startScheduler runs a scheduler against the server until the test ends.
func startScheduler(t *testing.T, env *apiservertest.Env) {
	t.Helper()
	s, err := New(Config{Client: env.Scheduler, Profile: testProfile(), Workers: 8})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("scheduler: %v", err)
		}
	})
}

// waitBound waits until every named pod is bound and returns pod -> node.
func waitBound(t *testing.T, c *client.Client, names []string) map[string]string {
	t.Helper()
	pods := client.For[api.Pod](c)
	deadline := time.Now().Add(30 * time.Second)
	for {
		list, _, err := pods.List(context.Background(), "default", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, p := range list {
			if slices.Contains(names, p.Name) && p.Spec.NodeName != "" {
				got[p.Name] = p.Spec.NodeName
			}
		}
		if len(got) == len(names) {
			return got
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d pods bound after 30s: %v", len(got), len(names), got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func hypervisorOf(node string) string { return node[:3] } // "hv2-n7" -> "hv2"

func TestReplicasSpreadOverHypervisorsAndSurviveLosingOne(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	nodes := client.For[api.Node](env.Admin)
	pods := client.For[api.Pod](env.Admin)
	for hv := range 5 {
		for i := range 10 {
			if _, err := nodes.Create(ctx, simNode(fmt.Sprintf("hv%d-n%d", hv, i), fmt.Sprintf("hv%d", hv), "8", "32Gi")); err != nil {
				t.Fatal(err)
			}
		}
	}
	startScheduler(t, env)

	var names []string
	for i := range 10 {
		name := fmt.Sprintf("web-%d", i)
		names = append(names, name)
		if _, err := pods.Create(ctx, replica(name, "web", "500m")); err != nil {
			t.Fatal(err)
		}
	}
	placed := waitBound(t, env.Admin, names)
	perHV := map[string]int{}
	for _, node := range placed {
		perHV[hypervisorOf(node)]++
	}
	if len(perHV) != 5 {
		t.Fatalf("10 replicas landed on %d hypervisors (%v), want all 5", len(perHV), perHV)
	}

	// hv0 is lost: its nodes go, and with them their pods (as the node
	// lifecycle controller would delete them); the workload re-creates
	// its replicas.
	zero := int64(0)
	var lost []string
	for i := range 10 {
		if err := nodes.Delete(ctx, "", fmt.Sprintf("hv0-n%d", i), client.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	for name, node := range placed {
		if hypervisorOf(node) == "hv0" {
			if err := pods.Delete(ctx, "default", name, client.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
				t.Fatal(err)
			}
			lost = append(lost, name)
		}
	}
	if len(lost) == 0 {
		t.Fatal("no replica was on hv0")
	}
	var again []string
	for _, name := range lost {
		name += "-again"
		again = append(again, name)
		if _, err := pods.Create(ctx, replica(name, "web", "500m")); err != nil {
			t.Fatal(err)
		}
	}
	replaced := waitBound(t, env.Admin, again)
	perHV = map[string]int{}
	for name, node := range placed {
		if hypervisorOf(node) != "hv0" {
			perHV[hypervisorOf(node)]++
		} else if !slices.Contains(lost, name) {
			t.Fatalf("replica %s on hv0 was not deleted", name)
		}
	}
	for _, node := range replaced {
		perHV[hypervisorOf(node)]++
	}
	if perHV["hv0"] != 0 || len(perHV) != 4 {
		t.Fatalf("after losing hv0 the replicas are on %v, want all 10 on the other 4", perHV)
	}
	total := 0
	for _, n := range perHV {
		total += n
	}
	if total != 10 {
		t.Fatalf("%d replicas placed, want 10", total)
	}
}

func TestUnschedulablePodSaysWhyAndIsPlacedWhenANodeComes(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	nodes := client.For[api.Node](env.Admin)
	pods := client.For[api.Pod](env.Admin)
	for i := range 3 {
		if _, err := nodes.Create(ctx, simNode(fmt.Sprintf("hv%d-small", i), fmt.Sprintf("hv%d", i), "2", "4Gi")); err != nil {
			t.Fatal(err)
		}
	}
	notReady := simNode("hv3-down", "hv3", "64", "256Gi")
	notReady.Status.Conditions[0].Status = api.ConditionFalse
	if _, err := nodes.Create(ctx, notReady); err != nil {
		t.Fatal(err)
	}
	startScheduler(t, env)
	if _, err := pods.Create(ctx, replica("big", "batch", "16")); err != nil {
		t.Fatal(err)
	}

	const want = "0/4 nodes are available: 3 Insufficient cpu, 1 node(s) were not ready."
	deadline := time.Now().Add(30 * time.Second)
	var cond *api.PodCondition
	for {
		p, err := pods.Get(ctx, "default", "big")
		if err != nil {
			t.Fatal(err)
		}
		for i := range p.Status.Conditions {
			if c := p.Status.Conditions[i]; c.Type == api.PodScheduled {
				cond = &c
			}
		}
		if cond != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no PodScheduled condition after 30s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if cond.Status != api.ConditionFalse || cond.Reason != api.PodReasonUnschedulable || cond.Message != want {
		t.Fatalf("condition %+v, want False/Unschedulable %q", cond, want)
	}
	// The event is written apart from the condition (by another worker):
	// wait for it.
	var events []*api.Event
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		var err error
		events, _, err = client.For[api.Event](env.Admin).List(ctx, "default", client.ListOptions{FieldSelector: "involvedObject.name=big,reason=FailedScheduling"})
		if err != nil {
			t.Fatal(err)
		}
		if len(events) > 0 || time.Now().After(deadline) {
			break
		}
	}
	if len(events) != 1 || events[0].Message != want || events[0].Type != api.EventTypeWarning {
		t.Fatalf("events %+v, want one FailedScheduling warning", events)
	}

	if _, err := nodes.Create(ctx, simNode("hv4-large", "hv4", "32", "64Gi")); err != nil {
		t.Fatal(err)
	}
	if got := waitBound(t, env.Admin, []string{"big"}); got["big"] != "hv4-large" {
		t.Fatalf("placed on %s, want hv4-large", got["big"])
	}
}

// TestPreemptionThroughTheAPI: a pod of a high priority class that fits
// nowhere evicts the fewest lower-priority pods from a node (they get a
// deletionTimestamp; their node agent, played by the test, then removes
// them) and is bound there; the other pods stay.
func TestPreemptionThroughTheAPI(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pods := client.For[api.Pod](env.Admin)
	if _, err := client.For[api.Node](env.Admin).Create(ctx, simNode("hv0-n0", "hv0", "4", "16Gi")); err != nil {
		t.Fatal(err)
	}
	if _, err := client.For[api.PriorityClass](env.Admin).Create(ctx, &api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: "critical"}, Value: 1000}); err != nil {
		t.Fatal(err)
	}
	startScheduler(t, env)
	var low []string
	for i := range 4 {
		name := fmt.Sprintf("low-%d", i)
		low = append(low, name)
		if _, err := pods.Create(ctx, replica(name, "batch", "1")); err != nil {
			t.Fatal(err)
		}
	}
	waitBound(t, env.Admin, low)
	high := replica("urgent", "urgent", "2")
	high.Spec.PriorityClassName = "critical"
	if _, err := pods.Create(ctx, high); err != nil {
		t.Fatal(err)
	}

	// The node agent's part: pods marked for deletion stop and go.
	zero := int64(0)
	deadline := time.Now().Add(30 * time.Second)
	evicted := map[string]bool{}
	for len(evicted) < 2 {
		list, _, err := pods.List(ctx, "default", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range list {
			if p.DeletionTimestamp != nil && !evicted[p.Name] {
				evicted[p.Name] = true
				if err := pods.Delete(ctx, "default", p.Name, client.DeleteOptions{GracePeriodSeconds: &zero}); err != nil && !client.IsNotFound(err) {
					t.Fatal(err)
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d pods evicted after 30s, want 2", len(evicted))
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := waitBound(t, env.Admin, []string{"urgent"}); got["urgent"] != "hv0-n0" {
		t.Fatalf("urgent bound to %q", got["urgent"])
	}
	list, _, err := pods.List(ctx, "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var kept []string
	for _, p := range list {
		if p.Name != "urgent" {
			if evicted[p.Name] || p.DeletionTimestamp != nil {
				t.Fatalf("pod %s evicted but still there (deleting: %v)", p.Name, p.DeletionTimestamp != nil)
			}
			kept = append(kept, p.Name)
		}
	}
	if len(kept) != 2 {
		t.Fatalf("kept %v, want two of the four low-priority pods", kept)
	}
	events, _, err := client.For[api.Event](env.Admin).List(ctx, "default", client.ListOptions{FieldSelector: "reason=Preempted"})
	if err != nil {
		t.Fatal(err)
	}
	if len(events) != 2 {
		t.Fatalf("%d Preempted events, want 2", len(events))
	}
	for _, e := range events {
		if !evicted[e.InvolvedObject.Name] || !strings.Contains(e.Message, "default/urgent") {
			t.Fatalf("event %s on %s: %q", e.Reason, e.InvolvedObject.Name, e.Message)
		}
	}
}
