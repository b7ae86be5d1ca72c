// Package gc is the garbage collector: it follows the ownerReferences of
// every object of every kind the API serves, deletes the dependents whose
// owners are all gone, and finishes foreground and orphan deletions by
// removing the foregroundDeletion and orphan finalizers once their work is
// done. Owners are told apart by uid: an owner deleted and re-created under
// the same name is a different owner.
package gc

import (
	"slices"
	"sort"
	"sync"

	"github.com/cloudmgr/cloud/api"
)

// Ref identifies one object.
type Ref struct {
	APIVersion, Kind, Namespace, Name, UID string
}

// Node is what the collector knows of one object: its identity, its owners
// and whether it is being deleted with which finalizers.
type Node struct {
	Ref
	Owners     []api.OwnerReference
	Deleting   bool
	Finalizers []string
}

// NodeOf extracts the collector's view of obj.
func NodeOf(obj api.Object) Node {
	tm, m := obj.GetTypeMeta(), obj.GetObjectMeta()
	return Node{
		Ref:        Ref{APIVersion: tm.APIVersion, Kind: tm.Kind, Namespace: m.Namespace, Name: m.Name, UID: m.UID},
		Owners:     slices.Clone(m.OwnerReferences),
		Deleting:   m.DeletionTimestamp != nil,
		Finalizers: slices.Clone(m.Finalizers),
	}
}

func (n *Node) has(f string) bool { return slices.Contains(n.Finalizers, f) }

// waitingForDependents is an owner in foreground deletion.
func (n *Node) waitingForDependents() bool {
	return n.Deleting && n.has(api.FinalizerDeleteDependents)
}

// Graph is the owner uid → dependents graph over every known object. It is
// safe for concurrent use.
type Graph struct {
	mu         sync.Mutex
	nodes      map[string]*Node
	dependents map[string]map[string]bool // owner uid -> dependent uids
}

// NewGraph returns an empty graph.
func NewGraph() *Graph {
	return &Graph{nodes: map[string]*Node{}, dependents: map[string]map[string]bool{}}
}

// Set records the current state of an object and returns the uids whose
// plans may have changed: the object, its old and new owners, and its
// dependents.
func (g *Graph) Set(n Node) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	affected := map[string]bool{n.UID: true}
	if old, ok := g.nodes[n.UID]; ok {
		for _, o := range old.Owners {
			g.unlink(o.UID, n.UID)
			affected[o.UID] = true
		}
	}
	nn := n
	g.nodes[n.UID] = &nn
	for _, o := range n.Owners {
		if g.dependents[o.UID] == nil {
			g.dependents[o.UID] = map[string]bool{}
		}
		g.dependents[o.UID][n.UID] = true
		affected[o.UID] = true
	}
	for d := range g.dependents[n.UID] {
		affected[d] = true
	}
	return keys(affected)
}

// Remove forgets an object and returns the uids whose plans may have
// changed: its owners and its dependents.
func (g *Graph) Remove(uid string) []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	affected := map[string]bool{}
	if old, ok := g.nodes[uid]; ok {
		for _, o := range old.Owners {
			g.unlink(o.UID, uid)
			affected[o.UID] = true
		}
		delete(g.nodes, uid)
	}
	for d := range g.dependents[uid] {
		affected[d] = true
	}
	return keys(affected)
}

func (g *Graph) unlink(owner, dependent string) {
	if ds := g.dependents[owner]; ds != nil {
		delete(ds, dependent)
		if len(ds) == 0 {
			delete(g.dependents, owner)
		}
	}
}

// Get returns the node of uid.
func (g *Graph) Get(uid string) (Node, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	n, ok := g.nodes[uid]
	if !ok {
		return Node{}, false
	}
	return *n, true
}

// Len is the number of objects known.
func (g *Graph) Len() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return len(g.nodes)
}

func keys(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// Plan is what the collector has to do about one object. The steps are
// independent; the collector carries out each that is set.
type Plan struct {
	// Delete deletes the object itself (none of its owners remains) with
	// Propagation: Foreground when an owner waits for it, else Background.
	Delete      bool
	Propagation api.DeletionPropagation
	// RemoveOwners are the uids of owner references to drop from the object:
	// owners gone or in foreground deletion while another owner remains.
	RemoveOwners []string
	// Absent are the owner references the graph does not know; Delete and
	// RemoveOwners assume them gone, which the collector confirms with a
	// live read before acting (its caches may lag).
	Absent []api.OwnerReference
	// DeleteDependents are the dependents of an owner in foreground
	// deletion not yet being deleted.
	DeleteDependents []Ref
	// OrphanDependents are the dependents of an owner being deleted with
	// the orphan policy: their references to it are to go.
	OrphanDependents []Ref
	// RemoveFinalizer is the collector's finalizer to remove from the object
	// once the steps above succeeded ("" for none).
	RemoveFinalizer string
}

// Empty reports whether there is nothing to do.
func (p Plan) Empty() bool {
	return !p.Delete && len(p.RemoveOwners) == 0 && len(p.DeleteDependents) == 0 &&
		len(p.OrphanDependents) == 0 && p.RemoveFinalizer == ""
}

// Plan works out what to do about the object uid from the graph alone.
func (g *Graph) Plan(uid string) Plan {
	g.mu.Lock()
	defer g.mu.Unlock()
	var p Plan
	n, ok := g.nodes[uid]
	if !ok {
		return p
	}
	deps := g.dependentNodes(uid)
	switch {
	case n.Deleting && n.has(api.FinalizerOrphanDependents):
		for _, d := range deps {
			p.OrphanDependents = append(p.OrphanDependents, d.Ref)
		}
		p.RemoveFinalizer = api.FinalizerOrphanDependents
	case n.waitingForDependents():
		blocked := false
		for _, d := range deps {
			if !d.Deleting {
				p.DeleteDependents = append(p.DeleteDependents, d.Ref)
			}
			if blocks(d, uid) {
				blocked = true
			}
		}
		if !blocked {
			p.RemoveFinalizer = api.FinalizerDeleteDependents
		}
	}
	if n.Deleting || len(n.Owners) == 0 {
		return p
	}
	solid, waiting := 0, 0
	var gone []string
	for _, o := range n.Owners {
		owner, ok := g.nodes[o.UID]
		switch {
		case !ok:
			p.Absent = append(p.Absent, o)
			gone = append(gone, o.UID)
		case owner.waitingForDependents():
			waiting++
			gone = append(gone, o.UID)
		default:
			solid++
		}
	}
	switch {
	case solid == 0:
		p.Delete = true
		p.Propagation = api.DeletePropagationBackground
		if waiting > 0 {
			p.Propagation = api.DeletePropagationForeground
		}
	case len(gone) > 0:
		p.RemoveOwners = gone
	}
	return p
}

// dependentNodes lists the known dependents of uid, sorted by uid.
func (g *Graph) dependentNodes(uid string) []*Node {
	var out []*Node
	for _, d := range keys(g.dependents[uid]) {
		if n, ok := g.nodes[d]; ok {
			out = append(out, n)
		}
	}
	return out
}

// blocks is true when d holds back the foreground deletion of owner.
func blocks(d *Node, owner string) bool {
	for _, o := range d.Owners {
		if o.UID == owner && o.BlockOwnerDeletion != nil && *o.BlockOwnerDeletion {
			return true
		}
	}
	return false
}
