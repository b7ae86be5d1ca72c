package plugins_test

import (
	"fmt"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

const (
	unsched = "Unschedulable: "
	unres   = "UnschedulableAndUnresolvable: "
)

func TestNodeResourcesFit(t *testing.T) {
	nodes := func() []*nodeinfo.NodeInfo {
		return []*nodeinfo.NodeInfo{
			newNode("empty", 2000, 2048),
			place(newNode("busy", 2000, 2048), makePod("a", 1500, 512)),
			place(newNode("full-mem", 2000, 2048), makePod("b", 100, 2000)),
			place(newNode("two-pods", 2000, 2048, maxPods(2)), makePod("c", 0, 0), makePod("d", 0, 0)),
			place(newNode("both", 1000, 1024), makePod("e", 900, 1000)),
			newNode("tiny", 100, 64),
		}
	}
	tests := []struct {
		name string
		pod  *api.Pod
		want map[string]string
	}{
		{"fits where room is left", makePod("p", 500, 512), map[string]string{
			"empty":    "ok",
			"busy":     "ok",
			"full-mem": unsched + "Insufficient memory",
			"two-pods": unsched + "Too many pods",
			"both":     unsched + "Insufficient cpu, Insufficient memory",
			"tiny":     unres + "Insufficient cpu, Insufficient memory",
		}},
		{"exactly full fits", makePod("p", 500, 1536), map[string]string{"busy": "ok", "empty": "ok"}},
		{"one milli over does not", makePod("p", 501, 0), map[string]string{"busy": unsched + "Insufficient cpu"}},
		{"zero requests fit on full nodes", makePod("p", 0, 0), map[string]string{
			"full-mem": "ok", "both": "ok", "two-pods": unsched + "Too many pods",
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkVerdicts(t, filterEach(t, plugins.NodeResourcesFit{}, tc.pod, nodes()), tc.want)
		})
	}
}

func TestNodeResourcesFitCountsLimitsAsRequests(t *testing.T) {
	p := makePod("p", 0, 0)
	p.Spec.Containers[0].Resources.Limits = api.ResourceList{api.ResourceCPU: api.NewMilliQuantity(600, api.DecimalSI)}
	got := filterEach(t, plugins.NodeResourcesFit{}, p, []*nodeinfo.NodeInfo{place(newNode("n", 1000, 1024), makePod("a", 500, 0))})
	checkVerdicts(t, got, map[string]string{"n": unsched + "Insufficient cpu"})
}

func TestNodeName(t *testing.T) {
	nodes := []*nodeinfo.NodeInfo{newNode("a", 1000, 1024), newNode("b", 1000, 1024)}
	p := makePod("p", 0, 0)
	checkVerdicts(t, filterEach(t, plugins.NodeName{}, p, nodes), map[string]string{"a": "ok", "b": "ok"})
	p.Spec.NodeName = "b"
	checkVerdicts(t, filterEach(t, plugins.NodeName{}, p, nodes), map[string]string{
		"a": unres + plugins.ReasonNodeName, "b": "ok",
	})
}

func TestNodeUnschedulable(t *testing.T) {
	nodes := []*nodeinfo.NodeInfo{newNode("open", 1000, 1024), newNode("cordoned", 1000, 1024, cordon)}
	tests := []struct {
		name string
		pod  *api.Pod
		want string // on the cordoned node
	}{
		{"plain pod", makePod("p", 0, 0), unres + "node(s) were unschedulable"},
		{"tolerates the cordon taint", makePod("p", 0, 0, tolerate(api.Toleration{Key: plugins.TaintNodeUnschedulable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule})), "ok"},
		{"tolerates everything", makePod("p", 0, 0, tolerate(api.Toleration{Operator: api.TolerationOpExists})), "ok"},
		{"tolerates only NoExecute", makePod("p", 0, 0, tolerate(api.Toleration{Key: plugins.TaintNodeUnschedulable, Operator: api.TolerationOpExists, Effect: api.TaintEffectNoExecute})), unres + "node(s) were unschedulable"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkVerdicts(t, filterEach(t, plugins.NodeUnschedulable{}, tc.pod, nodes), map[string]string{"open": "ok", "cordoned": tc.want})
		})
	}
}

