package autoscaler

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// maxPendingNames bounds the pod names a decision records.
const maxPendingNames = 20

// skip records a pool passed over.
func skip(rec *api.ScaleDecisionSpec, p *poolState, reason, message string) {
	rec.Pools = append(rec.Pools, api.PoolConsideration{Pool: p.name(), Priority: p.pool.NodePool.Spec.Priority, Reason: reason, Message: message})
}

// usable reports whether pool p may grow now, recording why not: backed
// off, a machine of it failed (its provider refused it), or at its max. A
// pool with failed machines is backed off and its replicas drop back to
// the machines that did not fail (not below its min): the growth goes
// elsewhere, and the failed request is not made again later on top of it.
func (st *state) usable(rec *api.ScaleDecisionSpec, p *poolState) bool {
	a := st.a
	if off, why := a.BackedOff(p.name(), st.now); off {
		skip(rec, p, api.ReasonPoolBackedOff, fmt.Sprintf("backed off after %s until %s", why, a.backoffs[p.name()].until.UTC().Format(time.RFC3339)))
		return false
	}
	if p.failed != "" {
		a.fail(p.name(), st.now, p.failedReason, p.failed)
		msg := p.failed
		if keep := max(p.min(), p.healthy); keep < p.replicas {
			msg += fmt.Sprintf("; %d failed machines given up (%d -> %d)", p.replicas-keep, p.replicas, keep)
			st.total -= p.replicas - keep
			p.replicas = keep
			st.givenUp = append(st.givenUp, ScaleUp{Pool: p.name(), Replicas: int32(keep)})
		}
		skip(rec, p, p.failedReason, msg)
		return false
	}
	if st.room(p) == 0 {
		if p.replicas >= p.max() {
			skip(rec, p, api.ReasonPoolAtMax, fmt.Sprintf("%d of at most %d machines", p.replicas, p.max()))
		} else {
			skip(rec, p, api.ReasonGlobalMax, fmt.Sprintf("the pools have %d of at most %d machines", st.total, st.a.cfg.MaxNodes))
		}
		return false
	}
	return true
}

// grow asks pool p for n more machines (at most its room): the capacity
// check, when there is one, decides; a refusal backs the pool off. It
// returns how many were granted.
func (st *state) grow(ctx context.Context, rec *api.ScaleDecisionSpec, p *poolState, n int) int {
	n = min(n, st.room(p))
	if n <= 0 {
		return 0
	}
	if check := st.a.capacity; check != nil {
		start := time.Now()
		err := check(ctx, p.pool.NodePool, n)
		call := api.ScaleCall{Operation: "CheckCapacity", Pool: p.name(), DurationMilliseconds: time.Since(start).Milliseconds()}
		if err != nil {
			call.Error = err.Error()
			rec.Calls = append(rec.Calls, call)
			reason := api.ReasonProviderError
			switch {
			case errors.Is(err, iaas.ErrInsufficientCapacity):
				reason = api.ReasonInsufficientCapacity
			case errors.Is(err, iaas.ErrQuota):
				reason = api.ReasonQuota
			}
			st.a.fail(p.name(), st.now, reason, err.Error())
			skip(rec, p, reason, fmt.Sprintf("%d machines: %v", n, err))
			return 0
		}
		rec.Calls = append(rec.Calls, call)
	}
	delete(st.a.backoffs, p.name())
	p.replicas += n
	st.total += n
	st.a.grown[p.name()] = st.now
	rec.Pools = append(rec.Pools, api.PoolConsideration{Pool: p.name(), Priority: p.pool.NodePool.Spec.Priority,
		Taken: true, Reason: api.ReasonTaken, Delta: int32(n), Message: fmt.Sprintf("%d -> %d machines", p.replicas-n, p.replicas)})
	return n
}

// finish sets a scale-up decision's outcome and adds it (and the pools'
// new sizes) to the plan; a decision not to act is added when its reason
// is new for key.
func (st *state) finish(plan *Plan, rec *api.ScaleDecisionSpec, held time.Time, key, noActionReason, message string) {
	rec.DecidedTime = api.NewTime(st.now)
	var pools []string
	var delta int32
	for _, pc := range rec.Pools {
		if pc.Taken {
			pools = append(pools, pc.Pool)
			delta += pc.Delta
		}
	}
	if delta == 0 {
		if !st.a.noteNoAction(key, noActionReason) {
			return
		}
		rec.Outcome = api.ScaleOutcome{Type: api.OutcomeNoAction, Reason: noActionReason, Message: message}
		plan.add(rec, held)
		return
	}
	st.a.said[key] = ""
	rec.Outcome = api.ScaleOutcome{Type: api.OutcomeScaledUp, Pool: strings.Join(pools, ","), Delta: delta}
	plan.add(rec, held)
	for _, name := range pools {
		for _, p := range st.pools {
			if p.name() == name {
				plan.ScaleUps = slices.DeleteFunc(plan.ScaleUps, func(u ScaleUp) bool { return u.Pool == name })
				plan.ScaleUps = append(plan.ScaleUps, ScaleUp{Pool: name, Replicas: int32(p.replicas)})
			}
		}
	}
}

