package e2e

import (
	"context"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// TestClouddSchedulesPods: cloudd runs the scheduler by default; a pod
// with no node is bound to the one Ready node with room, a pod that fits
// nowhere says why, and cloudd still stops cleanly on SIGTERM.
func TestClouddSchedulesPods(t *testing.T) {
	bin, dir := binaries(t), t.TempDir()
	c := startReady(t, bin, dir, addr(t))
	ctx := context.Background()
	admin := adminClient(t, dir)
	node := &api.Node{
		ObjectMeta: api.ObjectMeta{Name: "sim-1", Labels: map[string]string{api.LabelHypervisor: "hv-1"}},
		Status: api.NodeStatus{
			Allocatable: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("4"), api.ResourceMemory: api.MustParseQuantity("8Gi"), api.ResourcePods: api.MustParseQuantity("110")},
			Conditions:  []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}},
		},
	}
	if _, err := client.For[api.Node](admin).Create(ctx, node); err != nil {
		t.Fatal(err)
	}
	pods := client.For[api.Pod](admin)
	small, big := newPod("small"), newPod("big")
	big.Spec.Containers[0].Resources.Requests = api.ResourceList{api.ResourceCPU: api.MustParseQuantity("64")}
	for _, p := range []*api.Pod{small, big} {
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		s, err := pods.Get(ctx, "default", "small")
		if err != nil {
			t.Fatal(err)
		}
		b, err := pods.Get(ctx, "default", "big")
		if err != nil {
			t.Fatal(err)
		}
		var why string
		for _, cond := range b.Status.Conditions {
			if cond.Type == api.PodScheduled && cond.Status == api.ConditionFalse {
				why = cond.Message
			}
		}
		if s.Spec.NodeName == "sim-1" && why != "" {
			if b.Spec.NodeName != "" || !strings.Contains(why, "0/1 nodes are available: 1 Insufficient cpu") {
				t.Fatalf("big: node %q, condition %q", b.Spec.NodeName, why)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after 30s: small on %q, big's condition %q\n%s", s.Spec.NodeName, why, c.Log.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := c.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, c.Log.String())
	}
}
