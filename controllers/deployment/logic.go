package deployment

import (
	"encoding/json"
	"hash/fnv"
	"maps"
	"sort"
	"strconv"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// hashAlphabet avoids vowels (no words) and look-alike characters, as
// Kubernetes' SafeEncodeString does.
const hashAlphabet = "bcdfghjklmnpqrstvwxz2456789"

// stripHash returns a copy of a template without the pod-template-hash
// label, as the Deployment's own template has none.
func stripHash(t *api.PodTemplateSpec) api.PodTemplateSpec {
	out := *t
	if _, ok := t.Labels[api.LabelPodTemplateHash]; ok {
		out.Labels = maps.Clone(t.Labels)
		delete(out.Labels, api.LabelPodTemplateHash)
		if len(out.Labels) == 0 {
			out.Labels = nil
		}
	}
	return out
}

func templateJSON(t *api.PodTemplateSpec) string {
	s := stripHash(t)
	b, _ := json.Marshal(&s)
	return string(b)
}

// TemplateHash is the pod-template-hash of a template: FNV-32a of its
// JSON (without the hash label), in a vowel-free alphabet.
func TemplateHash(t *api.PodTemplateSpec) string {
	h := fnv.New32a()
	h.Write([]byte(templateJSON(t)))
	n := h.Sum32()
	var out []byte
	for {
		out = append(out, hashAlphabet[n%uint32(len(hashAlphabet))])
		n /= uint32(len(hashAlphabet))
		if n == 0 {
			break
		}
	}
	return string(out)
}

// templatesEqual reports whether two templates are equal, ignoring the
// pod-template-hash label.
func templatesEqual(a, b *api.PodTemplateSpec) bool { return templateJSON(a) == templateJSON(b) }

// Revision is the rollout revision of a ReplicaSet (0 when unset).
func Revision(rs *api.ReplicaSet) int64 {
	n, _ := strconv.ParseInt(rs.Annotations[api.AnnotationRevision], 10, 64)
	return n
}

func replicas(rs *api.ReplicaSet) int32 {
	if rs.Spec.Replicas == nil {
		return 1
	}
	return *rs.Spec.Replicas
}

func desired(d *api.Deployment) int32 {
	if d.Spec.Replicas == nil {
		return 1
	}
	return *d.Spec.Replicas
}

// split finds the ReplicaSet whose template is the Deployment's (nil if
// none) and returns the others, oldest revision first.
func split(d *api.Deployment, rss []*api.ReplicaSet) (newRS *api.ReplicaSet, olds []*api.ReplicaSet) {
	for _, rs := range rss {
		if newRS == nil && templatesEqual(&rs.Spec.Template, &d.Spec.Template) {
			newRS = rs
			continue
		}
		olds = append(olds, rs)
	}
	sort.SliceStable(olds, func(i, j int) bool {
		if ri, rj := Revision(olds[i]), Revision(olds[j]); ri != rj {
			return ri < rj
		}
		return olds[i].CreationTimestamp.Before(olds[j].CreationTimestamp.Time)
	})
	return newRS, olds
}

// maxRevision is the highest revision among rss.
func maxRevision(rss []*api.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		m = max(m, Revision(rs))
	}
	return m
}

// fenceposts resolves maxSurge (rounded up) and maxUnavailable (rounded
// down) against replicas; if both come to 0, maxUnavailable is 1, as in
// Kubernetes. Recreate has neither.
func fenceposts(d *api.Deployment) (surge, unavailable int32) {
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type == api.RecreateDeploymentStrategyType || ru == nil {
		return 0, 0
	}
	n := desired(d)
	surge, _ = api.ScaledValue(ru.MaxSurge, n, true)
	unavailable, _ = api.ScaledValue(ru.MaxUnavailable, n, false)
	if surge == 0 && unavailable == 0 {
		unavailable = 1
	}
	return surge, min(unavailable, n)
}

func sumSpec(rss []*api.ReplicaSet) (n int32) {
	for _, rs := range rss {
		n += replicas(rs)
	}
	return n
}

// sumPods bounds the pods of rss from above: a ReplicaSet scaled down may
// still have its old pods until its controller deletes them, which its
// status shows.
func sumPods(rss []*api.ReplicaSet) (n int32) {
	for _, rs := range rss {
		n += max(replicas(rs), rs.Status.Replicas)
	}
	return n
}

