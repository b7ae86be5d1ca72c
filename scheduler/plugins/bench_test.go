package plugins_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

// benchCluster is 5,000 nodes over 500 hypervisors and 5 zones, each with
// two pods of 100 owners (app=web-<owner>), some usage measured.
func benchCluster() []*nodeinfo.NodeInfo {
	nodes := make([]*nodeinfo.NodeInfo, 5000)
	for i := range nodes {
		opts := []nodeOpt{label(hv, fmt.Sprintf("h%03d", i%500), api.LabelZone, fmt.Sprintf("z%d", i%5))}
		if i%2 == 0 {
			opts = append(opts, usage(int64(i%4000)))
		}
		n := newNode(fmt.Sprintf("node-%04d", i), 8000, 16384, opts...)
		for j := range 2 {
			owner := fmt.Sprintf("rs%02d", (i*2+j)%100)
			place(n, makePod(fmt.Sprintf("p-%d-%d", i, j), 500, 512, ownedBy(owner), podLabels("app", "web-"+owner)))
		}
		nodes[i] = n
	}
	return nodes
}

func benchSchedule(b *testing.B, pod *api.Pod) {
	nodes := benchCluster()
	snap := nodeinfo.NewSnapshot(nodes)
	fw := framework.New(plugins.NewPodProfile(plugins.Options{}))
	ctx := context.Background()
	// Two copies of the pod, alternating, so that every cycle derives the
	// pod's PodInfo afresh as it would for a new pod.
	second := *pod
	pods := [2]*api.Pod{pod, &second}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		s := framework.NewCycleState()
		s.Write(nodeinfo.SnapshotKey, snap)
		if _, err := fw.Schedule(ctx, s, pods[i%2], nodes); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkSchedule5000Nodes is one scheduling cycle of a replica (default
// hypervisor spreading) over 5,000 nodes holding 2 pods each.
func BenchmarkSchedule5000Nodes(b *testing.B) {
	benchSchedule(b, makePod("new", 250, 256, ownedBy("rs07"), podLabels("app", "web-rs07")))
}

// BenchmarkSchedule5000NodesSpread is the same with a DoNotSchedule
// hypervisor constraint and a ScheduleAnyway zone one, which count matching
// pods over every node.
func BenchmarkSchedule5000NodesSpread(b *testing.B) {
	benchSchedule(b, makePod("new", 250, 256, ownedBy("rs07"), podLabels("app", "web-rs07"),
		spread(1, hv, api.DoNotSchedule, "app", "web-rs07"), spread(1, api.LabelZone, api.ScheduleAnyway, "app", "web-rs07")))
}

// BenchmarkSchedule5000NodesNoOwner is a pod with no owner: no spreading.
func BenchmarkSchedule5000NodesNoOwner(b *testing.B) {
	benchSchedule(b, makePod("new", 250, 256))
}
