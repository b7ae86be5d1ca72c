package replicaset

import (
	"sort"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/controllers"
)

// activePods returns the pods that count toward replicas.
func activePods(pods []*api.Pod) []*api.Pod {
	var out []*api.Pod
	for _, p := range pods {
		if controllers.IsPodActive(p) {
			out = append(out, p)
		}
	}
	return out
}

// phaseRank orders phases for deletion: Pending before Unknown before Running.
func phaseRank(p api.PodPhase) int {
	switch p {
	case api.PodPending:
		return 0
	case api.PodUnknown:
		return 1
	case api.PodRunning:
		return 2
	}
	return 3
}

func restarts(p *api.Pod) int32 {
	var n int32
	for _, c := range p.Status.ContainerStatuses {
		n += c.RestartCount
	}
	return n
}

// lessToDelete reports whether a should be deleted before b: unscheduled
// before scheduled, Pending before Unknown before Running, not ready before
// ready, ready for less time, more restarts, then newer first.
func lessToDelete(a, b *api.Pod) bool {
	if (a.Spec.NodeName == "") != (b.Spec.NodeName == "") {
		return a.Spec.NodeName == ""
	}
	if ra, rb := phaseRank(a.Status.Phase), phaseRank(b.Status.Phase); ra != rb {
		return ra < rb
	}
	if ra, rb := controllers.IsPodReady(a), controllers.IsPodReady(b); ra != rb {
		return !ra
	}
	if ta, tb := controllers.PodReadySince(a), controllers.PodReadySince(b); !ta.Equal(tb) {
		return ta.After(tb)
	}
	if ra, rb := restarts(a), restarts(b); ra != rb {
		return ra > rb
	}
	if ta, tb := a.CreationTimestamp.Time, b.CreationTimestamp.Time; !ta.Equal(tb) {
		return ta.After(tb)
	}
	return a.Name > b.Name
}

// podsToDelete picks the n pods to delete first.
func podsToDelete(pods []*api.Pod, n int) []*api.Pod {
	sorted := append([]*api.Pod(nil), pods...)
	sort.SliceStable(sorted, func(i, j int) bool { return lessToDelete(sorted[i], sorted[j]) })
	if n > len(sorted) {
		n = len(sorted)
	}
	return sorted[:n]
}

// computeStatus is the status of rs given its active owned pods.
func computeStatus(rs *api.ReplicaSet, active []*api.Pod, now time.Time) api.ReplicaSetStatus {
	st := api.ReplicaSetStatus{Replicas: int32(len(active)), ObservedGeneration: rs.Generation}
	tmpl := api.SelectorFromSet(rs.Spec.Template.Labels)
	for _, p := range active {
		if tmpl.Matches(p.Labels) {
			st.FullyLabeledReplicas++
		}
		if controllers.IsPodReady(p) {
			st.ReadyReplicas++
		}
		if controllers.PodAvailable(p, rs.Spec.MinReadySeconds, now) {
			st.AvailableReplicas++
		}
	}
	return st
}

// nextAvailableCheck is how long until a Ready pod not yet available
// becomes so (0: none).
func nextAvailableCheck(rs *api.ReplicaSet, active []*api.Pod, now time.Time) time.Duration {
	var next time.Duration
	for _, p := range active {
		if d := controllers.PodAvailableIn(p, rs.Spec.MinReadySeconds, now); d > 0 {
			d += time.Second
			if next == 0 || d < next {
				next = d
			}
		}
	}
	return next
}

// burstSizes splits n creations into slow-start batches 1, 2, 4, ...: a
// failing batch (quota, bad template) stops the rest.
func burstSizes(n int) []int {
	var out []int
	for size := 1; n > 0; size *= 2 {
		b := min(size, n)
		out = append(out, b)
		n -= b
	}
	return out
}