func TestNodeReady(t *testing.T) {
	nodes := []*nodeinfo.NodeInfo{newNode("ready", 1000, 1024), newNode("down", 1000, 1024, notReady)}
	noCond := newNode("unknown", 1000, 1024)
	noCond.Node.Status.Conditions = nil
	noCond.SetNode(noCond.Node)
	nodes = append(nodes, noCond)
	checkVerdicts(t, filterEach(t, plugins.NodeReady{}, makePod("p", 0, 0), nodes), map[string]string{
		"ready": "ok", "down": unres + "node(s) were not ready", "unknown": unres + "node(s) were not ready",
	})
	tol := makePod("p", 0, 0, tolerate(api.Toleration{Key: plugins.TaintNodeNotReady, Operator: api.TolerationOpExists}))
	checkVerdicts(t, filterEach(t, plugins.NodeReady{}, tol, nodes), map[string]string{"down": "ok"})
}

func TestTaintTolerationFilter(t *testing.T) {
	nodes := []*nodeinfo.NodeInfo{
		newNode("clean", 1000, 1024),
		newNode("gpu", 1000, 1024, taint("gpu", "true", api.TaintEffectNoSchedule)),
		newNode("draining", 1000, 1024, taint("drain", "", api.TaintEffectNoExecute)),
		newNode("soft", 1000, 1024, taint("spot", "", api.TaintEffectPreferNoSchedule)),
	}
	untol := unres + "node(s) had untolerated taint"
	tests := []struct {
		name string
		pod  *api.Pod
		want map[string]string
	}{
		{"no tolerations", makePod("p", 0, 0), map[string]string{"clean": "ok", "gpu": untol, "draining": untol, "soft": "ok"}},
		{"equal toleration", makePod("p", 0, 0, tolerate(api.Toleration{Key: "gpu", Operator: api.TolerationOpEqual, Value: "true", Effect: api.TaintEffectNoSchedule})),
			map[string]string{"gpu": "ok", "draining": untol}},
		{"wrong value", makePod("p", 0, 0, tolerate(api.Toleration{Key: "gpu", Operator: api.TolerationOpEqual, Value: "false"})),
			map[string]string{"gpu": untol}},
		{"exists any effect", makePod("p", 0, 0, tolerate(api.Toleration{Key: "drain", Operator: api.TolerationOpExists})),
			map[string]string{"draining": "ok", "gpu": untol}},
		{"wrong effect", makePod("p", 0, 0, tolerate(api.Toleration{Key: "drain", Operator: api.TolerationOpExists, Effect: api.TaintEffectNoSchedule})),
			map[string]string{"draining": untol}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkVerdicts(t, filterEach(t, plugins.TaintToleration{}, tc.pod, nodes), tc.want)
		})
	}
}

func TestNodeAffinityFilter(t *testing.T) {
	nodes := []*nodeinfo.NodeInfo{
		newNode("ssd-a", 1000, 1024, label("disk", "ssd", api.LabelZone, "a", "cores", "8")),
		newNode("hdd-b", 1000, 1024, label("disk", "hdd", api.LabelZone, "b", "cores", "4")),
		newNode("bare", 1000, 1024),
	}
	miss := unres + "node(s) didn't match Pod's node affinity/selector"
	tests := []struct {
		name string
		pod  *api.Pod
		want map[string]string
	}{
		{"no constraints", makePod("p", 0, 0), map[string]string{"ssd-a": "ok", "hdd-b": "ok", "bare": "ok"}},
		{"nodeSelector", makePod("p", 0, 0, nodeSelector("disk", "ssd")), map[string]string{"ssd-a": "ok", "hdd-b": miss, "bare": miss}},
		{"In", makePod("p", 0, 0, required(term(api.LabelZone, api.NodeSelectorOpIn, "b", "c"))), map[string]string{"ssd-a": miss, "hdd-b": "ok", "bare": miss}},
		{"NotIn passes nodes without the label", makePod("p", 0, 0, required(term("disk", api.NodeSelectorOpNotIn, "hdd"))), map[string]string{"ssd-a": "ok", "hdd-b": miss, "bare": "ok"}},
		{"Exists", makePod("p", 0, 0, required(term("disk", api.NodeSelectorOpExists))), map[string]string{"ssd-a": "ok", "hdd-b": "ok", "bare": miss}},
		{"DoesNotExist", makePod("p", 0, 0, required(term("disk", api.NodeSelectorOpDoesNotExist))), map[string]string{"ssd-a": miss, "bare": "ok"}},
		{"Gt", makePod("p", 0, 0, required(term("cores", api.NodeSelectorOpGt, "4"))), map[string]string{"ssd-a": "ok", "hdd-b": miss, "bare": miss}},
		{"terms are ORed", makePod("p", 0, 0, required(term("disk", api.NodeSelectorOpIn, "ssd"), term(api.LabelZone, api.NodeSelectorOpIn, "b"))), map[string]string{"ssd-a": "ok", "hdd-b": "ok", "bare": miss}},
		{"selector and affinity both apply", makePod("p", 0, 0, nodeSelector("disk", "ssd"), required(term(api.LabelZone, api.NodeSelectorOpIn, "b"))), map[string]string{"ssd-a": miss, "hdd-b": miss}},
		{"metadata.name field", makePod("p", 0, 0, required(api.NodeSelectorTerm{MatchFields: []api.NodeSelectorRequirement{{Key: "metadata.name", Operator: api.NodeSelectorOpIn, Values: []string{"bare"}}}})), map[string]string{"ssd-a": miss, "bare": "ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkVerdicts(t, filterEach(t, plugins.NodeAffinity{}, tc.pod, nodes), tc.want)
		})
	}
}

