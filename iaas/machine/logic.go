package machine

import (
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas/internal/kit"
)

// step is what a provisioned machine needs next.
type step int

const (
	// stepWait: its node has not joined yet; look again later.
	stepWait step = iota
	// stepJoin: its node is Ready: the machine joined.
	stepJoin
	// stepTimeout: it did not join within the timeout: delete its VM and
	// fail it.
	stepTimeout
	// stepNone: nothing to do (already joined, or not provisioned).
	stepNone
	// stepLost: it joined, but its node has not been Ready for the join
	// timeout (a VM that rebooted cannot join again: its join token was
	// single-use and its state lived in RAM): delete its VM and fail it,
	// so that the pool replaces it.
	stepLost
)

func (s step) String() string {
	return [...]string{"wait", "join", "timeout", "none", "lost"}[s]
}

// joinStep decides for a Running machine whose node may exist (node nil:
// not registered): join when the node is Ready, time out joinTimeout after
// the VM was provisioned, else wait the time that is left.
func joinStep(m *api.Machine, node *api.Node, joinTimeout time.Duration, now time.Time) (step, time.Duration) {
	if m.Status.Phase == api.MachineJoined {
		return lostStep(m, node, joinTimeout, now)
	}
	if m.Status.Phase != api.MachineRunning {
		return stepNone, 0
	}
	if node != nil && kit.NodeReady(node) {
		return stepJoin, 0
	}
	since := m.Status.ProvisionedTime.Time
	if since.IsZero() {
		since = m.CreationTimestamp.Time
	}
	left := since.Add(joinTimeout).Sub(now)
	if left <= 0 {
		return stepTimeout, 0
	}
	return stepWait, left
}

// lostStep decides for a Joined machine: lost once its node has not been
// Ready for timeout (since the Ready condition last changed, or since it
// joined when the node is gone), else wait for that moment.
func lostStep(m *api.Machine, node *api.Node, timeout time.Duration, now time.Time) (step, time.Duration) {
	if node != nil && kit.NodeReady(node) {
		return stepNone, 0
	}
	since := m.Status.JoinedTime.Time
	if node != nil {
		for _, c := range node.Status.Conditions {
			if c.Type == api.NodeReady && !c.LastTransitionTime.IsZero() {
				since = c.LastTransitionTime.Time
			}
		}
	}
	if since.IsZero() {
		return stepNone, 0
	}
	left := since.Add(timeout).Sub(now)
	if left <= 0 {
		return stepLost, 0
	}
	return stepWait, left
}

// joinTimeout is the pool's join timeout, else def.
func joinTimeout(pool *api.NodePool, def time.Duration) time.Duration {
	if pool != nil && pool.Spec.JoinTimeoutSeconds > 0 {
		return time.Duration(pool.Spec.JoinTimeoutSeconds) * time.Second
	}
	return def
}

// nodeWants returns n's labels and taints with the machine's added
// (LabelNodePool, LabelProvider, LabelHypervisor when missing, spec labels
// and taints) and whether any was missing.
func nodeWants(m *api.Machine, n *api.Node) (labels map[string]string, taints []api.Taint, changed bool) {
	labels = map[string]string{}
	for k, v := range n.Labels {
		labels[k] = v
	}
	want := map[string]string{api.LabelProvider: m.Spec.Provider}
	if m.Spec.Pool != "" {
		want[api.LabelNodePool] = m.Spec.Pool
	}
	for k, v := range m.Spec.Labels {
		want[k] = v
	}
	// The API server sets the hypervisor label when the node joins; fill
	// it in only where it is missing, never fight over it.
	if _, ok := labels[api.LabelHypervisor]; !ok && m.Status.Host != "" {
		want[api.LabelHypervisor] = m.Status.Host
	}
	for k, v := range want {
		if cur, ok := labels[k]; !ok || cur != v {
			labels[k] = v
			changed = true
		}
	}
	taints = append([]api.Taint(nil), n.Spec.Taints...)
	for _, t := range m.Spec.Taints {
		found := false
		for _, have := range taints {
			if have.Key == t.Key && have.Effect == t.Effect {
				found = true
				break
			}
		}
		if !found {
			taints = append(taints, api.Taint{Key: t.Key, Value: t.Value, Effect: t.Effect})
			changed = true
		}
	}
	return labels, taints, changed
}
