// Package nodelifecycle watches node leases: a node whose agent stopped
// renewing its lease for a grace period becomes Ready=Unknown and gets the
// unreachable NoExecute taint (a node reporting Ready=False gets the
// not-ready one); pods on a node with a NoExecute taint they do not
// tolerate are deleted once the eviction timeout (or their
// tolerationSeconds) has passed, so that their owners replace them
// elsewhere. A node whose lease is renewed again loses the taint; its agent
// restores Ready.
package nodelifecycle

import (
	"time"

	"github.com/cloudmgr/cloud/api"
)

// Taint keys the controller manages.
const (
	// TaintUnreachable marks a node whose agent stopped renewing its lease.
	TaintUnreachable = "node.kubernetes.io/unreachable"
	// TaintNotReady marks a node whose agent reports Ready=False.
	TaintNotReady = "node.kubernetes.io/not-ready"
)

// Reasons of the conditions and events the controller writes.
const (
	ReasonNodeStatusUnknown = "NodeStatusUnknown"
	MessageStatusUnknown    = "node agent stopped renewing its lease"
	ReasonEviction          = "TaintManagerEviction"
)

// Defaults of Options.
const (
	DefaultGracePeriod     = 40 * time.Second
	DefaultEvictionTimeout = 5 * time.Minute
)

// Clock tells the time; tests inject a fake one.
type Clock interface {
	Now() time.Time
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

// RealClock is the wall clock.
var RealClock Clock = realClock{}

// Options tune the controller; zero values take the defaults.
type Options struct {
	// GracePeriod is how long a lease may go unrenewed before the node is
	// considered unreachable.
	GracePeriod time.Duration
	// EvictionTimeout is how long pods that do not tolerate the unreachable
	// or not-ready taint stay on the node before being deleted.
	EvictionTimeout time.Duration
	// Clock is the time source (default RealClock).
	Clock Clock
}

func (o Options) withDefaults() Options {
	if o.GracePeriod <= 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.EvictionTimeout <= 0 {
		o.EvictionTimeout = DefaultEvictionTimeout
	}
	if o.Clock == nil {
		o.Clock = RealClock
	}
	return o
}

// Plan is what the controller does to one node and its pods.
type Plan struct {
	// Conditions, when not nil, is the node's new status conditions.
	Conditions []api.NodeCondition
	// Taints, when not nil, is the node's new taint list (possibly empty:
	// see TaintsChanged).
	Taints        []api.Taint
	TaintsChanged bool
	// Evict are the pods to delete now.
	Evict []*api.Pod
	// RequeueAfter is when to look again (the lease running out, the next
	// eviction); 0 for no deadline.
	RequeueAfter time.Duration
}

// lastSeen is the newest sign of life of the node: its lease's renewal, its
// Ready heartbeat, or its creation.
func lastSeen(n *api.Node, l *api.Lease) time.Time {
	t := n.CreationTimestamp.Time
	if l != nil {
		if l.Spec.RenewTime != nil && l.Spec.RenewTime.After(t) {
			t = l.Spec.RenewTime.Time
		} else if l.CreationTimestamp.After(t) {
			t = l.CreationTimestamp.Time
		}
	}
	if c := readyCondition(n); c != nil && c.LastHeartbeatTime.After(t) {
		t = c.LastHeartbeatTime.Time
	}
	return t
}

func readyCondition(n *api.Node) *api.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == api.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// plan decides for node n (its lease l may be nil) and the pods bound to it.
func plan(n *api.Node, l *api.Lease, pods []*api.Pod, now time.Time, o Options) Plan {
	var p Plan
	expires := lastSeen(n, l).Add(o.GracePeriod)
	stale := !now.Before(expires)
	ready := api.ConditionUnknown
	if c := readyCondition(n); c != nil {
		ready = c.Status
	}
	if stale {
		p.Conditions = unknownConditions(n, now)
		ready = api.ConditionUnknown
	} else {
		p.RequeueAfter = expires.Sub(now)
	}

	// The taint matching the node's state, if any.
	want := ""
	switch {
	case stale:
		want = TaintUnreachable
	case ready == api.ConditionFalse:
		want = TaintNotReady
	}
	taints := make([]api.Taint, 0, len(n.Spec.Taints)+1)
	have := false
	for _, t := range n.Spec.Taints {
		if (t.Key == TaintUnreachable || t.Key == TaintNotReady) && t.Effect == api.TaintEffectNoExecute {
			if t.Key != want {
				p.TaintsChanged = true
				continue
			}
			have = true
		}
		taints = append(taints, t)
	}
	if want != "" && !have {
		at := api.NewTime(now)
		taints = append(taints, api.Taint{Key: want, Effect: api.TaintEffectNoExecute, TimeAdded: &at})
		p.TaintsChanged = true
	}
	if p.TaintsChanged {
		p.Taints = taints
	}

	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == api.PodSucceeded || pod.Status.Phase == api.PodFailed {
			continue
		}
		at, ok := evictionTime(pod, taints, now, o.EvictionTimeout)
		if !ok {
			continue
		}
		if !now.Before(at) {
			p.Evict = append(p.Evict, pod)
		} else if d := at.Sub(now); p.RequeueAfter == 0 || d < p.RequeueAfter {
			p.RequeueAfter = d
		}
	}
	return p
}

// unknownConditions is the node's conditions turned Unknown, or nil when
// they already are.
func unknownConditions(n *api.Node, now time.Time) []api.NodeCondition {
	conds := append([]api.NodeCondition(nil), n.Status.Conditions...)
	if readyCondition(n) == nil {
		conds = append(conds, api.NodeCondition{Type: api.NodeReady})
	}
	changed := false
	for i := range conds {
		c := &conds[i]
		if c.Status == api.ConditionUnknown && c.Reason == ReasonNodeStatusUnknown {
			continue
		}
		changed = true
		c.Status, c.Reason, c.Message = api.ConditionUnknown, ReasonNodeStatusUnknown, MessageStatusUnknown
		c.LastTransitionTime = api.NewTime(now)
	}
	if !changed {
		return nil
	}
	return conds
}

// evictionTime is when pod must leave a node with these taints: for each
// NoExecute taint it does not tolerate, the taint's time plus the eviction
// timeout (for the lifecycle taints) or nothing (for others); for one it
// tolerates with tolerationSeconds, the taint's time plus the smallest of
// them; the earliest over the taints. ok is false if the pod may stay.
func evictionTime(pod *api.Pod, taints []api.Taint, now time.Time, timeout time.Duration) (at time.Time, ok bool) {
	for i := range taints {
		t := &taints[i]
		if t.Effect != api.TaintEffectNoExecute {
			continue
		}
		added := now
		if t.TimeAdded != nil {
			added = t.TimeAdded.Time
		}
		var delay time.Duration
		tolerated, forever := false, false
		for j := range pod.Spec.Tolerations {
			tol := &pod.Spec.Tolerations[j]
			if !tol.ToleratesTaint(t) {
				continue
			}
			if tol.TolerationSeconds == nil {
				forever = true
				break
			}
			d := time.Duration(max(*tol.TolerationSeconds, 0)) * time.Second
			if !tolerated || d < delay {
				delay = d
			}
			tolerated = true
		}
		if forever {
			continue
		}
		if !tolerated {
			if t.Key == TaintUnreachable || t.Key == TaintNotReady {
				delay = timeout
			}
		}
		if e := added.Add(delay); !ok || e.Before(at) {
			at, ok = e, true
		}
	}
	return at, ok
}
