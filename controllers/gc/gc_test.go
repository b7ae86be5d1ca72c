package gc_test

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/gc"
)

// env is a simulated cluster with the garbage collector running.
type env struct {
	t       *testing.T
	c       *controllerstest.Cluster
	pods    *client.Resource[api.Pod, *api.Pod]
	secrets *client.Resource[api.Secret, *api.Secret]
}

func start(t *testing.T) *env {
	t.Helper()
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2})
	controllerstest.RunManager(t, c.Admin, nil, gc.Setup)
	return &env{t: t, c: c, pods: client.For[api.Pod](c.Admin), secrets: client.For[api.Secret](c.Admin)}
}

func (e *env) owner(name string) *api.Secret {
	e.t.Helper()
	s, err := e.secrets.Create(context.Background(), &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name}})
	if err != nil {
		e.t.Fatal(err)
	}
	return s
}

func refTo(s *api.Secret, block bool) api.OwnerReference {
	return api.OwnerReference{APIVersion: "v1", Kind: "Secret", Name: s.Name, UID: s.UID, BlockOwnerDeletion: &block}
}

func (e *env) pod(name string, finalizers []string, owners ...api.OwnerReference) *api.Pod {
	e.t.Helper()
	p, err := e.pods.Create(context.Background(), &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name, OwnerReferences: owners, Finalizers: finalizers},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}},
	})
	if err != nil {
		e.t.Fatal(err)
	}
	return p
}

func (e *env) gone(what string, get func() error) {
	e.t.Helper()
	controllerstest.WaitFor(e.t, func() bool { return client.IsNotFound(get()) }, what+" gone")
}

func (e *env) podGone(name string) {
	e.t.Helper()
	e.gone("pod "+name, func() error { _, err := e.pods.Get(context.Background(), "default", name); return err })
}

func (e *env) secretGone(name string) {
	e.t.Helper()
	e.gone("secret "+name, func() error { _, err := e.secrets.Get(context.Background(), "default", name); return err })
}

