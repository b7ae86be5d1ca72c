package gc

import (
	"context"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
)

// TestDeleteCarriesUID: the collector's delete of an object it saw is
// refused by the API server once another object took the name (the uid
// precondition), with no read before it that a re-create could slip past;
// the delete of the object it saw goes through.
func TestDeleteCarriesUID(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	c, err := New(controllers.NewManager(env.Admin, nil))
	if err != nil {
		t.Fatal(err)
	}
	secrets := client.For[api.Secret](env.Admin)
	create := func() *api.Secret {
		t.Helper()
		s, err := secrets.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "dep"}})
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	ref := func(s *api.Secret) Ref {
		return Ref{APIVersion: "v1", Kind: api.KindSecret, Namespace: "default", Name: "dep", UID: s.UID}
	}
	old := create()
	if err := secrets.Delete(ctx, "default", "dep", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	cur := create()
	if err := c.delete(ctx, ref(old), api.DeletePropagationBackground); err != nil {
		t.Fatalf("delete of the gone object: %v, want nil (nothing to do)", err)
	}
	if got, err := secrets.Get(ctx, "default", "dep"); err != nil || got.UID != cur.UID {
		t.Fatalf("the re-created object after the collector deleted the old one: %v %v", got, err)
	}
	if err := c.delete(ctx, ref(cur), api.DeletePropagationBackground); err != nil {
		t.Fatal(err)
	}
	if _, err := secrets.Get(ctx, "default", "dep"); !client.IsNotFound(err) {
		t.Fatalf("after the collector's delete: %v, want 404", err)
	}
	if err := c.delete(ctx, ref(cur), api.DeletePropagationBackground); err != nil {
		t.Fatalf("delete of an absent object: %v", err)
	}
}

// TestEventsUntracked: the collector does not follow Events (no cache, no
// graph node), and an object naming an Event as its owner is kept.
func TestEventsUntracked(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	m := controllers.NewManager(env.Admin, nil)
	c, err := New(m)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })

	ev := &api.Event{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "web.1"},
		InvolvedObject: api.ObjectReference{Kind: api.KindPod, Name: "web"}, Reason: "Test", Message: "m", Type: api.EventTypeNormal}
	if err := env.Admin.Create(ctx, ev); err != nil {
		t.Fatal(err)
	}
	yes := true
	s, err := client.For[api.Secret](env.Admin).Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "by-event",
		OwnerReferences: []api.OwnerReference{{APIVersion: "v1", Kind: api.KindEvent, Name: ev.Name, UID: ev.UID, Controller: &yes}}}})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.Graph.Get(s.UID); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the secret never reached the graph")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, ok := c.Graph.Get(ev.UID); ok {
		t.Fatal("the Event is in the graph")
	}
	if res, err := c.Reconcile(ctx, s.UID); err != nil || res.RequeueAfter != 0 {
		t.Fatalf("reconcile of the secret owned by an Event: %+v %v, want done", res, err)
	}
	if got, err := client.For[api.Secret](env.Admin).Get(ctx, "default", "by-event"); err != nil || got.DeletionTimestamp != nil {
		t.Fatalf("the secret owned by an Event: %v %v, want kept", got, err)
	}
}

// TestBlockedLiveReadsTheAPI: a blocking dependent the graph has never seen
// (no manager runs here, so the graph is empty) still holds its owner's
// foreground deletion, and is itself deleted; a non-blocking one does not
// hold it.
func TestBlockedLiveReadsTheAPI(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	c, err := New(controllers.NewManager(env.Admin, nil))
	if err != nil {
		t.Fatal(err)
	}
	secrets := client.For[api.Secret](env.Admin)
	owner, err := secrets.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "owner"}})
	if err != nil {
		t.Fatal(err)
	}
	node := Node{Ref: Ref{APIVersion: "v1", Kind: api.KindSecret, Namespace: "default", Name: "owner", UID: owner.UID}}
	dependent := func(name string, block bool) {
		t.Helper()
		ref := api.OwnerReference{APIVersion: "v1", Kind: api.KindSecret, Name: "owner", UID: owner.UID, BlockOwnerDeletion: &block}
		if _, err := secrets.Create(ctx, &api.Secret{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: name,
			Finalizers: []string{"example.com/hold"}, OwnerReferences: []api.OwnerReference{ref}}}); err != nil {
			t.Fatal(err)
		}
	}
	dependent("follower", false)
	if blocked, err := c.blockedLive(ctx, node); err != nil || blocked {
		t.Fatalf("with only a non-blocking dependent: blocked %v, %v; want false", blocked, err)
	}
	dependent("blocker", true)
	if blocked, err := c.blockedLive(ctx, node); err != nil || !blocked {
		t.Fatalf("with a blocking dependent the graph has not seen: blocked %v, %v; want true", blocked, err)
	}
	got, err := secrets.Get(ctx, "default", "blocker")
	if err != nil || got.DeletionTimestamp == nil {
		t.Fatalf("the blocking dependent after blockedLive: %v %v; want it being deleted", got, err)
	}
}
