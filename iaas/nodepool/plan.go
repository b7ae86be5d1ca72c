package nodepool

import (
	"crypto/rand"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas/internal/kit"
)

// AnnotationScaleDown marks a Machine chosen to go on scale-down: its node
// is cordoned and drained, then the Machine is deleted.
const AnnotationScaleDown = "iaas.cloudmgr.dev/scale-down"

// ScaleDownByAutoscaler starts the AnnotationScaleDown value of a machine
// the node autoscaler chose: it marks the machine, then lowers the pool's
// replicas, so until the machine is gone it holds its place and is not
// replaced in between.
const ScaleDownByAutoscaler = "autoscaler/"

// DesiredReplicas is how many machines a pool wants: spec.replicas
// (default minSize) clamped to minSize..maxSize, and 0 once it is being
// deleted.
func DesiredReplicas(p *api.NodePool) int {
	if p.DeletionTimestamp != nil {
		return 0
	}
	n := p.Spec.MinSize
	if p.Spec.Replicas != nil {
		n = *p.Spec.Replicas
	}
	n = max(n, p.Spec.MinSize)
	if p.Spec.MaxSize > 0 {
		n = min(n, p.Spec.MaxSize)
	}
	return int(max(n, 0))
}

// plan is what a pool's reconcile does to its machines.
type plan struct {
	// create: how many machines to add.
	create int
	// remove: machines to delete at once (failed ones whose backoff is
	// over, surplus ones that have no node).
	remove []*api.Machine
	// drain: surplus machines with a node: cordon and drain, then delete.
	drain []*api.Machine
	// requeue: look again after this long (0: no need).
	requeue time.Duration
}

// failedSince is when a Failed machine failed: the last transition of its
// False condition, else its creation.
func failedSince(m *api.Machine) time.Time {
	var at time.Time
	for _, c := range m.Status.Conditions {
		if c.Status == api.ConditionFalse && c.LastTransitionTime.After(at) {
			at = c.LastTransitionTime.Time
		}
	}
	if at.IsZero() {
		return m.CreationTimestamp.Time
	}
	return at
}

// lessToRemove orders surplus machines: not yet joined first, then the
// newest, then by name.
func lessToRemove(a, b *api.Machine) bool {
	if ja, jb := a.Status.Phase == api.MachineJoined, b.Status.Phase == api.MachineJoined; ja != jb {
		return !ja
	}
	if ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ta.Equal(tb) {
		return ta.After(tb)
	}
	return a.Name > b.Name
}

// planScale decides for a pool that wants desired machines, given the
// machines it controls, whether each has a node, and which are outdated
// (made from an older spec of the pool; nil: none). A Failed machine is
// removed backoff after it failed and replaced then: no machine is added
// while one failed more recently, so a provider out of capacity is asked
// once per backoff, not in a loop.
//
// Outdated machines are replaced one at a time (a surge of one machine,
// none unavailable): a machine of the current spec is added beyond
// desired, and an outdated joined one is drained only while desired
// joined machines stay.
func planScale(machines []*api.Machine, hasNode func(string) bool, outdated func(*api.Machine) bool, desired int, now time.Time, backoff time.Duration) plan {
	var p plan
	var active []*api.Machine
	youngFailed, going := false, 0
	requeue := func(d time.Duration) {
		if d > 0 && (p.requeue == 0 || d < p.requeue) {
			p.requeue = d
		}
	}
	if outdated == nil {
		outdated = func(*api.Machine) bool { return false }
	}
	for _, m := range machines {
		switch {
		case m.DeletionTimestamp != nil:
			going++
		case m.Status.Phase == api.MachineFailed:
			if left := failedSince(m).Add(backoff).Sub(now); left > 0 {
				youngFailed = true
				requeue(left)
			} else {
				p.remove = append(p.remove, m)
			}
		case m.Annotations[AnnotationScaleDown] != "":
			if hasNode(m.Name) {
				p.drain = append(p.drain, m)
			} else {
				p.remove = append(p.remove, m)
			}
		default:
			active = append(active, m)
		}
	}
	old, joined, held := 0, 0, 0
	for _, m := range p.drain {
		if strings.HasPrefix(m.Annotations[AnnotationScaleDown], ScaleDownByAutoscaler) {
			held++
		}
	}
	for _, m := range active {
		if outdated(m) {
			old++
		}
		if m.Status.Phase == api.MachineJoined {
			joined++
		}
	}
	// While rolling, the machines still draining or being deleted count
	// against the surge: their VMs hold hypervisor capacity until gone.
	total, limit := len(active), desired
	if old > 0 && desired > 0 {
		total += len(p.drain) + going
		limit++
	} else {
		total += held
	}
	if current := len(active) - old + held; total < limit && current < desired && !youngFailed {
		p.create = min(limit-total, desired-current)
	}
	if excess := len(active) - desired; excess > 0 {
		sort.SliceStable(active, func(i, j int) bool {
			if oi, oj := outdated(active[i]), outdated(active[j]); oi != oj {
				return oi
			}
			return lessToRemove(active[i], active[j])
		})
		for _, m := range active {
			if excess == 0 {
				break
			}
			if m.Status.Phase == api.MachineJoined {
				if joined-1 < desired {
					break // wait for a replacement to join
				}
				joined--
			}
			excess--
			if hasNode(m.Name) {
				p.drain = append(p.drain, m)
			} else {
				p.remove = append(p.remove, m)
			}
		}
	}
	return p
}

