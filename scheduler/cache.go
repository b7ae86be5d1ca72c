package scheduler

import (
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// DefaultAssumeTTL is how long a pod this scheduler bound keeps counting on
// its node while the watch has not yet shown the binding.
const DefaultAssumeTTL = 30 * time.Second

// Cache is the scheduler's view of the cluster: every node and the pods
// bound to it, fed by watches, plus the pods this scheduler has placed and
// is binding (assumed), which count on their node at once so that the next
// cycle does not place a pod into room already promised. A cycle reads
// only a Snapshot, which UpdateSnapshot refreshes by copying just the
// nodes that changed since the last cycle.
type Cache struct {
	clock Clock
	ttl   time.Duration

	mu    sync.Mutex
	nodes map[string]*nodeItem
	pods  map[string]*podState
	// dirty names the nodes changed since the last snapshot.
	dirty map[string]struct{}
	// gen numbers every change across all nodes, so that a node deleted
	// and created again never repeats a generation a snapshot holds.
	gen int64
	// expiring holds the assumed pods whose binding finished and which
	// the watch has not confirmed yet; nextExpiry is the earliest deadline.
	expiring   map[string]*podState
	nextExpiry time.Time
}

type nodeItem struct {
	info *nodeinfo.NodeInfo
	// known: a Node object exists. A node that is gone (or not yet seen)
	// keeps an item while pods still name it, but is in no snapshot.
	known bool
}

type podState struct {
	pi      *nodeinfo.PodInfo
	node    string
	assumed bool
	// deadline is set once the binding finished.
	deadline time.Time
}

// NewCache returns an empty cache; assumed pods whose binding finished are
// forgotten after ttl (0: DefaultAssumeTTL) if no watch confirms them.
func NewCache(clock Clock, ttl time.Duration) *Cache {
	if clock == nil {
		clock = RealClock{}
	}
	if ttl <= 0 {
		ttl = DefaultAssumeTTL
	}
	return &Cache{clock: clock, ttl: ttl, nodes: map[string]*nodeItem{}, pods: map[string]*podState{},
		dirty: map[string]struct{}{}, expiring: map[string]*podState{}}
}

// SetNode adds or updates a node.
func (c *Cache) SetNode(n *api.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := c.nodes[n.Name]
	if it == nil {
		it = &nodeItem{info: nodeinfo.New(n)}
		c.nodes[n.Name] = it
	} else {
		it.info.SetNode(n)
	}
	it.known = true
	c.touchLocked(n.Name, it)
}

// RemoveNode forgets a node. Pods still bound to it keep counting on it
// (in no snapshot) until they are deleted, in case it comes back.
func (c *Cache) RemoveNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	it := c.nodes[name]
	if it == nil {
		return
	}
	it.known = false
	if len(it.info.Pods) == 0 {
		delete(c.nodes, name)
	}
	c.dirty[name] = struct{}{}
}

// SetPod records a pod bound to a node (p.Spec.NodeName set), confirming
// it if this scheduler had assumed it. A terminal pod (Succeeded, Failed)
// frees its room. It returns true when room was freed.
func (c *Cache) SetPod(p *api.Pod) (freed bool) {
	key := PodKey(p)
	c.mu.Lock()
	defer c.mu.Unlock()
	if p.Status.Phase == api.PodSucceeded || p.Status.Phase == api.PodFailed {
		return c.removeLocked(key)
	}
	ps := c.pods[key]
	pi := nodeinfo.NewPodInfo(p)
	if ps != nil {
		if ps.assumed {
			ps.assumed = false
			delete(c.expiring, key)
		}
		if ps.node == p.Spec.NodeName && samePlacement(ps.pi, pi) {
			// Nothing a plugin reads changed: keep the node as it is, so
			// the next snapshot copies nothing (a confirmation, a status
			// update).
			return false
		}
		old := ps.pi
		c.removeLocked(key)
		// Room is freed when the pod left its node or asks for less; a
		// label change may satisfy a spread constraint elsewhere.
		freed = ps.node != p.Spec.NodeName || pi.MilliCPU < old.MilliCPU || pi.Memory < old.Memory ||
			len(pi.Ports) < len(old.Ports) || !maps.Equal(old.Pod.Labels, p.Labels)
	}
	it := c.itemLocked(p.Spec.NodeName)
	it.info.AddPod(pi)
	c.touchLocked(p.Spec.NodeName, it)
	c.pods[key] = &podState{pi: pi, node: p.Spec.NodeName}
	return freed
}

