package controllerstest

import (
	"context"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

func TestSimulatedClusterRunsAndDeletesPods(t *testing.T) {
	c := Start(t, Options{Nodes: 3, Hypervisors: 3})
	ctx := context.Background()
	pods := client.For[api.Pod](c.Admin)
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: "p", Namespace: "default"},
		Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}
	if _, err := pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	var got *api.Pod
	WaitFor(t, func() bool {
		got, _ = pods.Get(ctx, "default", "p")
		return got != nil && got.Status.Phase == api.PodRunning
	}, "pod p Running")
	if got.Spec.NodeName == "" || api.PodConditionByType(&got.Status, api.PodReady).Status != api.ConditionTrue {
		t.Fatalf("running pod not bound or not Ready: %+v", got.Status)
	}
	if err := pods.Delete(ctx, "default", "p", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, func() bool {
		_, err := pods.Get(ctx, "default", "p")
		return client.IsNotFound(err)
	}, "pod p gone after the simulated agent confirmed its deletion")
}
