// Package autoscaler is the node autoscaler: it grows NodePools when their
// nodes run hot or pods cannot be placed, private pools first and public
// ones next, and shrinks them when a node idles, public nodes first.
//
// The decision logic (Autoscaler.Decide) is pure: it reads a Snapshot of
// pools, machines, nodes and pods at a time given by the caller and
// returns a Plan and the ScaleDecision records explaining it. The only
// outside call it makes is the optional capacity check, passed in. The
// Controller feeds it from the IaaS controllers' caches and applies the
// plan.
package autoscaler

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
)

// Config tunes the autoscaler. Zero fields take the defaults of
// DefaultConfig.
type Config struct {
	// ScaleUpThreshold is the pool CPU utilization (pods' use over the
	// allocatable CPU of its Ready nodes) at or above which the pool grows
	// once it held for ScaleUpWindow.
	ScaleUpThreshold float64
	ScaleUpWindow    time.Duration
	// TargetUtilization is what a scale-up sizes the pool for; it lies
	// between the two thresholds (hysteresis), and a scale-down that
	// would push the pool above it is not made.
	TargetUtilization float64
	// ScaleDownThreshold is the node utilization under which a node is
	// removed once it held for ScaleDownWindow.
	ScaleDownThreshold float64
	ScaleDownWindow    time.Duration
	// ScaleUpCooldown: a pool is not grown again for its utilization this
	// long after it was grown.
	ScaleUpCooldown time.Duration
	// ScaleDownDelayAfterUp: no node of a pool is removed this long after
	// the pool was grown; ScaleDownCooldown: one node at a time, this far
	// apart.
	ScaleDownDelayAfterUp time.Duration
	ScaleDownCooldown     time.Duration
	// MaxNodes bounds the machines of all pools together (0: no bound).
	MaxNodes int
	// BackoffInitial and BackoffMax bound the exponential backoff of a
	// pool whose provider failed.
	BackoffInitial time.Duration
	BackoffMax     time.Duration
	// Reserved is what the node agent keeps back from a new node's
	// allocatable (cloudlet's --reserve-cpu and --reserve-memory).
	Reserved api.ResourceList
}

// DefaultConfig is the defaults: 80% for 30 s up, 50% for 10 min
// down.
func DefaultConfig() Config {
	return Config{
		ScaleUpThreshold: 0.8, ScaleUpWindow: 30 * time.Second, TargetUtilization: 0.7,
		ScaleDownThreshold: 0.5, ScaleDownWindow: 10 * time.Minute,
		ScaleUpCooldown: 30 * time.Second, ScaleDownDelayAfterUp: 2 * time.Minute, ScaleDownCooldown: time.Minute,
		BackoffInitial: time.Minute, BackoffMax: 10 * time.Minute,
		Reserved: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("100m"), api.ResourceMemory: api.MustParseQuantity("256Mi")},
	}
}

func (c Config) withDefaults() Config {
	d := DefaultConfig()
	set := func(v *float64, def float64) {
		if *v == 0 {
			*v = def
		}
	}
	setD := func(v *time.Duration, def time.Duration) {
		if *v == 0 {
			*v = def
		}
	}
	set(&c.ScaleUpThreshold, d.ScaleUpThreshold)
	set(&c.TargetUtilization, d.TargetUtilization)
	set(&c.ScaleDownThreshold, d.ScaleDownThreshold)
	setD(&c.ScaleUpWindow, d.ScaleUpWindow)
	setD(&c.ScaleDownWindow, d.ScaleDownWindow)
	setD(&c.ScaleUpCooldown, d.ScaleUpCooldown)
	setD(&c.ScaleDownDelayAfterUp, d.ScaleDownDelayAfterUp)
	setD(&c.ScaleDownCooldown, d.ScaleDownCooldown)
	setD(&c.BackoffInitial, d.BackoffInitial)
	setD(&c.BackoffMax, d.BackoffMax)
	if c.Reserved == nil {
		c.Reserved = d.Reserved
	}
	return c
}

