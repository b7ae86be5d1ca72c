package controllers_test

import (
	"context"
	"slices"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
)

func podNames(ps []*api.Pod) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Namespace+"/"+p.Name)
	}
	slices.Sort(out)
	return out
}

// TestPodCacheIndexes: the manager's pod cache finds pods by namespace
// and by node, following binds and deletions.
func TestPodCacheIndexes(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	m := controllers.NewManager(env.Admin, nil)
	cache := controllers.PodCache(m)
	controllers.PodCache(m) // a second user of the cache asks for the same indexes
	go func() { _ = m.Run(ctx) }()
	if !cache.WaitForSync(ctx) {
		t.Fatal("pod cache never synced")
	}
	pods := client.For[api.Pod](env.Admin)
	mk := func(ns, name, node string) {
		t.Helper()
		if _, err := pods.Create(ctx, &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name},
			Spec: api.PodSpec{NodeName: node, Containers: []api.Container{{Name: "c", Image: "busybox"}}}}); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := client.For[api.Namespace](env.Admin).Create(ctx, &api.Namespace{ObjectMeta: api.ObjectMeta{Name: "other"}}); err != nil {
		t.Fatal(err)
	}
	mk("default", "a", "node-1")
	mk("default", "b", "node-1")
	mk("other", "c", "node-2")
	mk("default", "unbound", "")
	if err := pods.Delete(ctx, "default", "b", client.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	u, err := pods.Get(ctx, "default", "unbound")
	if err != nil {
		t.Fatal(err)
	}
	u.Spec.NodeName = "node-2"
	if _, err := pods.Update(ctx, u); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"node-1": {"default/a"}, "node-2": {"default/unbound", "other/c"}}
	controllerstest.WaitFor(t, func() bool {
		for node, w := range want {
			if !slices.Equal(podNames(controllers.PodsOnNode(cache, node)), w) {
				return false
			}
		}
		return true
	}, "the node index to follow the pods")
	if got := podNames(controllers.PodsIn(cache, "default")); !slices.Equal(got, []string{"default/a", "default/unbound"}) {
		t.Fatalf("pods in default: %v", got)
	}
	// A cache without the indexes gives the same answers by scanning.
	plain := client.NewCache(env.Admin, pods.Kind(), "", client.ListOptions{}, nil)
	go func() { _ = plain.Run(ctx) }()
	if !plain.WaitForSync(ctx) {
		t.Fatal("plain cache never synced")
	}
	if got := podNames(controllers.PodsOnNode(plain, "node-2")); !slices.Equal(got, want["node-2"]) {
		t.Fatalf("scan of node-2: %v", got)
	}
}