// samePlacement reports whether two views of a pod are the same to the
// plugins and to preemption: requests, ports, owner, priority, labels,
// being deleted, and start time (victims are chosen by it).
func samePlacement(a, b *nodeinfo.PodInfo) bool {
	return a.MilliCPU == b.MilliCPU && a.Memory == b.Memory && a.Priority == b.Priority && a.Owner == b.Owner &&
		slices.Equal(a.Ports, b.Ports) && maps.Equal(a.Pod.Labels, b.Pod.Labels) &&
		(a.Pod.DeletionTimestamp == nil) == (b.Pod.DeletionTimestamp == nil) &&
		sameTime(a.Pod.Status.StartTime, b.Pod.Status.StartTime)
}

func sameTime(a, b *api.Time) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.Equal(b.Time)
}

// RemovePod forgets a pod (deleted), bound or assumed; true if it freed room.
func (c *Cache) RemovePod(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.removeLocked(key)
}

// AssumePod counts a pod on the node this scheduler chose, before the
// binding is written. It fails if the pod is already placed or the node is
// gone.
func (c *Cache) AssumePod(pi *nodeinfo.PodInfo, node string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps := c.pods[pi.Key]; ps != nil {
		return fmt.Errorf("pod %s is already on node %s", pi.Key, ps.node)
	}
	it := c.nodes[node]
	if it == nil || !it.known {
		return fmt.Errorf("node %s is gone", node)
	}
	it.info.AddPod(pi)
	c.touchLocked(node, it)
	c.pods[pi.Key] = &podState{pi: pi, node: node, assumed: true}
	return nil
}

// FinishBinding starts the expiry of an assumed pod whose binding was
// written: if no watch event confirms it within the TTL, it is forgotten.
func (c *Cache) FinishBinding(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.pods[key]
	if ps == nil || !ps.assumed {
		return
	}
	ps.deadline = c.clock.Now().Add(c.ttl)
	if len(c.expiring) == 0 || ps.deadline.Before(c.nextExpiry) {
		c.nextExpiry = ps.deadline
	}
	c.expiring[key] = ps
}

// ForgetPod drops an assumed pod whose binding failed. A pod the watch has
// already shown bound is kept.
func (c *Cache) ForgetPod(key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ps := c.pods[key]; ps != nil && ps.assumed {
		c.removeLocked(key)
	}
}

// IsAssumed reports whether a pod is assumed and not yet confirmed.
func (c *Cache) IsAssumed(key string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.pods[key]
	return ps != nil && ps.assumed
}

// NodeOf returns the node a pod is bound or assumed on.
func (c *Cache) NodeOf(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.pods[key]
	if ps == nil {
		return "", false
	}
	return ps.node, true
}

// PlacedUID returns the uid of the pod of that key bound or assumed on a
// node.
func (c *Cache) PlacedUID(key string) (string, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ps := c.pods[key]
	if ps == nil {
		return "", false
	}
	return ps.pi.Pod.UID, true
}

// Counts returns the number of known nodes and of pods placed on them.
func (c *Cache) Counts() (nodes, pods int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, it := range c.nodes {
		if it.known {
			nodes++
		}
	}
	return nodes, len(c.pods)
}

// UpdateSnapshot brings s up to date: assumed pods past their deadline are
// forgotten, then each node changed since the last call is copied into s
// (and only those), added or removed.
func (c *Cache) UpdateSnapshot(s *Snapshot) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.expireLocked(c.clock.Now())
	for name := range c.dirty {
		it := c.nodes[name]
		if it == nil || !it.known {
			s.remove(name)
			continue
		}
		if cur, ok := s.Get(name); ok && cur.Generation == it.info.Generation {
			continue
		}
		s.set(name, it.info.Clone())
	}
	clear(c.dirty)
}

func (c *Cache) expireLocked(now time.Time) {
	if len(c.expiring) == 0 || now.Before(c.nextExpiry) {
		return
	}
	var next time.Time
	for key, ps := range c.expiring {
		if !now.Before(ps.deadline) {
			c.removeLocked(key)
			continue
		}
		if next.IsZero() || ps.deadline.Before(next) {
			next = ps.deadline
		}
	}
	c.nextExpiry = next
}

