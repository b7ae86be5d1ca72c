// Package plugins holds the filter and score plugins that place pods on
// nodes, one small file per plugin, and NewPodProfile, the one function
// that wires them into a framework profile. Plugins read only the cycle's
// snapshot (scheduler/nodeinfo) and the CycleState: no store, no HTTP.
package plugins

import (
	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// Score weights of the pod profile. A node's total is the sum of each
// plugin's normalized score (0..framework.MaxScore) times its weight.
const (
	// WeightLeastAllocated favours nodes with the most unrequested room.
	WeightLeastAllocated int64 = 1
	// WeightBalancedAllocation favours nodes whose cpu and memory would be
	// requested in equal proportion.
	WeightBalancedAllocation int64 = 1
	// WeightLeastMeasuredCPU favours the node whose measured CPU use is
	// lowest (the founding design's "lowest CPU use wins").
	WeightLeastMeasuredCPU int64 = 1
	// WeightNodeAffinity weighs the pod's preferred node affinity terms.
	WeightNodeAffinity int64 = 2
	// WeightTaintToleration weighs avoiding untolerated PreferNoSchedule
	// taints.
	WeightTaintToleration int64 = 3
	// WeightPodTopologySpread weighs the pod's ScheduleAnyway spread
	// constraints.
	WeightPodTopologySpread int64 = 2
	// WeightDefaultSpread weighs the default spreading of an owner's pods
	// over hypervisors then nodes. It is large on purpose: the hypervisor
	// part (2/3 of the plugin's score) outweighs the node part plus the
	// three resource and usage scores together, and the node part outweighs
	// those three scores, so replicas go to the hypervisor (then the node)
	// with the fewest of their siblings whenever one has room. Explicit
	// preferences (preferred node affinity, PreferNoSchedule taints) can
	// still override it.
	WeightDefaultSpread int64 = 10
)

// Options tune the pod profile.
type Options struct {
	// PercentageToScore: see framework.Profile (0 is adaptive).
	PercentageToScore int
	// Parallelism: see framework.Profile (0 is GOMAXPROCS).
	Parallelism int
}

// NewPodProfile returns the plugins that place pods on nodes, in the order
// they run. Filters that reject for good (cordon, node name, readiness,
// taints, affinity, duplicate name) run before those that preemption could
// satisfy (ports, resources, spread), so that a node's rejection code says
// whether evicting pods could help.
//
// Scores and weights: NodeResourcesLeastAllocated 1,
// NodeResourcesBalancedAllocation 1, LeastMeasuredCPU 1, NodeAffinity 2,
// TaintToleration 3, PodTopologySpread 2 (ScheduleAnyway constraints),
// DefaultHypervisorSpread 10 (pods with an owner and no constraints of
// their own).
func NewPodProfile(opts Options) framework.Profile[*api.Pod, *nodeinfo.NodeInfo] {
	pods := &podInfoCache{}
	fit := NodeResourcesFit{pods: pods}
	ports := NodePorts{pods: pods}
	dup := DuplicatePodName{pods: pods}
	aff := NodeAffinity{}
	taints := TaintToleration{}
	spread := PodTopologySpread{}
	def := DefaultSpread{pods: pods}
	return framework.Profile[*api.Pod, *nodeinfo.NodeInfo]{
		PreFilters: []framework.PreFilterPlugin[*api.Pod]{fit, ports, dup, aff, spread},
		Filters: []framework.FilterPlugin[*api.Pod, *nodeinfo.NodeInfo]{
			NodeUnschedulable{}, NodeName{}, NodeReady{}, taints, aff, dup, ports, fit, spread,
		},
		PreScores: []framework.PreScorePlugin[*api.Pod, *nodeinfo.NodeInfo]{aff, taints, spread, def},
		Scores: []framework.WeightedScore[*api.Pod, *nodeinfo.NodeInfo]{
			{Plugin: LeastAllocated{pods: pods}, Weight: WeightLeastAllocated},
			{Plugin: BalancedAllocation{pods: pods}, Weight: WeightBalancedAllocation},
			{Plugin: LeastMeasuredCPU{}, Weight: WeightLeastMeasuredCPU},
			{Plugin: aff, Weight: WeightNodeAffinity},
			{Plugin: taints, Weight: WeightTaintToleration},
			{Plugin: spread, Weight: WeightPodTopologySpread},
			{Plugin: def, Weight: WeightDefaultSpread},
		},
		PercentageToScore: opts.PercentageToScore,
		Parallelism:       opts.Parallelism,
	}
}