// Pool is one NodePool with its machines and the nodes labelled with it.
type Pool struct {
	NodePool *api.NodePool
	Machines []*api.Machine
	Nodes    []*api.Node
	// Flavor is the size of the pool's machines when its spec names a
	// flavor (from the provider; zero: unknown, then learnt from a node).
	Flavor iaas.Flavor
}

// Snapshot is what one loop decides from.
type Snapshot struct {
	Pools []*Pool
	// Nodes are every node, of a pool or not (where evicted pods may go).
	Nodes []*api.Node
	// Pods are every pod; bound ones fill the nodes, unschedulable ones
	// (PodScheduled False, reason Unschedulable) trigger scale-ups.
	Pods []*api.Pod
	// MarkedAt is, by pod UID, when the controller saw a pod marked
	// unschedulable, finer than the condition's second (optional).
	MarkedAt map[string]time.Time
}

// CapacityCheck asks a pool's provider whether it could make n more
// machines of the pool's template now: nil, or an error wrapping
// iaas.ErrInsufficientCapacity or iaas.ErrQuota. Nil means not asked.
type CapacityCheck func(ctx context.Context, pool *api.NodePool, n int) error

// ScaleUp grows a pool to Replicas.
type ScaleUp struct {
	Pool     string
	Replicas int32
}

// ScaleDown removes one machine (named as its node) from a pool, whose
// replicas drop to Replicas.
type ScaleDown struct {
	Pool     string
	Machine  string
	Replicas int32
}

// Plan is what a loop decided.
type Plan struct {
	ScaleUps   []ScaleUp
	ScaleDowns []ScaleDown
	// GiveUps lower the replicas of pools whose machines failed to be
	// made back to those that did not fail.
	GiveUps []ScaleUp
	// Decisions explain it, and any decision not to act while a trigger
	// held (each reason once until it changes).
	Decisions []api.ScaleDecisionSpec
	// HeldAt is, for each decision, when its trigger came to hold (the
	// window over, or the oldest pod marked unschedulable), at full
	// precision: decision latency is measured from it.
	HeldAt []time.Time
	// Wake is the next moment a decision comes due with nothing else
	// changing (a pool's utilization window ending, or its cooldown while
	// it is still hot); zero if none. The loop runs then instead of at its
	// next tick, so a held trigger is acted on at once.
	Wake time.Time
}

func (p *Plan) add(rec *api.ScaleDecisionSpec, held time.Time) {
	p.Decisions = append(p.Decisions, *rec)
	p.HeldAt = append(p.HeldAt, held)
}

// backoff is a failing pool's state.
type backoff struct {
	until time.Time
	delay time.Duration
	// reason is why it failed (api.ReasonInsufficientCapacity, ...).
	reason, message string
}

// Autoscaler holds what the decision logic remembers between loops: when
// each trigger started to hold, backoffs, cooldowns. It is not safe for
// concurrent use: one loop at a time.
type Autoscaler struct {
	cfg      Config
	capacity CapacityCheck
	// highSince: when each pool's utilization went at or above the
	// threshold; lowSince: when each node's went under the lower one.
	highSince map[string]time.Time
	lowSince  map[string]time.Time
	backoffs  map[string]*backoff
	// grown: when each pool last grew; lastDown: the last scale-down.
	grown    map[string]time.Time
	lastDown time.Time
	// lent is the CPU (millicores) other pools were grown by for a hot
	// pool while its trigger holds: it counts as that pool's capacity, so
	// a burst is not asked for again on every loop.
	lent map[string]int64
	// said is the last no-action reason recorded per trigger key, so that
	// a decision not to act is recorded once, not on every loop.
	said map[string]string
}

// New returns an autoscaler; capacity may be nil.
func New(cfg Config, capacity CapacityCheck) *Autoscaler {
	return &Autoscaler{cfg: cfg.withDefaults(), capacity: capacity,
		highSince: map[string]time.Time{}, lowSince: map[string]time.Time{}, backoffs: map[string]*backoff{},
		grown: map[string]time.Time{}, said: map[string]string{}, lent: map[string]int64{}}
}

