package client_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// byApp indexes pods by their "app" label.
func byApp(o api.Object) []string {
	if v, ok := o.GetObjectMeta().Labels["app"]; ok {
		return []string{v}
	}
	return nil
}

func indexed(t *testing.T, c *client.Cache, index, value string) []string {
	t.Helper()
	objs, err := c.ByIndex(index, value)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, o := range objs {
		names = append(names, o.GetObjectMeta().Name)
	}
	slices.Sort(names)
	return names
}

// TestCacheIndex: an index added before Run and one added after the first
// list both follow adds, label changes and deletes.
func TestCacheIndex(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	pods := client.For[api.Pod](env.Admin)
	if _, err := pods.Create(ctx, newPod("a")); err != nil {
		t.Fatal(err)
	}
	cache := client.NewCache(env.Admin, pods.Kind(), "", client.ListOptions{}, nil)
	cache.AddIndex("app", byApp)
	cache.AddIndex("app", func(api.Object) []string { return []string{"ignored"} })
	go func() { _ = cache.Run(ctx) }()
	if !cache.WaitForSync(ctx) {
		t.Fatal("cache never synced")
	}
	cache.AddIndex(client.IndexNamespace, client.NamespaceIndex)
	if _, err := cache.ByIndex("nope", "x"); err == nil {
		t.Fatal("an unknown index gave no error")
	}
	b, err := pods.Create(ctx, newPod("b"))
	if err != nil {
		t.Fatal(err)
	}
	b.Labels["app"] = "y"
	if _, err := pods.Update(ctx, b); err != nil {
		t.Fatal(err)
	}
	if _, err := pods.Create(ctx, newPod("c")); err != nil {
		t.Fatal(err)
	}
	if err := pods.Delete(ctx, "default", "a", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{"x": {"c"}, "y": {"b"}, "ignored": nil}
	deadline := time.Now().Add(10 * time.Second)
	for {
		ok := true
		for v, w := range want {
			if !slices.Equal(indexed(t, cache, "app", v), w) {
				ok = false
			}
		}
		if ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("index x=%v y=%v, want %v", indexed(t, cache, "app", "x"), indexed(t, cache, "app", "y"), want)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if got := indexed(t, cache, client.IndexNamespace, "default"); !slices.Equal(got, []string{"b", "c"}) {
		t.Fatalf("namespace index %v, want [b c]", got)
	}
}