// itemLocked returns the item of a node, creating one for a node not seen
// yet (a pod may be seen bound before its node).
func (c *Cache) itemLocked(name string) *nodeItem {
	it := c.nodes[name]
	if it == nil {
		it = &nodeItem{info: nodeinfo.New(&api.Node{ObjectMeta: api.ObjectMeta{Name: name}})}
		c.nodes[name] = it
	}
	return it
}

func (c *Cache) removeLocked(key string) bool {
	ps := c.pods[key]
	if ps == nil {
		return false
	}
	delete(c.pods, key)
	delete(c.expiring, key)
	it := c.nodes[ps.node]
	if it == nil {
		return true
	}
	it.info.RemovePod(key)
	c.touchLocked(ps.node, it)
	if !it.known && len(it.info.Pods) == 0 {
		delete(c.nodes, ps.node)
	}
	return true
}

func (c *Cache) touchLocked(name string, it *nodeItem) {
	c.gen++
	it.info.Generation = c.gen
	c.dirty[name] = struct{}{}
}

// Snapshot is the nodes as one scheduling cycle sees them: copies that no
// watch changes while the cycle runs. It is kept from cycle to cycle and
// updated in place by Cache.UpdateSnapshot, so its list is stable and a
// cycle copies only what changed. It is the nodeinfo.Lister plugins read
// from the CycleState.
type Snapshot struct {
	list  []*nodeinfo.NodeInfo
	index map[string]int
	// hv counts each owner's pods per hypervisor over list, kept current
	// as copies are replaced, for default spreading.
	hv *nodeinfo.HypervisorCounts
	// keys counts the pods of each key over list (nodeinfo.PodKeyIndex).
	keys map[string]int
}

// NewSnapshot returns an empty snapshot.
func NewSnapshot() *Snapshot {
	return &Snapshot{index: map[string]int{}, hv: nodeinfo.NewHypervisorCounts(), keys: map[string]int{}}
}

// HoldsPod reports whether a node of the snapshot holds a pod of that key
// (nodeinfo.PodKeyIndex).
func (s *Snapshot) HoldsPod(key string) bool { return s.keys[key] > 0 }

func (s *Snapshot) countKeys(n *nodeinfo.NodeInfo, d int) {
	for _, pi := range n.Pods {
		if s.keys[pi.Key] += d; s.keys[pi.Key] <= 0 {
			delete(s.keys, pi.Key)
		}
	}
}

// HypervisorCounts counts the owned pods per hypervisor over the snapshot
// (nodeinfo.HypervisorCounter).
func (s *Snapshot) HypervisorCounts() *nodeinfo.HypervisorCounts { return s.hv }

// List returns every node; callers must not change it.
func (s *Snapshot) List() []*nodeinfo.NodeInfo { return s.list }

// Get returns one node.
func (s *Snapshot) Get(name string) (*nodeinfo.NodeInfo, bool) {
	i, ok := s.index[name]
	if !ok {
		return nil, false
	}
	return s.list[i], true
}

// Clone returns the snapshot itself: a cycle never changes it
// (framework.StateData).
func (s *Snapshot) Clone() framework.StateData { return s }

func (s *Snapshot) set(name string, n *nodeinfo.NodeInfo) {
	s.hv.Add(n)
	s.countKeys(n, 1)
	if i, ok := s.index[name]; ok {
		s.hv.Remove(s.list[i])
		s.countKeys(s.list[i], -1)
		s.list[i] = n
		return
	}
	s.index[name] = len(s.list)
	s.list = append(s.list, n)
}

func (s *Snapshot) remove(name string) {
	i, ok := s.index[name]
	if !ok {
		return
	}
	s.hv.Remove(s.list[i])
	s.countKeys(s.list[i], -1)
	last := len(s.list) - 1
	if i != last {
		s.list[i] = s.list[last]
		s.index[s.list[i].Name] = i
	}
	s.list[last] = nil
	s.list = s.list[:last]
	delete(s.index, name)
}

var (
	_ nodeinfo.Lister            = (*Snapshot)(nil)
	_ nodeinfo.HypervisorCounter = (*Snapshot)(nil)
	_ nodeinfo.PodKeyIndex       = (*Snapshot)(nil)
)
