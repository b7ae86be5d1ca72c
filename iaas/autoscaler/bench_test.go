package autoscaler

import (
	"context"
	"fmt"
	"testing"
	"time"
)

// benchWorld: 5,000 nodes of 8 CPUs in 20 pools, 10 pods of 500m on each.
func benchWorld(hot bool, pending int) *world {
	w := newWorld()
	for i := range 20 {
		name := fmt.Sprintf("pool-%02d", i)
		w.pool(name, int32(i), 1, 400, 250, 250, 8)
		frac := 0.3
		if hot && i%2 == 0 {
			frac = 0.9
		}
		w.use(name, frac)
		for j, n := range w.pools[name].Nodes {
			for k := range 10 {
				w.bind(fmt.Sprintf("%s-%d-%d", name, j, k), n.Name, "500m", nil)
			}
		}
	}
	w.pending("burst", pending, "1")
	return w
}

// BenchmarkDecide5000Nodes: one loop over 5,000 nodes in 20 pools (50,000
// pods). Growing: half the pools hot and 50 pending pods. Shrinking:
// every node idle past its window, so scale-down candidates are checked
// (their pods fitted on the other nodes by the scheduler's filters).
func BenchmarkDecide5000Nodes(b *testing.B) {
	for _, tc := range []struct {
		name    string
		hot     bool
		pending int
	}{{"growing", true, 50}, {"shrinking", false, 0}} {
		b.Run(tc.name, func(b *testing.B) {
			snap := benchWorld(tc.hot, tc.pending).snapshot()
			a := New(Config{ScaleDownCooldown: time.Nanosecond}, nil)
			ctx := context.Background()
			a.Decide(ctx, snap, t0)
			b.ResetTimer()
			for i := range b.N {
				a.Decide(ctx, snap, t0.Add(time.Hour+time.Duration(i)*time.Second))
			}
		})
	}
}
