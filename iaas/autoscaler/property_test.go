package autoscaler

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas/nodepool"
	"pgregory.net/rapid"
)

// loop is the period of the simulated loops.
const loop = 5 * time.Second

// sim is a small world for property tests: pools whose machines boot in
// a few loops and whose Ready nodes share a total CPU load evenly.
type sim struct {
	w      *world
	bootAt map[string]int // machine -> loop it joins
	seq    int
	boot   int
}

func newSim(w *world, boot int) *sim {
	return &sim{w: w, bootAt: map[string]int{}, boot: boot}
}

// reconcile plays the NodePool controller and the machines: marked
// machines go, missing ones are made, surplus booting ones removed,
// booting ones join when due.
func (s *sim) reconcile(k int) {
	for _, name := range s.w.order {
		p := s.w.pools[name]
		var keep []*api.Machine
		for _, m := range p.Machines {
			if m.Annotations[nodepool.AnnotationScaleDown] == "" {
				keep = append(keep, m)
			}
		}
		p.Machines = keep
		want := nodepool.DesiredReplicas(p.NodePool)
		for len(p.Machines) < want {
			s.seq++
			m := &api.Machine{ObjectMeta: api.ObjectMeta{Name: fmt.Sprintf("%s-n%d", name, s.seq)}, Status: api.MachineStatus{Phase: api.MachineProvisioning}}
			s.bootAt[m.Name] = k + s.boot
			p.Machines = append(p.Machines, m)
		}
		for len(p.Machines) > want && p.Machines[len(p.Machines)-1].Status.Phase != api.MachineJoined {
			p.Machines = p.Machines[:len(p.Machines)-1]
		}
		var nodes []*api.Node
		for _, m := range p.Machines {
			if m.Status.Phase != api.MachineJoined && s.bootAt[m.Name] <= k {
				m.Status.Phase = api.MachineJoined
			}
			if m.Status.Phase == api.MachineJoined {
				nodes = append(nodes, node(m.Name, name, p.NodePool.Spec.VCPUs, 0))
			}
		}
		p.Nodes = nodes
	}
}

// load spreads a pool's total pod CPU use (millicores) over its nodes.
func (s *sim) load(pool string, milli int64) {
	nodes := s.w.pools[pool].Nodes
	for _, n := range nodes {
		alloc := n.Status.Allocatable[api.ResourceCPU]
		setUse(n, min(1, float64(milli)/float64(len(nodes))/float64(alloc.MilliValue())))
	}
}

func (s *sim) booting(pool string) int {
	n := 0
	for _, m := range s.w.pools[pool].Machines {
		if m.Status.Phase != api.MachineJoined {
			n++
		}
	}
	return n
}

// checkBounds: a plan never takes a pool above its max or below its min.
func checkBounds(t *rapid.T, w *world, plan Plan) {
	for _, u := range plan.ScaleUps {
		if sp := w.pools[u.Pool].NodePool.Spec; u.Replicas > sp.MaxSize {
			t.Fatalf("pool %s grown to %d, above its max %d", u.Pool, u.Replicas, sp.MaxSize)
		}
	}
	for _, d := range plan.ScaleDowns {
		if sp := w.pools[d.Pool].NodePool.Spec; d.Replicas < sp.MinSize {
			t.Fatalf("pool %s shrunk to %d, below its min %d", d.Pool, d.Replicas, sp.MinSize)
		}
	}
}