// Config returns the configuration in use, defaults filled in.
func (a *Autoscaler) Config() Config { return a.cfg }

// Decide runs one loop at now.
func (a *Autoscaler) Decide(ctx context.Context, snap *Snapshot, now time.Time) Plan {
	st := newState(a, snap, now)
	var plan Plan
	st.scaleUpForPending(ctx, &plan)
	st.scaleUpForUtilization(ctx, &plan)
	plan.GiveUps = st.givenUp
	// Pending pods no pool can hold do not keep idle nodes.
	if len(plan.ScaleUps) == 0 && !st.pendingServed {
		st.scaleDown(ctx, &plan)
	}
	a.forget(snap)
	plan.Wake = a.nextDue(now)
	return plan
}

// nextDue is the earliest moment after now at which a hot pool's window
// ends or its cooldown does; zero if none.
func (a *Autoscaler) nextDue(now time.Time) time.Time {
	var due time.Time
	consider := func(t time.Time) {
		if t.After(now) && (due.IsZero() || t.Before(due)) {
			due = t
		}
	}
	for pool, since := range a.highSince {
		consider(since.Add(a.cfg.ScaleUpWindow))
		if g, ok := a.grown[pool]; ok {
			consider(g.Add(a.cfg.ScaleUpCooldown))
		}
	}
	return due
}

// BackedOff reports whether pool is backed off at now, and why.
func (a *Autoscaler) BackedOff(pool string, now time.Time) (bool, string) {
	b, ok := a.backoffs[pool]
	if !ok || !now.Before(b.until) {
		return false, ""
	}
	return true, b.reason
}

// fail backs a pool off: BackoffInitial, doubling up to BackoffMax.
func (a *Autoscaler) fail(pool string, now time.Time, reason, message string) {
	b := a.backoffs[pool]
	if b == nil {
		b = &backoff{}
		a.backoffs[pool] = b
	}
	switch {
	case b.delay == 0:
		b.delay = a.cfg.BackoffInitial
	case now.After(b.until) || now.Equal(b.until):
		b.delay = min(2*b.delay, a.cfg.BackoffMax)
	}
	b.until, b.reason, b.message = now.Add(b.delay), reason, message
}

// noteNoAction reports whether a decision not to act on key for reason is
// new (and so to be recorded).
func (a *Autoscaler) noteNoAction(key, reason string) bool {
	if a.said[key] == reason {
		return false
	}
	a.said[key] = reason
	return true
}

// forget drops what it remembers of pools and nodes that are gone.
func (a *Autoscaler) forget(snap *Snapshot) {
	pools, nodes := map[string]bool{}, map[string]bool{}
	for _, p := range snap.Pools {
		pools[p.NodePool.Name] = true
	}
	for _, n := range snap.Nodes {
		nodes[n.Name] = true
	}
	for _, m := range []map[string]time.Time{a.highSince, a.grown} {
		for k := range m {
			if !pools[k] {
				delete(m, k)
			}
		}
	}
	for k := range a.backoffs {
		if !pools[k] {
			delete(a.backoffs, k)
		}
	}
	for k := range a.lent {
		if !pools[k] {
			delete(a.lent, k)
		}
	}
	for k := range a.lowSince {
		if !nodes[k] {
			delete(a.lowSince, k)
		}
	}
	for k := range a.said {
		if pool, ok := strings.CutPrefix(k, "utilization/"); ok && !pools[pool] {
			delete(a.said, k)
		} else if node, ok := strings.CutPrefix(k, "down/"); ok && !nodes[node] {
			delete(a.said, k)
		}
	}
}

// byPriority orders pools for growth: lower priority first, then name.
func byPriority(a, b *poolState) int {
	if c := cmp.Compare(a.pool.NodePool.Spec.Priority, b.pool.NodePool.Spec.Priority); c != 0 {
		return c
	}
	return cmp.Compare(a.pool.NodePool.Name, b.pool.NodePool.Name)
}

func sortedPools(ps []*poolState) []*poolState {
	out := slices.Clone(ps)
	slices.SortFunc(out, byPriority)
	return out
}