// scaleUpForPending grows pools, in priority order, by enough template
// nodes to hold the unschedulable pods that fit them (first-fit onto the
// machines still booting, then onto new ones).
func (st *state) scaleUpForPending(ctx context.Context, plan *Plan) {
	const key = "pending"
	if len(st.pending) == 0 {
		st.a.said[key] = ""
		return
	}
	rec := &api.ScaleDecisionSpec{Trigger: api.ScaleTrigger{Type: api.TriggerPendingPods, PendingCount: int32(len(st.pending))}}
	oldest := st.now
	left := make([]*podCheck, 0, len(st.pending))
	for _, p := range st.pending {
		if len(rec.Trigger.PendingPods) < maxPendingNames {
			rec.Trigger.PendingPods = append(rec.Trigger.PendingPods, p.Namespace+"/"+p.Name)
		}
		if t := unschedulableSince(p, st.markedAt); !t.IsZero() && t.Before(oldest) {
			oldest = t
		}
		pc := st.fit.check(ctx, p)
		if st.fitsNow(ctx, pc) {
			continue // the scheduler will place it at its next try
		}
		left = append(left, pc)
	}
	if len(left) == 0 {
		return
	}
	rec.TriggeredTime = api.NewTime(oldest)
	reason, booting := api.ReasonNoPoolFits, false
	for _, p := range sortedPools(st.pools) {
		if len(left) == 0 {
			break
		}
		if p.template == nil {
			skip(rec, p, api.ReasonTemplateDoesNotFit, "the size of its machines is unknown (a flavor, and no node yet)")
			continue
		}
		fitsTemplate := false
		for _, pc := range left {
			if ok, _ := st.fit.fits(ctx, pc, p.template); ok {
				fitsTemplate = true
				break
			}
		}
		if !fitsTemplate {
			_, why := st.fit.fits(ctx, left[0], p.template)
			skip(rec, p, api.ReasonTemplateDoesNotFit, fmt.Sprintf("%s: %s", left[0].pod.Name, why))
			continue
		}
		room := 0
		if st.usable(rec, p) {
			room = st.room(p)
		} else {
			reason = rec.Pools[len(rec.Pools)-1].Reason
			if p.booting() == 0 {
				continue
			}
		}
		placed, rest, need := st.binPack(ctx, p, left, room)
		if need == 0 {
			if placed > 0 {
				booting = true
				skip(rec, p, api.ReasonBooting, fmt.Sprintf("%d pods fit on its %d machines still booting", placed, p.booting()))
				left = rest
			}
			continue
		}
		if st.grow(ctx, rec, p, need) > 0 {
			left = rest
		} else {
			reason = rec.Pools[len(rec.Pools)-1].Reason
		}
	}
	if booting && len(left) == 0 {
		reason = api.ReasonBooting
	}
	st.pendingServed = booting || slices.ContainsFunc(rec.Pools, func(pc api.PoolConsideration) bool { return pc.Taken })
	st.finish(plan, rec, oldest, key, reason, fmt.Sprintf("%d of %d pending pods have no pool to grow", len(left), len(st.pending)))
}

// fitsNow reports whether a pending pod fits a Ready node as it is.
func (st *state) fitsNow(ctx context.Context, pc *podCheck) bool {
	if pc.rejected != nil {
		return false
	}
	for _, n := range st.nodes {
		if !n.Ready || n.Unschedulable || st.leaving[n.Name] {
			continue
		}
		if ok, _ := st.fit.fits(ctx, pc, n); ok {
			return true
		}
	}
	return false
}