func sumAvailable(rss []*api.ReplicaSet) (n int32) {
	for _, rs := range rss {
		n += rs.Status.AvailableReplicas
	}
	return n
}

// synced reports whether an RS's status describes its current spec and
// all its pods are accounted for: its available count can be trusted.
func synced(rs *api.ReplicaSet) bool {
	return rs.Status.ObservedGeneration >= rs.Generation && rs.Status.Replicas == replicas(rs)
}

// newRSTarget is the replicas the new ReplicaSet may have now in a rolling
// update: up to the Deployment's replicas, within replicas+maxSurge pods
// over all ReplicaSets (counting pods a scaled-down ReplicaSet still has).
func newRSTarget(d *api.Deployment, newRS *api.ReplicaSet, all []*api.ReplicaSet) int32 {
	want, cur := desired(d), replicas(newRS)
	if cur >= want {
		return want
	}
	surge, _ := fenceposts(d)
	room := want + surge - sumPods(all)
	if room <= 0 {
		return cur
	}
	return cur + min(room, want-cur)
}

// oldScaleDown plans how far to scale the old ReplicaSets down in a
// rolling update without going below replicas-maxUnavailable available
// pods: first the pods of theirs that are not available, then available
// ones, oldest revision first. It plans nothing while an old ReplicaSet's
// status is stale. It returns the new replicas of the ReplicaSets to scale.
func oldScaleDown(d *api.Deployment, newRS *api.ReplicaSet, olds []*api.ReplicaSet) map[string]int32 {
	if sumSpec(olds) == 0 {
		return nil
	}
	for _, rs := range olds {
		if replicas(rs) > 0 && !synced(rs) {
			return nil
		}
	}
	all := append([]*api.ReplicaSet{newRS}, olds...)
	_, maxUnavailable := fenceposts(d)
	minAvailable := desired(d) - maxUnavailable
	newUnavailable := max(replicas(newRS)-newRS.Status.AvailableReplicas, 0)
	budget := sumSpec(all) - minAvailable - newUnavailable
	if budget <= 0 {
		return nil
	}
	plan := map[string]int32{}
	next := func(rs *api.ReplicaSet) int32 {
		if n, ok := plan[rs.Name]; ok {
			return n
		}
		return replicas(rs)
	}
	// Unavailable old pods first: removing them costs no availability.
	for _, rs := range olds {
		if budget <= 0 {
			break
		}
		unhealthy := max(replicas(rs)-rs.Status.AvailableReplicas, 0)
		if k := min(unhealthy, budget); k > 0 {
			plan[rs.Name] = replicas(rs) - k
			budget -= k
		}
	}
	// Then available ones, down to minAvailable over all ReplicaSets.
	extra := min(sumAvailable(all)-minAvailable, budget)
	for _, rs := range olds {
		if extra <= 0 {
			break
		}
		avail := min(rs.Status.AvailableReplicas, next(rs))
		if k := min(avail, extra); k > 0 {
			plan[rs.Name] = next(rs) - k
			extra -= k
		}
	}
	return plan
}

// toCleanUp returns the old, fully scaled-down ReplicaSets beyond the
// revision history limit, oldest first.
func toCleanUp(d *api.Deployment, olds []*api.ReplicaSet) []*api.ReplicaSet {
	limit := int32(api.DefaultRevisionHistoryLimit)
	if d.Spec.RevisionHistoryLimit != nil {
		limit = *d.Spec.RevisionHistoryLimit
	}
	var idle []*api.ReplicaSet
	for _, rs := range olds {
		if replicas(rs) == 0 && rs.Status.Replicas == 0 && rs.DeletionTimestamp == nil {
			idle = append(idle, rs)
		}
	}
	if n := len(idle) - int(limit); n > 0 {
		return idle[:n]
	}
	return nil
}

