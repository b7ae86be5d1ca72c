package autoscaler_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/providers/openstack"
)

// TestNoValidHostGoesToTheNextPool: Nova cannot be asked ahead whether a
// host has room, so an OpenStack pool (first by priority here) learns it
// from the create: the server goes ERROR with "No valid host was found"
// (the OpenStack TEST DOUBLE injects it), the provider deletes it and says
// ErrInsufficientCapacity, the machine fails, which wakes the autoscaler:
// the OpenStack pool gives the request up and is backed off, and the next
// pool grows for the same pending pod, which runs there.
func TestNoValidHostGoesToTheNextPool(t *testing.T) {
	ostk := &openStackCloud{}
	c := startWith(t, options{public: ostk.newOpenStack, backoffInitial: time.Minute})
	c.runScheduler(t)
	ctx := context.Background()
	c.createPool(t, "openstack", openstack.ProviderName, 0, 0, 3)
	c.createPool(t, "sim", "private-sim", 10, 0, 3)
	defer c.logDecisions(t)
	ostk.double.InjectNoValidHost(1)
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox",
			Resources: api.ResourceRequirements{Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("1500m")}}}}}}
	created := time.Now()
	if _, err := client.For[api.Pod](c.env.Admin).Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	_ = c.await(t, "the OpenStack pool tried first", func(d *api.ScaleDecision) bool {
		return d.Spec.Outcome.Type == api.OutcomeScaledUp && d.Spec.Outcome.Pool == "openstack"
	})
	controllerstest.WaitFor(t, func() bool {
		got, err := client.For[api.Pod](c.env.Admin).Get(ctx, "default", "web")
		return err == nil && got.Status.Phase == api.PodRunning
	}, "the pod running")
	took := time.Since(created)
	got, err := client.For[api.Pod](c.env.Admin).Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	node, err := client.For[api.Node](c.env.Admin).Get(ctx, "", got.Spec.NodeName)
	if err != nil || node.Labels[api.LabelNodePool] != "sim" {
		t.Fatalf("the pod runs on %q (%v), want a node of the sim pool", got.Spec.NodeName, err)
	}
	next := c.await(t, "the sim pool taken after the failure", func(d *api.ScaleDecision) bool {
		return d.Spec.Outcome.Type == api.OutcomeScaledUp && d.Spec.Outcome.Pool == "sim"
	})
	if len(next.Spec.Pools) != 2 || next.Spec.Pools[0].Pool != "openstack" || next.Spec.Pools[0].Reason != api.ReasonInsufficientCapacity ||
		!strings.Contains(next.Spec.Pools[0].Message, "No valid host") || !next.Spec.Pools[1].Taken ||
		!slices.ContainsFunc(next.Spec.Calls, func(call api.ScaleCall) bool { return call.Operation == "UpdateReplicas" && call.Pool == "openstack" }) {
		t.Fatalf("the decision after the failure: %+v, want the OpenStack pool refused for no capacity (its request given up), then the sim pool taken", next.Spec)
	}
	if ss := ostk.double.Servers(); len(ss) != 0 {
		t.Fatalf("servers left in the double: %+v", ss)
	}
	if r := c.replicas(t, "openstack"); r != 0 {
		t.Fatalf("the OpenStack pool at %d replicas after giving the request up, want 0", r)
	}
	t.Logf("pod created -> the OpenStack pool tried, its server ERROR (no valid host) and deleted, the sim pool grown, the pod Running on %s: %s",
		got.Spec.NodeName, took.Round(time.Millisecond))
}