// TestBackgroundDeletesDependents: deleting an owner (background) deletes
// the pods it owns, running ones through their node, and nothing else;
// a pod with a second, live owner only loses its reference.
func TestBackgroundDeletesDependents(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	parent, other := e.owner("parent"), e.owner("other")
	e.pod("child-1", nil, refTo(parent, true))
	e.pod("child-2", nil, refTo(parent, false))
	e.pod("shared", nil, refTo(parent, false), refTo(other, false))
	e.pod("unowned", nil)
	e.pod("foreign", nil, api.OwnerReference{APIVersion: "example.com/v1", Kind: "Widget", Name: "w", UID: "not-served"})
	controllerstest.WaitFor(t, func() bool {
		p, _ := e.pods.Get(ctx, "default", "child-1")
		return p != nil && p.Status.Phase == api.PodRunning
	}, "child-1 Running")

	if err := e.secrets.Delete(ctx, "default", "parent", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.podGone("child-1")
	e.podGone("child-2")
	controllerstest.WaitFor(t, func() bool {
		p, err := e.pods.Get(ctx, "default", "shared")
		return err == nil && len(p.OwnerReferences) == 1 && p.OwnerReferences[0].UID == other.UID
	}, "shared pod keeping only its live owner")
	time.Sleep(200 * time.Millisecond) // give a wrong deletion the chance to happen
	for _, n := range []string{"shared", "unowned", "foreign"} {
		if p, err := e.pods.Get(ctx, "default", n); err != nil || p.DeletionTimestamp != nil {
			t.Errorf("pod %s: %v, deletionTimestamp %v; want it kept", n, err, p.DeletionTimestamp)
		}
	}
}

// TestOwnerIdentityIsUID: an owner deleted and re-created under the same
// name is another owner: the old one's dependents go, the new one's stay.
func TestOwnerIdentityIsUID(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	old := e.owner("parent")
	if err := e.secrets.Delete(ctx, "default", "parent", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.secretGone("parent")
	renewed := e.owner("parent")
	e.pod("of-old", nil, refTo(old, false))
	e.pod("of-new", nil, refTo(renewed, false))
	e.podGone("of-old")
	if p, err := e.pods.Get(ctx, "default", "of-new"); err != nil || p.DeletionTimestamp != nil {
		t.Errorf("pod of the re-created owner: %v, deletionTimestamp %v; want it kept", err, p.DeletionTimestamp)
	}
}

// TestForegroundWaitsForBlockingDependents: a foreground deletion keeps the
// owner, marked, until the dependents that block it are gone.
func TestForegroundWaitsForBlockingDependents(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	parent := e.owner("parent")
	const hold = "example.com/hold"
	e.pod("blocker", []string{hold}, refTo(parent, true))
	e.pod("follower", nil, refTo(parent, false))

	if err := e.secrets.Delete(ctx, "default", "parent", client.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}); err != nil {
		t.Fatal(err)
	}
	e.podGone("follower")
	controllerstest.WaitFor(t, func() bool {
		p, _ := e.pods.Get(ctx, "default", "blocker")
		return p != nil && p.DeletionTimestamp != nil
	}, "blocker marked")
	s, err := e.secrets.Get(ctx, "default", "parent")
	if err != nil || s.DeletionTimestamp == nil || !slices.Contains(s.Finalizers, api.FinalizerDeleteDependents) {
		t.Fatalf("owner while a blocking dependent remains: %v, %+v", err, s)
	}
	p, err := e.pods.Get(ctx, "default", "blocker")
	if err != nil {
		t.Fatal(err)
	}
	p.Finalizers = slices.DeleteFunc(p.Finalizers, func(f string) bool { return f == hold })
	if _, err := e.pods.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	e.podGone("blocker")
	e.secretGone("parent")
}

// TestOrphanKeepsDependents: an orphan deletion removes the owner and the
// dependents' references to it, and keeps the dependents.
func TestOrphanKeepsDependents(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	parent := e.owner("parent")
	e.pod("child", nil, refTo(parent, true))
	if err := e.secrets.Delete(ctx, "default", "parent", client.DeleteOptions{PropagationPolicy: api.DeletePropagationOrphan}); err != nil {
		t.Fatal(err)
	}
	e.secretGone("parent")
	p, err := e.pods.Get(ctx, "default", "child")
	if err != nil {
		t.Fatalf("the orphaned pod: %v", err)
	}
	if p.DeletionTimestamp != nil || len(p.OwnerReferences) != 0 {
		t.Fatalf("orphaned pod: deletionTimestamp %v, owners %v", p.DeletionTimestamp, p.OwnerReferences)
	}
}

// TestClusterScopedOwner: a namespaced dependent of a cluster-scoped owner
// goes with it.
func TestClusterScopedOwner(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	pcs := client.For[api.PriorityClass](e.c.Admin)
	pc, err := pcs.Create(ctx, &api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: "owner"}, Value: 10})
	if err != nil {
		t.Fatal(err)
	}
	e.pod("child", nil, api.OwnerReference{APIVersion: pc.APIVersion, Kind: pc.Kind, Name: pc.Name, UID: pc.UID})
	if err := pcs.Delete(ctx, "", "owner", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	e.podGone("child")
}

// TestForegroundChain: a foreground deletion reaches through dependents of
// dependents (a pod owning a pod) and the owner goes last.
func TestForegroundChain(t *testing.T) {
	e := start(t)
	ctx := context.Background()
	parent := e.owner("parent")
	mid := e.pod("mid", nil, refTo(parent, true))
	block := true
	e.pod("leaf", nil, api.OwnerReference{APIVersion: "v1", Kind: "Pod", Name: mid.Name, UID: mid.UID, BlockOwnerDeletion: &block})
	controllerstest.WaitFor(t, func() bool {
		p, _ := e.pods.Get(ctx, "default", "leaf")
		return p != nil && p.Status.Phase == api.PodRunning
	}, "leaf Running")
	if err := e.secrets.Delete(ctx, "default", "parent", client.DeleteOptions{PropagationPolicy: api.DeletePropagationForeground}); err != nil {
		t.Fatal(err)
	}
	e.secretGone("parent")
	for _, n := range []string{"leaf", "mid"} {
		if _, err := e.pods.Get(ctx, "default", n); !client.IsNotFound(err) {
			t.Errorf("pod %s once the owner went: %v, want gone before it", n, err)
		}
	}
}