// computeStatus derives a Deployment's status from its ReplicaSets and
// its stored status (the progress deadline counts from the last progress
// recorded there). It returns when to look again for the deadline (0:
// no need).
func computeStatus(d *api.Deployment, newRS *api.ReplicaSet, all []*api.ReplicaSet, now time.Time) (api.DeploymentStatus, time.Duration) {
	prev := d.Status
	st := api.DeploymentStatus{ObservedGeneration: d.Generation, Conditions: append([]api.DeploymentCondition(nil), prev.Conditions...)}
	for _, rs := range all {
		st.Replicas += rs.Status.Replicas
		st.ReadyReplicas += rs.Status.ReadyReplicas
		st.AvailableReplicas += rs.Status.AvailableReplicas
	}
	if newRS != nil {
		st.UpdatedReplicas = newRS.Status.Replicas
	}
	want := desired(d)
	st.UnavailableReplicas = max(want-st.AvailableReplicas, 0)
	t := api.NewTime(now)
	_, maxUnavailable := fenceposts(d)
	if st.AvailableReplicas >= want-maxUnavailable {
		setCond(&st, api.DeploymentAvailable, api.ConditionTrue, api.ReasonMinimumReplicasAvailable, "Deployment has minimum availability.", t)
	} else {
		setCond(&st, api.DeploymentAvailable, api.ConditionFalse, api.ReasonMinimumReplicasUnavail, "Deployment does not have minimum availability.", t)
	}
	name := "(none)"
	if newRS != nil {
		name = newRS.Name
	}
	prog := api.DeploymentConditionByType(&prev, api.DeploymentProgressing)
	complete := newRS != nil && st.UpdatedReplicas == want && st.AvailableReplicas == want && st.Replicas == want &&
		replicas(newRS) == want && newRS.Status.AvailableReplicas == want
	var requeue time.Duration
	switch {
	case d.Spec.Paused:
		setCond(&st, api.DeploymentProgressing, api.ConditionUnknown, api.ReasonDeploymentPaused, "Deployment is paused", t)
	case complete:
		setCond(&st, api.DeploymentProgressing, api.ConditionTrue, api.ReasonNewRSAvailable,
			"ReplicaSet \""+name+"\" has successfully progressed.", t)
	case prog == nil || prog.Reason == api.ReasonDeploymentPaused || d.Generation != prev.ObservedGeneration || progressed(&prev, &st):
		reason := api.ReasonReplicaSetUpdated
		if prog != nil && prog.Reason == api.ReasonDeploymentPaused {
			reason = api.ReasonDeploymentResumed
		}
		setCond(&st, api.DeploymentProgressing, api.ConditionTrue, reason, "ReplicaSet \""+name+"\" is progressing.", t)
		requeue = deadline(d)
	case prog.Status == api.ConditionTrue:
		left := prog.LastUpdateTime.Add(deadline(d)).Sub(now)
		if left <= 0 {
			setCond(&st, api.DeploymentProgressing, api.ConditionFalse, api.ReasonProgressDeadlineExceeded,
				"ReplicaSet \""+name+"\" has timed out progressing.", t)
		} else {
			requeue = left + 10*time.Millisecond
		}
	}
	return st, requeue
}

func deadline(d *api.Deployment) time.Duration {
	s := int32(api.DefaultProgressDeadlineSeconds)
	if d.Spec.ProgressDeadlineSeconds != nil {
		s = *d.Spec.ProgressDeadlineSeconds
	}
	return time.Duration(s) * time.Second
}

// progressed reports whether the rollout moved since the stored status.
func progressed(prev, cur *api.DeploymentStatus) bool {
	return cur.UpdatedReplicas > prev.UpdatedReplicas || cur.ReadyReplicas > prev.ReadyReplicas ||
		cur.AvailableReplicas > prev.AvailableReplicas || cur.Replicas < prev.Replicas && cur.UpdatedReplicas == prev.UpdatedReplicas
}

// setCond sets a condition; LastUpdateTime moves only when the status or
// reason changes, or for ReplicaSetUpdated (each time progress is made).
func setCond(st *api.DeploymentStatus, t api.DeploymentConditionType, s api.ConditionStatus, reason, msg string, now api.Time) {
	c := api.DeploymentCondition{Type: t, Status: s, Reason: reason, Message: msg, LastUpdateTime: now, LastTransitionTime: now}
	if old := api.DeploymentConditionByType(st, t); old != nil && old.Status == s && old.Reason == reason &&
		reason != api.ReasonReplicaSetUpdated && reason != api.ReasonDeploymentResumed {
		c.LastUpdateTime = old.LastUpdateTime
	}
	api.SetDeploymentCondition(st, c)
}