// binPack places pods first-fit on the pool's booting machines, then on
// up to room new ones; it returns how many it placed, the others, and how
// many new machines it used.
func (st *state) binPack(ctx context.Context, p *poolState, pods []*podCheck, room int) (placed int, rest []*podCheck, need int) {
	var bins []*nodeinfo.NodeInfo
	for range p.booting() {
		bins = append(bins, p.template.Clone())
	}
	for _, pc := range pods {
		done := false
		for _, b := range bins {
			if ok, _ := st.fit.fits(ctx, pc, b); ok {
				b.AddPod(pc.info)
				done = true
				break
			}
		}
		if !done && need < room {
			b := p.template.Clone()
			if ok, _ := st.fit.fits(ctx, pc, b); ok {
				b.AddPod(pc.info)
				bins = append(bins, b)
				need++
				done = true
			}
		}
		if done {
			placed++
		} else {
			rest = append(rest, pc)
		}
	}
	return placed, rest, need
}

// scaleUpForUtilization grows each pool whose utilization held at or
// above the threshold for the window: enough CPU to bring it back to the
// target, from the pool itself, then from the pools after it in priority
// order when it cannot (at max, backed off, out of capacity).
func (st *state) scaleUpForUtilization(ctx context.Context, plan *Plan) {
	cfg := st.a.cfg
	for _, p := range sortedPools(st.pools) {
		key := "utilization/" + p.name()
		u := p.utilization()
		if p.alloc == 0 || u < cfg.ScaleUpThreshold {
			delete(st.a.highSince, p.name())
			delete(st.a.lent, p.name())
			st.a.said[key] = ""
			continue
		}
		since, ok := st.a.highSince[p.name()]
		if !ok {
			st.a.highSince[p.name()] = st.now
			since = st.now
		}
		if st.now.Sub(since) < cfg.ScaleUpWindow {
			continue
		}
		held := since.Add(cfg.ScaleUpWindow)
		rec := &api.ScaleDecisionSpec{TriggeredTime: api.NewTime(since), Trigger: api.ScaleTrigger{Type: api.TriggerUtilization, Pool: p.name(),
			UtilizationPercent: percent(u), ThresholdPercent: percent(cfg.ScaleUpThreshold), WindowSeconds: int32(cfg.ScaleUpWindow / time.Second)}}
		if g, ok := st.a.grown[p.name()]; ok && st.now.Sub(g) < cfg.ScaleUpCooldown {
			st.finish(plan, rec, held, key, api.ReasonCooldown, fmt.Sprintf("grown at %s", g.UTC().Format(time.RFC3339)))
			continue
		}
		perNode := p.perNode
		if perNode == 0 && len(p.ready) > 0 {
			perNode = p.alloc / int64(len(p.ready))
		}
		// The CPU wanted for the pods' use at the target, less what the
		// pool has or has asked for (booting machines count) and what
		// other pools were grown by for it.
		need := int64(float64(p.used)/cfg.TargetUtilization+0.5) - int64(p.replicas)*perNode - st.a.lent[p.name()]
		if need <= 0 {
			st.finish(plan, rec, held, key, api.ReasonBooting, fmt.Sprintf("its %d machines (%d booting) hold the load at %.0f%%",
				p.replicas, p.booting(), cfg.TargetUtilization*100))
			continue
		}
		reason := api.ReasonNoPoolFits
		for _, c := range st.burstOrder(p) {
			if need <= 0 {
				break
			}
			per := c.perNode
			if c == p {
				per = perNode
			}
			if per <= 0 {
				skip(rec, c, api.ReasonTemplateDoesNotFit, "the size of its machines is unknown")
				continue
			}
			if !st.usable(rec, c) {
				reason = rec.Pools[len(rec.Pools)-1].Reason
				continue
			}
			n := int((need + per - 1) / per)
			if got := st.grow(ctx, rec, c, n); got > 0 {
				need -= int64(got) * per
				if c != p {
					st.a.lent[p.name()] += int64(got) * per
				}
			} else {
				reason = rec.Pools[len(rec.Pools)-1].Reason
			}
		}
		if slices.ContainsFunc(rec.Pools, func(pc api.PoolConsideration) bool { return pc.Taken }) {
			// The window holds anew once the new machines are counted.
			delete(st.a.highSince, p.name())
		}
		st.finish(plan, rec, held, key, reason, fmt.Sprintf("%dm of CPU wanted and no pool to grow", need))
	}
}

// burstOrder is the hot pool, then the pools after it in priority order.
func (st *state) burstOrder(p *poolState) []*poolState {
	out := []*poolState{p}
	for _, c := range sortedPools(st.pools) {
		if c != p && byPriority(p, c) < 0 {
			out = append(out, c)
		}
	}
	return out
}
