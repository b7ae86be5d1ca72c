package nodeinfo_test

import (
	"fmt"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

func ownedPod(name, owner string) *nodeinfo.PodInfo {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: name,
		OwnerReferences: []api.OwnerReference{{Kind: "ReplicaSet", Name: owner, UID: owner}}}}
	return nodeinfo.NewPodInfo(p)
}

func hvNode(name, hv string, pods ...*nodeinfo.PodInfo) *nodeinfo.NodeInfo {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if hv != "" {
		n.Labels[api.LabelHypervisor] = hv
	}
	ni := nodeinfo.New(n)
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

func TestHypervisorCounts(t *testing.T) {
	a := hvNode("a", "h1", ownedPod("p1", "rs"), ownedPod("p2", "rs"), ownedPod("q1", "other"))
	b := hvNode("b", "h1", ownedPod("p3", "rs"))
	c := hvNode("c", "h2", ownedPod("p4", "rs"))
	loose := hvNode("d", "", ownedPod("p5", "rs"))
	snap := nodeinfo.NewSnapshot([]*nodeinfo.NodeInfo{a, b, c, loose})
	var _ nodeinfo.HypervisorCounter = snap
	h := snap.HypervisorCounts()
	if got := fmt.Sprint(h.Owner("rs")); got != "map[h1:3 h2:1]" {
		t.Fatalf("rs counts %s", got)
	}
	// Replacing a node's copy: remove the old, add the new.
	a2 := a.Clone()
	a2.RemovePod("default/p1")
	a2.RemovePod("default/q1")
	h.Remove(a)
	h.Add(a2)
	if got := fmt.Sprint(h.Owner("rs"), h.Owner("other")); got != "map[h1:2 h2:1] map[]" {
		t.Fatalf("after replacing a: %s", got)
	}
	// A node moving to another hypervisor.
	c2 := hvNode("c", "h3", ownedPod("p4", "rs"))
	h.Remove(c)
	h.Add(c2)
	if got := fmt.Sprint(h.Owner("rs")); got != "map[h1:2 h3:1]" {
		t.Fatalf("after moving c: %s", got)
	}
	h.Remove(a2)
	h.Remove(b)
	h.Remove(c2)
	if h.Owner("rs") != nil {
		t.Fatalf("counts left after removing every node: %v", h.Owner("rs"))
	}
}