// TestPropertyBoundsAndNoDoubleRequest: under a constant load, pools stay
// within min..max, and the CPU asked for never exceeds what the load needs
// at the target (or what there was) by more than a node's rounding per
// pool and per burst: machines still booting are not asked for again
// (the loop runs every 5 s and machines take up to 30 loops to boot, so a
// double request would soon break the bound).
func TestPropertyBoundsAndNoDoubleRequest(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld()
		names := []string{"private", "public"}
		for i, name := range names {
			lo := int32(rapid.IntRange(0, 3).Draw(t, name+"-min"))
			hi := lo + int32(rapid.IntRange(1, 6).Draw(t, name+"-max"))
			r := lo + int32(rapid.IntRange(0, int(hi-lo)).Draw(t, name+"-replicas"))
			w.pool(name, int32(i*10), lo, hi, r, r, int32(rapid.IntRange(2, 8).Draw(t, name+"-vcpus")))
		}
		s := newSim(w, rapid.IntRange(1, 30).Draw(t, "boot"))
		// The load fits on the nodes there are, so that what they report is
		// the whole demand (a node reports at most 100%, and more growth
		// once new nodes show more of the demand is not a double request).
		loads := map[string]int64{}
		for _, name := range names {
			var alloc int64
			for _, n := range w.pools[name].Nodes {
				alloc += allocMilli(n)
			}
			loads[name] = int64(rapid.Float64Range(0, 1).Draw(t, name+"-load") * float64(alloc))
		}
		perNode := map[string]int64{}
		var bound, most int64
		for _, name := range names {
			p := w.pools[name]
			perNode[name] = int64(p.NodePool.Spec.VCPUs)*1000 - 100
			most = max(most, perNode[name])
			bound += max(int64(replicas(p))*perNode[name], int64(float64(loads[name])/0.7+1))
		}
		bound += 2 * int64(len(names)) * most
		a := New(Config{ScaleDownWindow: time.Minute}, nil)
		for k := range 100 {
			s.reconcile(k)
			for _, name := range names {
				s.load(name, loads[name])
			}
			plan := a.Decide(context.Background(), w.snapshot(), t0.Add(time.Duration(k)*loop))
			checkBounds(t, w, plan)
			w.apply(plan)
			var asked int64
			for _, name := range names {
				asked += int64(replicas(w.pools[name])) * perNode[name]
			}
			if asked > bound {
				t.Fatalf("loop %d: %dm of CPU asked for, more than %dm (booting %d and %d; decisions %+v)",
					k, asked, bound, s.booting("private"), s.booting("public"), plan.Decisions)
			}
		}
	})
}

// TestPropertyNoFlapping: a load oscillating around the scale-up
// threshold faster than the window grows nothing, and one oscillating
// around the scale-down threshold faster than its window shrinks
// nothing; whatever the load, no pool shrinks soon after it grew.
func TestPropertyNoFlapping(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		w := newWorld()
		w.pool("private", 0, 1, 10, 3, 3, 4)
		s := newSim(w, rapid.IntRange(1, 6).Draw(t, "boot"))
		cfg := Config{ScaleDownWindow: 2 * time.Minute}
		a := New(cfg.withDefaults(), nil)
		window := int(a.cfg.ScaleUpWindow / loop)
		high := rapid.IntRange(1, window-1).Draw(t, "high loops")
		low := rapid.IntRange(1, 4).Draw(t, "low loops")
		around := rapid.SampledFrom([]float64{0.8, 0.5}).Draw(t, "around")
		amp := rapid.Float64Range(0.01, 0.15).Draw(t, "amplitude")
		var grewAt time.Time
		for k := range 200 {
			s.reconcile(k)
			frac := around - amp
			if k%(high+low) < high {
				frac = around + amp
			}
			w.use("private", frac)
			now := t0.Add(time.Duration(k) * loop)
			plan := a.Decide(context.Background(), w.snapshot(), now)
			checkBounds(t, w, plan)
			if around == 0.8 && len(plan.ScaleUps) > 0 {
				t.Fatalf("loop %d: grew on a load oscillating around 80%% every %d/%d loops: %+v", k, high, low, plan.Decisions)
			}
			if around == 0.5 && len(plan.ScaleDowns) > 0 {
				t.Fatalf("loop %d: shrank on a load oscillating around 50%% every %d/%d loops: %+v", k, high, low, plan.Decisions)
			}
			if len(plan.ScaleUps) > 0 {
				grewAt = now
			}
			if len(plan.ScaleDowns) > 0 && !grewAt.IsZero() && now.Sub(grewAt) < a.cfg.ScaleDownDelayAfterUp {
				t.Fatalf("loop %d: shrank %v after growing", k, now.Sub(grewAt))
			}
			w.apply(plan)
		}
	})
}
