package nodeinfo

// HypervisorCounts counts the pods of each owner per hypervisor (the
// api.LabelHypervisor value of their node) over the nodes added to it.
// Default spreading reads one owner's counts from it instead of scanning
// every node for every pod. A snapshot that is updated in place keeps one
// current: Remove the copy of a node it is about to replace (or drop),
// then Add the new copy. Nodes without the label (NodeInfo.Hypervisor "")
// are not counted. Not safe
// for concurrent use; a scheduling cycle only reads it.
type HypervisorCounts struct {
	owners map[string]map[string]int
}

// NewHypervisorCounts returns empty counts.
func NewHypervisorCounts() *HypervisorCounts {
	return &HypervisorCounts{owners: map[string]map[string]int{}}
}

// Add counts the owned pods of n.
func (h *HypervisorCounts) Add(n *NodeInfo) { h.update(n, 1) }

// Remove uncounts the owned pods of n (a copy previously added).
func (h *HypervisorCounts) Remove(n *NodeInfo) { h.update(n, -1) }

func (h *HypervisorCounts) update(n *NodeInfo, sign int) {
	if n == nil || len(n.OwnerCounts) == 0 {
		return
	}
	hv := n.Hypervisor
	if hv == "" {
		return
	}
	for owner, c := range n.OwnerCounts {
		m := h.owners[owner]
		if m == nil {
			if sign < 0 {
				continue
			}
			m = map[string]int{}
			h.owners[owner] = m
		}
		if m[hv] += sign * c; m[hv] <= 0 {
			delete(m, hv)
			if len(m) == 0 {
				delete(h.owners, owner)
			}
		}
	}
}

// Owner returns the pods of owner per hypervisor; nil if it has none. The
// caller must not change the map.
func (h *HypervisorCounts) Owner(owner string) map[string]int { return h.owners[owner] }

// HypervisorCounter is the optional extension of a Lister that keeps
// HypervisorCounts over its nodes (found by type assertion).
type HypervisorCounter interface {
	HypervisorCounts() *HypervisorCounts
}

// PodKeyIndex is the optional extension of a Lister that knows whether any
// of its nodes holds a pod of a key ("namespace/name"; found by type
// assertion), so that a filter looking for another pod of the same name
// can skip the nodes of a cycle for which none does.
type PodKeyIndex interface {
	HoldsPod(key string) bool
}
