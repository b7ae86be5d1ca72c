package main

import (
	"context"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// TestAutoscalerStatusAndWhy: status lists the pools with their CPU and
// the pending pods; why explains a pool's and a pod's decisions.
func TestAutoscalerStatusAndWhy(t *testing.T) {
	env, cfg := realServerConfig(t)
	ctx := context.Background()
	c := env.Admin
	one := int32(1)
	for _, p := range []*api.NodePool{
		{ObjectMeta: api.ObjectMeta{Name: "private"}, Spec: api.NodePoolSpec{Provider: "libvirt", VCPUs: 2, Memory: api.MustParseQuantity("2Gi"), MinSize: 1, MaxSize: 1, Replicas: &one}},
		{ObjectMeta: api.ObjectMeta{Name: "public"}, Spec: api.NodePoolSpec{Provider: "openstack", VCPUs: 2, Memory: api.MustParseQuantity("2Gi"), MaxSize: 5, Priority: 10}},
	} {
		if _, err := client.For[api.NodePool](c).Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	node := &api.Node{ObjectMeta: api.ObjectMeta{Name: "private-1", Labels: map[string]string{api.LabelNodePool: "private"}}}
	node, err := client.For[api.Node](c).Create(ctx, node)
	if err != nil {
		t.Fatal(err)
	}
	node.Status = api.NodeStatus{Allocatable: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("2")},
		Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}},
		Usage: &api.NodeUsage{Timestamp: api.Now(), WindowSeconds: 10, Node: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("1800m")},
			Pods: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("1700m")}}}
	if _, err := client.For[api.Node](c).UpdateStatus(ctx, node); err != nil {
		t.Fatal(err)
	}
	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web-1", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	if pod, err = client.For[api.Pod](c).Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.Conditions = []api.PodCondition{{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: api.PodReasonUnschedulable,
		Message: "0/1 nodes are available: 1 Insufficient cpu"}}
	if _, err := client.For[api.Pod](c).UpdateStatus(ctx, pod); err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for i, d := range []api.ScaleDecisionSpec{
		{Trigger: api.ScaleTrigger{Type: api.TriggerUtilization, Pool: "private", UtilizationPercent: 85, ThresholdPercent: 80, WindowSeconds: 30},
			Pools: []api.PoolConsideration{{Pool: "private", Reason: api.ReasonPoolAtMax, Message: "1 of at most 1 machines"},
				{Pool: "public", Priority: 10, Taken: true, Reason: api.ReasonTaken, Delta: 1}},
			Calls:   []api.ScaleCall{{Operation: "UpdateReplicas", Pool: "public", DurationMilliseconds: 4}},
			Outcome: api.ScaleOutcome{Type: api.OutcomeScaledUp, Pool: "public", Delta: 1}, DecidedTime: api.NewTime(now.Add(-time.Minute))},
		{Trigger: api.ScaleTrigger{Type: api.TriggerPendingPods, PendingPods: []string{"default/web-1"}, PendingCount: 1},
			Pools:   []api.PoolConsideration{{Pool: "private", Reason: api.ReasonPoolAtMax}, {Pool: "public", Priority: 10, Reason: api.ReasonQuota, Message: "quota exceeded"}},
			Outcome: api.ScaleOutcome{Type: api.OutcomeNoAction, Reason: api.ReasonQuota}, DecidedTime: api.NewTime(now)},
	} {
		obj := &api.ScaleDecision{ObjectMeta: api.ObjectMeta{Name: "sd-" + string(rune('a'+i))}, Spec: d}
		if _, err := client.For[api.ScaleDecision](c).Create(ctx, obj); err != nil {
			t.Fatal(err)
		}
	}
	cli := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, append([]string{"--config", cfg}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	out := cli("autoscaler", "status")
	t.Logf("cloudctl autoscaler status:\n%s", out)
	mustContain(t, "status", out, "POOL", "private", "85%", "public", "openstack", "Pending (unschedulable) pods: 1: default/web-1",
		"Last decisions (of 2 kept)", "scaled up public by 1", "no action: Quota")
	out = cli("autoscaler", "why", "public")
	mustContain(t, "why public", out, "Pool public: priority 10", "pool private (priority 0): skipped, AtMax: 1 of at most 1 machines",
		"pool public (priority 10): taken", "call UpdateReplicas public: ok (4 ms)", "pool public (priority 10): skipped, Quota: quota exceeded")
	out = cli("autoscaler", "why", "web-1")
	mustContain(t, "why web-1", out, "Pod default/web-1 is unschedulable: 0/1 nodes are available", "1 pending pods: no action: Quota")
	if _, errOut, code := runCLI(t, "--config", cfg, "autoscaler", "why", "nothing"); code == 0 {
		t.Fatalf("why of nothing: exit 0")
	} else {
		mustContain(t, "why nothing", errOut, `no node pool "nothing" and no pod default/nothing`)
	}
	out = cli("get", "scaledecisions", "-o", "wide")
	mustContain(t, "get scaledecisions", out, "TRIGGER", "OUTCOME", "sd-a", "Utilization", "public +1", "85% vs 80% for 30s",
		"private:AtMax,public:Taken", "sd-b", "PendingPods", "NoAction", "Quota", "1 pending")
}
