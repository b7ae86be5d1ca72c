package deployment

import (
	"math"
	"sort"
	"strconv"

	"github.com/cloudmgr/cloud/api"
)

// Proportional scaling, as Kubernetes does it: when a Deployment is
// scaled while several of its ReplicaSets have pods (mid-rollout), the
// replicas added or removed are shared among them in proportion to their
// sizes, so that a rollout in progress keeps its balance instead of
// putting every new replica on the newest ReplicaSet (or removing every
// one from it). Each ReplicaSet the controller scales carries the
// Deployment's replicas (desired-replicas) and replicas plus maxSurge
// (max-replicas) of that moment: the first tells a scaling event, the
// second what a ReplicaSet's share was measured against.

// activeRSs are the ReplicaSets with replicas above 0.
func activeRSs(rss []*api.ReplicaSet) []*api.ReplicaSet {
	var out []*api.ReplicaSet
	for _, rs := range rss {
		if rs != nil && replicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

func intAnnotation(rs *api.ReplicaSet, key string) (int32, bool) {
	v, ok := rs.Annotations[key]
	if !ok {
		return 0, false
	}
	n, err := strconv.ParseInt(v, 10, 32)
	return int32(n), err == nil
}

// isScalingEvent reports whether the Deployment's replicas changed since
// the controller last scaled one of its active ReplicaSets.
func isScalingEvent(d *api.Deployment, active []*api.ReplicaSet) bool {
	for _, rs := range active {
		if n, ok := intAnnotation(rs, api.AnnotationDesiredReplicas); ok && n != desired(d) {
			return true
		}
	}
	return false
}

// setReplicasAnnotations records on rs the Deployment's replicas and
// replicas plus maxSurge, as the controller scales it.
func setReplicasAnnotations(rs *api.ReplicaSet, d *api.Deployment) {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	surge, _ := fenceposts(d)
	rs.Annotations[api.AnnotationDesiredReplicas] = strconv.Itoa(int(desired(d)))
	rs.Annotations[api.AnnotationMaxReplicas] = strconv.Itoa(int(desired(d) + surge))
}

// replicasAnnotationsCurrent reports whether rs's replicas annotations
// say what the controller would write for d now.
func replicasAnnotationsCurrent(d *api.Deployment, rs *api.ReplicaSet) bool {
	surge, _ := fenceposts(d)
	want, okW := intAnnotation(rs, api.AnnotationDesiredReplicas)
	maxR, okM := intAnnotation(rs, api.AnnotationMaxReplicas)
	return okW && okM && want == desired(d) && maxR == desired(d)+surge
}

// rsFraction is how many replicas rs gains (or loses, negative) if the
// Deployment's new size, replicas plus maxSurge, is shared in proportion
// to rs's share of the size it was last scaled against.
func rsFraction(d *api.Deployment, rs *api.ReplicaSet) int32 {
	if desired(d) == 0 {
		return -replicas(rs)
	}
	surge, _ := fenceposts(d)
	full := desired(d) + surge
	was, ok := intAnnotation(rs, api.AnnotationMaxReplicas)
	if !ok {
		was = d.Status.Replicas
	}
	if was <= 0 {
		return 0
	}
	return int32(math.Round(float64(replicas(rs))*float64(full)/float64(was))) - replicas(rs)
}

// newer orders ReplicaSets by creation, then revision, then name.
func newer(a, b *api.ReplicaSet) bool {
	if !a.CreationTimestamp.Equal(b.CreationTimestamp.Time) {
		return a.CreationTimestamp.After(b.CreationTimestamp.Time)
	}
	if ra, rb := Revision(a), Revision(b); ra != rb {
		return ra > rb
	}
	return a.Name > b.Name
}

// proportionalScale plans a scaling event in the middle of a rolling
// update: it returns the new replicas of every active ReplicaSet of rss,
// or nil when fewer than two are active, the Deployment was not scaled
// since they were, or the strategy is Recreate (which never has two).
// The total comes to the Deployment's replicas plus maxSurge; the
// rounding remainder goes to the largest ReplicaSet.
func proportionalScale(d *api.Deployment, rss []*api.ReplicaSet) map[string]int32 {
	active := activeRSs(rss)
	if len(active) < 2 || d.Spec.Strategy.Type == api.RecreateDeploymentStrategyType || !isScalingEvent(d, active) {
		return nil
	}
	surge, _ := fenceposts(d)
	toAdd := desired(d) + surge - sumSpec(active)
	// Growing, the largest and newest gain first; shrinking, the largest
	// and oldest lose first.
	sorted := append([]*api.ReplicaSet(nil), active...)
	sort.SliceStable(sorted, func(i, j int) bool {
		a, b := sorted[i], sorted[j]
		if ra, rb := replicas(a), replicas(b); ra != rb {
			return ra > rb
		}
		if toAdd > 0 {
			return newer(a, b)
		}
		return newer(b, a)
	})
	sizes := make(map[string]int32, len(sorted))
	var added int32
	for _, rs := range sorted {
		var share int32
		if toAdd != 0 && added != toAdd {
			left := toAdd - added
			if f := rsFraction(d, rs); toAdd > 0 {
				share = min(f, left)
			} else {
				share = max(f, left)
			}
		}
		sizes[rs.Name] = replicas(rs) + share
		added += share
	}
	if left := toAdd - added; left != 0 {
		first := sorted[0].Name
		sizes[first] = max(sizes[first]+left, 0)
	}
	return sizes
}