func TestNodePorts(t *testing.T) {
	nodes := func() []*nodeinfo.NodeInfo {
		return []*nodeinfo.NodeInfo{
			newNode("free", 1000, 1024),
			place(newNode("web", 1000, 1024), makePod("w", 0, 0, hostPort(80, api.ProtocolTCP))),
			place(newNode("dns", 1000, 1024), makePod("d", 0, 0, hostPort(53, api.ProtocolUDP))),
		}
	}
	taken := unsched + "node(s) didn't have free ports for the requested pod ports"
	tests := []struct {
		name string
		pod  *api.Pod
		want map[string]string
	}{
		{"no host port", makePod("p", 0, 0), map[string]string{"free": "ok", "web": "ok", "dns": "ok"}},
		{"port 80", makePod("p", 0, 0, hostPort(80, api.ProtocolTCP)), map[string]string{"free": "ok", "web": taken, "dns": "ok"}},
		{"default protocol is TCP", makePod("p", 0, 0, hostPort(80, "")), map[string]string{"web": taken}},
		{"same port other protocol", makePod("p", 0, 0, hostPort(53, api.ProtocolTCP)), map[string]string{"dns": "ok"}},
		{"one of two taken", makePod("p", 0, 0, hostPort(8080, api.ProtocolTCP), hostPort(53, api.ProtocolUDP)), map[string]string{"free": "ok", "web": "ok", "dns": taken}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			checkVerdicts(t, filterEach(t, plugins.NodePorts{}, tc.pod, nodes()), tc.want)
		})
	}
}

func TestDuplicatePodName(t *testing.T) {
	old := makePod("web-0", 0, 0, withUID("old"), terminating)
	nodes := []*nodeinfo.NodeInfo{
		place(newNode("has-old", 1000, 1024), old),
		place(newNode("other-ns", 1000, 1024), makePod("web-0", 0, 0, inNamespace("prod"))),
		newNode("empty", 1000, 1024),
	}
	dup := unres + "node(s) already run a pod with this name"
	checkVerdicts(t, filterEach(t, plugins.DuplicatePodName{}, makePod("web-0", 0, 0, withUID("new")), nodes), map[string]string{
		"has-old": dup, "other-ns": "ok", "empty": "ok",
	})
	// A crowded node is looked up by key rather than scanned.
	crowded := newNode("crowded", 1000, 1024)
	for i := range 20 {
		place(crowded, makePod(fmt.Sprintf("x-%d", i), 0, 0))
	}
	place(crowded, makePod("web-0", 0, 0, withUID("old")))
	checkVerdicts(t, filterEach(t, plugins.DuplicatePodName{}, makePod("web-0", 0, 0, withUID("new")), []*nodeinfo.NodeInfo{crowded}), map[string]string{"crowded": dup})
	checkVerdicts(t, filterEach(t, plugins.DuplicatePodName{}, makePod("web-1", 0, 0, withUID("new")), []*nodeinfo.NodeInfo{crowded}), map[string]string{"crowded": "ok"})
	// The same pod (same uid) already assumed on the node is not a duplicate.
	checkVerdicts(t, filterEach(t, plugins.DuplicatePodName{}, makePod("web-0", 0, 0, withUID("old")), nodes), map[string]string{"has-old": "ok"})
}
