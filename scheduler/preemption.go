package scheduler

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/preempt"
)

// ReasonPreempted is the reason of the event recorded on a pod evicted to
// make room for a higher-priority one.
const ReasonPreempted = "Preempted"

// nominator remembers the pods nominated to a node: they preempted pods
// there and wait for them to go. Until they are placed, the room they
// were promised is counted on that node for every pod of lower priority.
type nominator struct {
	mu     sync.Mutex
	byNode map[string]map[string]*nodeinfo.PodInfo
	nodeOf map[string]string
}

func newNominator() *nominator {
	return &nominator{byNode: map[string]map[string]*nodeinfo.PodInfo{}, nodeOf: map[string]string{}}
}

// set nominates a pod to a node, replacing an earlier nomination.
func (n *nominator) set(pi *nodeinfo.PodInfo, node string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.removeLocked(pi.Key)
	m := n.byNode[node]
	if m == nil {
		m = map[string]*nodeinfo.PodInfo{}
		n.byNode[node] = m
	}
	m[pi.Key] = pi
	n.nodeOf[pi.Key] = node
}

// remove drops a pod's nomination (placed, gone, or nominated no more).
func (n *nominator) remove(key string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.removeLocked(key)
}

func (n *nominator) removeLocked(key string) {
	node, ok := n.nodeOf[key]
	if !ok {
		return
	}
	delete(n.nodeOf, key)
	if m := n.byNode[node]; m != nil {
		delete(m, key)
		if len(m) == 0 {
			delete(n.byNode, node)
		}
	}
}

// nodeOfPod returns the node a pod is nominated to.
func (n *nominator) nodeOfPod(key string) (string, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	node, ok := n.nodeOf[key]
	return node, ok
}

// onNode returns the pods nominated to a node.
func (n *nominator) onNode(node string) []*nodeinfo.PodInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	m := n.byNode[node]
	if len(m) == 0 {
		return nil
	}
	out := make([]*nodeinfo.PodInfo, 0, len(m))
	for _, pi := range m {
		out = append(out, pi)
	}
	return out
}

// candidates returns the snapshot's nodes as pod is to see them: a node
// with pods nominated to it that pod may not take the room of is replaced
// by a copy with those pods added, in *buf (reused from cycle to cycle;
// never the snapshot's own list). With no nominations (the usual case) it
// is the snapshot's own list, not copied.
func (n *nominator) candidates(s *Snapshot, pod *api.Pod, buf *[]*nodeinfo.NodeInfo) []*nodeinfo.NodeInfo {
	n.mu.Lock()
	defer n.mu.Unlock()
	list := s.List()
	if len(n.byNode) == 0 {
		return list
	}
	out := append((*buf)[:0], list...)
	*buf = out
	for node, m := range n.byNode {
		i, ok := s.index[node]
		if !ok {
			continue
		}
		noms := make([]*nodeinfo.PodInfo, 0, len(m))
		for _, pi := range m {
			noms = append(noms, pi)
		}
		out[i] = preempt.AddNominated(out[i], pod, noms)
	}
	return out
}

// observe follows a pending pod's nomination as the watch shows it. A
// version older than the one this scheduler nominated does not undo the
// nomination.
func (n *nominator) observe(p *api.Pod) {
	if p.Status.NominatedNodeName != "" {
		n.set(nodeinfo.NewPodInfo(p), p.Status.NominatedNodeName)
		return
	}
	key := PodKey(p)
	n.mu.Lock()
	defer n.mu.Unlock()
	node, ok := n.nodeOf[key]
	if !ok {
		return
	}
	if cur := n.byNode[node][key]; cur != nil && cur.Pod.UID == p.UID && !newer(p.ResourceVersion, cur.Pod.ResourceVersion) {
		return
	}
	n.removeLocked(key)
}

// newer reports whether resourceVersion a is later than b.
func newer(a, b string) bool {
	x, err1 := api.ParseResourceVersion(a)
	y, err2 := api.ParseResourceVersion(b)
	return err1 == nil && err2 == nil && x > y
}

// preempt looks for a node where the pod fits once lower-priority pods
// are evicted. If there is one, the pod is nominated to it at once (its
// room is held) and a worker job evicts the victims and records the
// nomination; the pod itself waits, parked, for the victims to go.
func (s *Scheduler) preempt(ctx context.Context, state *framework.CycleState, pi *nodeinfo.PodInfo, fe *framework.FitError) (func(context.Context), bool) {
	if !fe.Resolvable() {
		return nil, false
	}
	res, ok, err := preempt.Preempt(ctx, s.fw, state, pi.Pod, fe, preempt.Options{Nominated: s.nominated.onNode})
	if err != nil {
		s.log.Warn("preemption failed", "pod", pi.Key, "err", err)
		return nil, false
	}
	if !ok {
		return nil, false
	}
	s.nominated.set(pi, res.Node)
	for _, lower := range res.LowerNominated {
		s.nominated.remove(lower.Key)
	}
	s.metrics.preemptions.Inc()
	s.metrics.victims.Add(float64(len(res.Victims)))
	s.log.Info("preempting", "pod", pi.Key, "node", res.Node, "victims", len(res.Victims))
	return func(jctx context.Context) { s.evict(jctx, pi.Pod, res) }, true
}

// evict deletes the victims (gracefully: their node stops them) and
// clears the nominations of lower-priority pods to the node, whose room
// the preemptor now takes.
func (s *Scheduler) evict(ctx context.Context, pod *api.Pod, res preempt.Result) {
	for _, v := range res.Victims {
		err := s.writer.Delete(ctx, s.podKind, v.Pod.Namespace, v.Pod.Name, client.DeleteOptions{}, nil)
		if err != nil && !client.IsNotFound(err) {
			if ctx.Err() == nil {
				s.log.Warn("evict victim", "pod", v.Key, "preemptor", PodKey(pod), "err", err)
			}
			continue
		}
		s.event(ctx, v.Pod, api.EventTypeNormal, ReasonPreempted,
			fmt.Sprintf("Preempted by %s on node %s", PodKey(pod), res.Node))
	}
	for _, lower := range res.LowerNominated {
		latest, ok := s.latest(lower.Key)
		if !ok || latest.UID != lower.Pod.UID || latest.Status.NominatedNodeName != res.Node || latest.Spec.NodeName != "" {
			continue
		}
		if err := s.writeStatus(ctx, latest, func(st *api.PodStatus) { st.NominatedNodeName = "" }); err != nil && ctx.Err() == nil {
			s.log.Warn("clear nomination", "pod", lower.Key, "err", err)
		}
	}
}

// writeStatus changes a pending pod's status through the status
// subresource, conditional on the version it was read at; on a conflict it
// tries again on the newest version the watch has, unless the pod got
// bound or replaced meanwhile.
func (s *Scheduler) writeStatus(ctx context.Context, pod *api.Pod, change func(*api.PodStatus)) error {
	key := PodKey(pod)
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		cp := *pod
		cp.Status.Conditions = append([]api.PodCondition(nil), pod.Status.Conditions...)
		change(&cp.Status)
		err = s.writer.UpdateStatus(ctx, &cp)
		if err == nil || client.IsNotFound(err) || !client.IsConflict(err) {
			return client.IgnoreNotFound(err)
		}
		latest, ok := s.latest(key)
		if !ok || latest.UID != pod.UID || latest.Spec.NodeName != "" || latest.ResourceVersion == pod.ResourceVersion {
			return err
		}
		pod = latest
		if attempt < 2 {
			time.Sleep(time.Duration(attempt+1) * 10 * time.Millisecond)
		}
	}
	return err
}
