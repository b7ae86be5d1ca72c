package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// LeastMeasuredCPU is the founding design's "node with the lowest CPU use
// wins": it scores the share of the node's allocatable CPU that its agent
// last measured as unused (nodeinfo.UsageMilliCPU), so the least busy node
// wins whatever its pods request. A node with no measurement yet gets a
// neutral score: the mean of the measured nodes being scored, so it neither
// wins nor loses on this count.
type LeastMeasuredCPU struct{}

// Name is the plugin's name.
func (LeastMeasuredCPU) Name() string { return "LeastMeasuredCPU" }

// Score is the unused share of the node's CPU, 0..MaxScore, or -1 when
// the node has no measurement (resolved by NormalizeScore).
func (LeastMeasuredCPU) Score(_ context.Context, _ *framework.CycleState, _ *api.Pod, n *nodeinfo.NodeInfo) (int64, *framework.Status) {
	if n.UsageMilliCPU < 0 || n.AllocMilliCPU <= 0 {
		return -1, nil
	}
	used := min(n.UsageMilliCPU, n.AllocMilliCPU)
	return (n.AllocMilliCPU - used) * framework.MaxScore / n.AllocMilliCPU, nil
}

// NormalizeScore gives unmeasured nodes the mean score of measured ones
// (MaxScore/2 when none is measured).
func (LeastMeasuredCPU) NormalizeScore(_ context.Context, _ *framework.CycleState, _ *api.Pod, scores []framework.CandidateScore) *framework.Status {
	var sum, n int64
	for _, s := range scores {
		if s.Score >= 0 {
			sum += s.Score
			n++
		}
	}
	neutral := framework.MaxScore / 2
	if n > 0 {
		neutral = sum / n
	}
	for i := range scores {
		if scores[i].Score < 0 {
			scores[i].Score = neutral
		}
	}
	return nil
}
