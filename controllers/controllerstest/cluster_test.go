package controllerstest

import (
	"context"
	"testing"
	"time"

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
	waitFor(t, func() bool {
		got, _ = pods.Get(ctx, "default", "p")
		return got != nil && got.Status.Phase == api.PodRunning
	}, "pod p Running")
	if got.Spec.NodeName == "" || api.PodConditionByType(&got.Status, api.PodReady).Status != api.ConditionTrue {
		t.Fatalf("running pod not bound or not Ready: %+v", got.Status)
	}
	if err := pods.Delete(ctx, "default", "p", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, func() bool {
		_, err := pods.Get(ctx, "default", "p")
		return client.IsNotFound(err)
	}, "pod p gone after the simulated agent confirmed its deletion")
}

func waitFor(t *testing.T, cond func() bool, what string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