// sameTemplate reports whether two machine specs agree on what comes
// from the pool's spec (provider, flavor, size, image, network, node
// labels and taints); a machine that does not agree with a new machine of
// its pool is outdated. Placement and ownership are not the template.
func sameTemplate(a, b api.MachineSpec) bool {
	return a.Provider == b.Provider && a.Flavor == b.Flavor && a.VCPUs == b.VCPUs && a.Memory.Cmp(b.Memory) == 0 &&
		a.Image == b.Image && a.Network == b.Network && maps.Equal(a.Labels, b.Labels) &&
		slices.EqualFunc(a.Taints, b.Taints, func(x, y api.Taint) bool {
			return x.Key == y.Key && x.Value == y.Value && x.Effect == y.Effect
		})
}

// computeStatus is a pool's status given its machines and a function
// telling whether a node is Ready; desired is DesiredReplicas.
func computeStatus(pool *api.NodePool, machines []*api.Machine, nodeReady func(string) bool, outdated func(*api.Machine) bool, desired int, now api.Time) api.NodePoolStatus {
	st := api.NodePoolStatus{ObservedGeneration: pool.Generation, Conditions: append([]api.Condition(nil), pool.Status.Conditions...)}
	failed := 0
	for _, m := range machines {
		if m.DeletionTimestamp != nil {
			continue
		}
		st.Size++
		if outdated == nil || !outdated(m) {
			st.Updated++
		}
		if m.Status.Phase == api.MachineFailed {
			failed++
		}
		if nodeReady(m.Name) {
			st.ReadyNodes++
		}
	}
	status, reason := api.ConditionFalse, "ScalingUp"
	switch {
	case int(st.ReadyNodes) == desired && int(st.Size) == desired && st.Updated == st.Size:
		status, reason = api.ConditionTrue, "ScaledToReplicas"
	case failed > 0:
		reason = "MachinesFailed"
	case st.Updated < st.Size:
		reason = "RollingUpdate"
	case int(st.Size) > desired:
		reason = "ScalingDown"
	case int(st.Size) == desired:
		reason = "WaitingForNodes"
	}
	msg := fmt.Sprintf("%d of %d nodes ready, %d machines", st.ReadyNodes, desired, st.Size)
	if failed > 0 {
		msg += fmt.Sprintf(" (%d failed, to be replaced)", failed)
	}
	if st.Updated < st.Size {
		msg += fmt.Sprintf(", %d of them of the current spec", st.Updated)
	}
	kit.SetCondition(&st.Conditions, api.ConditionScaledToReplicas, status, reason, msg, now)
	return st
}

// nameAlphabet is Kubernetes' alphabet for generated name suffixes: no
// vowels (no words) and no look-alike characters.
const nameAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// machineName is POOL-XXXXX with a random suffix of 5 characters.
func machineName(pool string) string {
	b := make([]byte, 5)
	_, _ = rand.Read(b)
	for i := range b {
		b[i] = nameAlphabet[int(b[i])%len(nameAlphabet)]
	}
	if len(pool) > 57 {
		pool = pool[:57]
	}
	return pool + "-" + string(b)
}
