package gc

import (
	"reflect"
	"testing"

	"github.com/cloudmgr/cloud/api"
)

func ownerRef(uid string, block bool) api.OwnerReference {
	return api.OwnerReference{APIVersion: "v1", Kind: "Secret", Name: "o-" + uid, UID: uid, BlockOwnerDeletion: &block}
}

func node(uid string, owners ...api.OwnerReference) Node {
	return Node{Ref: Ref{APIVersion: "v1", Kind: "Pod", Namespace: "default", Name: "n-" + uid, UID: uid}, Owners: owners}
}

func deleting(n Node, finalizers ...string) Node {
	n.Deleting, n.Finalizers = true, finalizers
	return n
}

func TestPlan(t *testing.T) {
	tests := []struct {
		name  string
		nodes []Node
		uid   string
		want  Plan
	}{
		{"no owners", []Node{node("a")}, "a", Plan{}},
		{"owner present", []Node{node("o"), node("a", ownerRef("o", false))}, "a", Plan{}},
		{"owner absent: background delete", []Node{node("a", ownerRef("o", false))}, "a",
			Plan{Delete: true, Propagation: api.DeletePropagationBackground, Absent: []api.OwnerReference{ownerRef("o", false)}}},
		{"owner re-created with another uid", []Node{{Ref: Ref{Kind: "Secret", Name: "o-o", UID: "o2"}}, node("a", ownerRef("o", false))}, "a",
			Plan{Delete: true, Propagation: api.DeletePropagationBackground, Absent: []api.OwnerReference{ownerRef("o", false)}}},
		{"one of two owners absent: drop its reference", []Node{node("o1"), node("a", ownerRef("o1", false), ownerRef("o2", false))}, "a",
			Plan{RemoveOwners: []string{"o2"}, Absent: []api.OwnerReference{ownerRef("o2", false)}}},
		{"owner in foreground deletion: foreground delete", []Node{deleting(node("o"), api.FinalizerDeleteDependents), node("a", ownerRef("o", true))}, "a",
			Plan{Delete: true, Propagation: api.DeletePropagationForeground}},
		{"owner in orphan deletion is still an owner", []Node{deleting(node("o"), api.FinalizerOrphanDependents), node("a", ownerRef("o", false))}, "a", Plan{}},
		{"dependent already deleting: nothing more", []Node{deleting(node("a", ownerRef("o", false)))}, "a", Plan{}},
		{"foreground owner deletes dependents, blocked", []Node{
			deleting(node("o"), api.FinalizerDeleteDependents), node("a", ownerRef("o", true)), deleting(node("b", ownerRef("o", false))),
		}, "o", Plan{DeleteDependents: []Ref{node("a").Ref}}},
		{"foreground owner with only non-blocking dependents: finalizer goes", []Node{
			deleting(node("o"), api.FinalizerDeleteDependents), node("a", ownerRef("o", false)),
		}, "o", Plan{DeleteDependents: []Ref{node("a").Ref}, RemoveFinalizer: api.FinalizerDeleteDependents}},
		{"foreground owner blocked by a terminating dependent", []Node{
			deleting(node("o"), api.FinalizerDeleteDependents), deleting(node("a", ownerRef("o", true))),
		}, "o", Plan{}},
		{"foreground owner without dependents", []Node{deleting(node("o"), api.FinalizerDeleteDependents)}, "o",
			Plan{RemoveFinalizer: api.FinalizerDeleteDependents}},
		{"foreground finalizer without deletion: nothing", []Node{{Ref: node("o").Ref, Finalizers: []string{api.FinalizerDeleteDependents}}, node("a", ownerRef("o", true))}, "o", Plan{}},
		{"orphan owner", []Node{deleting(node("o"), api.FinalizerOrphanDependents), node("a", ownerRef("o", true)), node("b", ownerRef("o", false))}, "o",
			Plan{OrphanDependents: []Ref{node("a").Ref, node("b").Ref}, RemoveFinalizer: api.FinalizerOrphanDependents}},
		{"unknown uid", nil, "x", Plan{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGraph()
			for _, n := range tt.nodes {
				g.Set(n)
			}
			got := g.Plan(tt.uid)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("plan\n got %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestGraphAffected(t *testing.T) {
	g := NewGraph()
	if got := g.Set(node("o")); !reflect.DeepEqual(got, []string{"o"}) {
		t.Errorf("add owner: %v", got)
	}
	if got := g.Set(node("a", ownerRef("o", false))); !reflect.DeepEqual(got, []string{"a", "o"}) {
		t.Errorf("add dependent: %v", got)
	}
	// The owner changes: its dependents are looked at again.
	if got := g.Set(deleting(node("o"), api.FinalizerDeleteDependents)); !reflect.DeepEqual(got, []string{"a", "o"}) {
		t.Errorf("owner deleting: %v", got)
	}
	// The dependent moves to another owner: both owners are looked at.
	if got := g.Set(node("a", ownerRef("p", false))); !reflect.DeepEqual(got, []string{"a", "o", "p"}) {
		t.Errorf("re-owned: %v", got)
	}
	if got := g.Plan("o"); got.RemoveFinalizer != api.FinalizerDeleteDependents || len(got.DeleteDependents) != 0 {
		t.Errorf("owner without dependents left: %+v", got)
	}
	if got := g.Remove("p"); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("remove an owner never seen: %v", got)
	}
	g.Set(node("p"))
	if got := g.Remove("p"); !reflect.DeepEqual(got, []string{"a"}) {
		t.Errorf("remove owner: %v", got)
	}
	if got := g.Remove("a"); !reflect.DeepEqual(got, []string{"p"}) {
		t.Errorf("remove dependent: %v", got)
	}
	if g.Len() != 1 || len(g.dependents) != 0 {
		t.Errorf("left: %d nodes, %d dependents", g.Len(), len(g.dependents))
	}
}
