package autoscaler

import (
	"cmp"
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// downCandidate is a node whose utilization held under the lower
// threshold for the window.
type downCandidate struct {
	pool  *poolState
	node  *api.Node
	util  float64
	since time.Time
}

// scaleDown removes at most one idle node per loop: public pools (higher
// priority number) first, then the idlest node; never below a pool's min,
// never a node with a pod that must not be disrupted, never a node whose
// pods would not all fit on the other nodes (the scheduler's filters say),
// and never when the pool would then run above the target.
func (st *state) scaleDown(ctx context.Context, plan *Plan) {
	cfg := st.a.cfg
	var cands []downCandidate
	// idleAbove is the highest priority number of a pool above its min
	// with a node under the threshold whose window is not over yet: the
	// nodes of pools before it wait (at most a window) for it, so public
	// nodes go first even when a private one's window ended a moment
	// earlier. One whose window is over is a candidate itself, sorted
	// first; if it is blocked, the others go on.
	idleAbove := int32(-1 << 31)
	for _, p := range st.pools {
		for _, n := range p.ready {
			key := "down/" + n.Name
			used, ok := podUsageMilli(n)
			alloc := allocMilli(n)
			if !ok || alloc == 0 || float64(used)/float64(alloc) >= cfg.ScaleDownThreshold {
				delete(st.a.lowSince, n.Name)
				st.a.said[key] = ""
				continue
			}
			since, ok := st.a.lowSince[n.Name]
			if !ok {
				st.a.lowSince[n.Name] = st.now
				since = st.now
			}
			if st.now.Sub(since) >= cfg.ScaleDownWindow {
				cands = append(cands, downCandidate{pool: p, node: n, util: float64(used) / float64(alloc), since: since})
			} else if p.replicas > p.min() {
				idleAbove = max(idleAbove, p.pool.NodePool.Spec.Priority)
			}
		}
	}
	if len(cands) == 0 || st.now.Sub(st.a.lastDown) < cfg.ScaleDownCooldown {
		return
	}
	slices.SortFunc(cands, func(a, b downCandidate) int {
		if c := cmp.Compare(b.pool.pool.NodePool.Spec.Priority, a.pool.pool.NodePool.Spec.Priority); c != 0 {
			return c
		}
		if c := cmp.Compare(a.util, b.util); c != 0 {
			return c
		}
		return cmp.Compare(a.node.Name, b.node.Name)
	})
	for _, c := range cands {
		rec := &api.ScaleDecisionSpec{TriggeredTime: api.NewTime(c.since), Trigger: api.ScaleTrigger{Type: api.TriggerUnderutilized,
			Pool: c.pool.name(), Node: c.node.Name, UtilizationPercent: percent(c.util),
			ThresholdPercent: percent(cfg.ScaleDownThreshold), WindowSeconds: int32(cfg.ScaleDownWindow / time.Second)}}
		reason, msg := st.blocked(ctx, c)
		if reason == "" && c.pool.pool.NodePool.Spec.Priority < idleAbove {
			reason, msg = api.ReasonPublicFirst, fmt.Sprintf("an idle node of a pool of priority %d goes first", idleAbove)
		}
		if reason != "" {
			skip(rec, c.pool, reason, msg)
			if st.a.noteNoAction("down/"+c.node.Name, reason) {
				rec.DecidedTime = api.NewTime(st.now)
				rec.Outcome = api.ScaleOutcome{Type: api.OutcomeNoAction, Reason: reason, Message: msg}
				plan.add(rec, c.since.Add(cfg.ScaleDownWindow))
			}
			continue
		}
		p := c.pool
		p.replicas--
		st.total--
		st.a.lastDown = st.now
		delete(st.a.lowSince, c.node.Name)
		st.a.said["down/"+c.node.Name] = ""
		rec.Pools = append(rec.Pools, api.PoolConsideration{Pool: p.name(), Priority: p.pool.NodePool.Spec.Priority, Taken: true,
			Reason: api.ReasonTaken, Delta: -1, Message: fmt.Sprintf("%d -> %d machines", p.replicas+1, p.replicas)})
		rec.DecidedTime = api.NewTime(st.now)
		rec.Outcome = api.ScaleOutcome{Type: api.OutcomeScaledDown, Pool: p.name(), Delta: -1, Node: c.node.Name}
		plan.add(rec, c.since.Add(cfg.ScaleDownWindow))
		plan.ScaleDowns = append(plan.ScaleDowns, ScaleDown{Pool: p.name(), Machine: c.node.Name, Replicas: int32(p.replicas)})
		return
	}
}

// blocked says why a candidate may not go now ("" if it may).
func (st *state) blocked(ctx context.Context, c downCandidate) (reason, message string) {
	cfg := st.a.cfg
	p := c.pool
	if p.replicas <= p.min() {
		return api.ReasonPoolAtMin, fmt.Sprintf("%d of at least %d machines", p.replicas, p.min())
	}
	if g, ok := st.a.grown[p.name()]; ok && st.now.Sub(g) < cfg.ScaleDownDelayAfterUp {
		return api.ReasonCooldown, fmt.Sprintf("the pool grew at %s", g.UTC().Format(time.RFC3339))
	}
	// The pool's last node: its pods go to other pools, if they fit.
	if rest := p.alloc - allocMilli(c.node); rest > 0 && float64(p.used)/float64(rest) >= cfg.TargetUtilization {
		return api.ReasonAboveTarget, fmt.Sprintf("without it the pool would run at or above %.0f%%", cfg.TargetUtilization*100)
	}
	ni := st.byNode[c.node.Name]
	if ni == nil {
		return "", ""
	}
	var others []*nodeinfo.NodeInfo
	for _, o := range st.nodes {
		if o.Name != c.node.Name && o.Ready && !o.Unschedulable && !st.leaving[o.Name] && o.Node.DeletionTimestamp == nil {
			others = append(others, o)
		}
	}
	cloned := map[*nodeinfo.NodeInfo]*nodeinfo.NodeInfo{}
	for _, pi := range ni.Pods {
		pod := pi.Pod
		if daemon(pod) {
			continue
		}
		if pod.Annotations[api.AnnotationSafeToEvict] == "false" || pod.Annotations[api.AnnotationNoScaleDown] == "true" {
			return api.ReasonNotEvictable, fmt.Sprintf("pod %s must not be disrupted", pi.Key)
		}
		moved := *pod // as if evicted and made anew: not bound
		moved.Spec.NodeName = ""
		pc := st.fit.check(ctx, &moved)
		placed := false
		for _, o := range others {
			target := o
			if cl, ok := cloned[o]; ok {
				target = cl
			}
			if ok, _ := st.fit.fits(ctx, pc, target); ok {
				if target == o {
					target = o.Clone()
					cloned[o] = target
				}
				target.AddPod(pi)
				placed = true
				break
			}
		}
		if !placed {
			return api.ReasonPodsDoNotFit, fmt.Sprintf("pod %s fits on no other node", pi.Key)
		}
	}
	return "", ""
}

// daemon reports whether a DaemonSet owns the pod: it goes with its node.
func daemon(p *api.Pod) bool {
	for _, o := range p.OwnerReferences {
		if o.Kind == api.KindDaemonSet {
			return true
		}
	}
	return false
}
