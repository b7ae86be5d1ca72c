package plugins_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// Builders of nodes and pods for the tests.

type nodeOpt func(*api.Node)

const mi = 1 << 20

func makeNode(name string, milliCPU, memMi int64, opts ...nodeOpt) *api.Node {
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: name, Labels: map[string]string{api.LabelHostname: name}}}
	n.Status.Allocatable = api.ResourceList{
		api.ResourceCPU:    api.NewMilliQuantity(milliCPU, api.DecimalSI),
		api.ResourceMemory: api.NewQuantity(memMi*mi, api.BinarySI),
	}
	n.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	for _, o := range opts {
		o(n)
	}
	return n
}

func newNode(name string, milliCPU, memMi int64, opts ...nodeOpt) *nodeinfo.NodeInfo {
	return nodeinfo.New(makeNode(name, milliCPU, memMi, opts...))
}

func label(kv ...string) nodeOpt {
	return func(n *api.Node) {
		for i := 0; i+1 < len(kv); i += 2 {
			n.Labels[kv[i]] = kv[i+1]
		}
	}
}

func unlabel(k string) nodeOpt { return func(n *api.Node) { delete(n.Labels, k) } }

func taint(key, value string, effect api.TaintEffect) nodeOpt {
	return func(n *api.Node) {
		n.Spec.Taints = append(n.Spec.Taints, api.Taint{Key: key, Value: value, Effect: effect})
	}
}

func cordon(n *api.Node) { n.Spec.Unschedulable = true }

func notReady(n *api.Node) { n.Status.Conditions[0].Status = api.ConditionFalse }

func maxPods(c int64) nodeOpt {
	return func(n *api.Node) { n.Status.Allocatable[api.ResourcePods] = api.NewQuantity(c, api.DecimalSI) }
}

func usage(milliCPU int64) nodeOpt {
	return func(n *api.Node) {
		n.Status.Usage = &api.NodeUsage{Node: api.ResourceList{api.ResourceCPU: api.NewMilliQuantity(milliCPU, api.DecimalSI)}}
	}
}

type podOpt func(*api.Pod)

func makePod(name string, milliCPU, memMi int64, opts ...podOpt) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default", UID: "uid-" + name}}
	c := api.Container{Name: "c", Image: "img"}
	if milliCPU > 0 || memMi > 0 {
		c.Resources.Requests = api.ResourceList{}
	}
	if milliCPU > 0 {
		c.Resources.Requests[api.ResourceCPU] = api.NewMilliQuantity(milliCPU, api.DecimalSI)
	}
	if memMi > 0 {
		c.Resources.Requests[api.ResourceMemory] = api.NewQuantity(memMi*mi, api.BinarySI)
	}
	p.Spec.Containers = []api.Container{c}
	for _, o := range opts {
		o(p)
	}
	return p
}

func podLabels(kv ...string) podOpt {
	return func(p *api.Pod) {
		if p.Labels == nil {
			p.Labels = map[string]string{}
		}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Labels[kv[i]] = kv[i+1]
		}
	}
}

func inNamespace(ns string) podOpt { return func(p *api.Pod) { p.Namespace = ns } }

func withUID(uid string) podOpt { return func(p *api.Pod) { p.UID = uid } }

func ownedBy(uid string) podOpt {
	return func(p *api.Pod) {
		yes := true
		p.OwnerReferences = []api.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "rs-" + uid, UID: uid, Controller: &yes}}
	}
}

func hostPort(port int32, proto api.Protocol) podOpt {
	return func(p *api.Pod) {
		p.Spec.Containers[0].Ports = append(p.Spec.Containers[0].Ports, api.ContainerPort{ContainerPort: port, HostPort: port, Protocol: proto})
	}
}

func tolerate(t api.Toleration) podOpt {
	return func(p *api.Pod) { p.Spec.Tolerations = append(p.Spec.Tolerations, t) }
}

func nodeSelector(kv ...string) podOpt {
	return func(p *api.Pod) {
		p.Spec.NodeSelector = map[string]string{}
		for i := 0; i+1 < len(kv); i += 2 {
			p.Spec.NodeSelector[kv[i]] = kv[i+1]
		}
	}
}

func required(terms ...api.NodeSelectorTerm) podOpt {
	return func(p *api.Pod) {
		nodeAff(p).Required = &api.NodeSelector{NodeSelectorTerms: terms}
	}
}

func preferred(weight int32, term api.NodeSelectorTerm) podOpt {
	return func(p *api.Pod) {
		na := nodeAff(p)
		na.Preferred = append(na.Preferred, api.PreferredSchedulingTerm{Weight: weight, Preference: term})
	}
}

func nodeAff(p *api.Pod) *api.NodeAffinity {
	if p.Spec.Affinity == nil {
		p.Spec.Affinity = &api.Affinity{}
	}
	if p.Spec.Affinity.NodeAffinity == nil {
		p.Spec.Affinity.NodeAffinity = &api.NodeAffinity{}
	}
	return p.Spec.Affinity.NodeAffinity
}

func term(key string, op api.NodeSelectorOperator, values ...string) api.NodeSelectorTerm {
	return api.NodeSelectorTerm{MatchExpressions: []api.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}}
}

func spread(maxSkew int32, key string, when api.UnsatisfiableConstraintAction, matchLabels ...string) podOpt {
	return func(p *api.Pod) {
		sel := &api.LabelSelector{MatchLabels: map[string]string{}}
		for i := 0; i+1 < len(matchLabels); i += 2 {
			sel.MatchLabels[matchLabels[i]] = matchLabels[i+1]
		}
		p.Spec.TopologySpreadConstraints = append(p.Spec.TopologySpreadConstraints,
			api.TopologySpreadConstraint{MaxSkew: maxSkew, TopologyKey: key, WhenUnsatisfiable: when, LabelSelector: sel})
	}
}

func priority(v int32) podOpt { return func(p *api.Pod) { p.Spec.Priority = &v } }

func terminating(p *api.Pod) {
	t := api.Now()
	p.DeletionTimestamp = &t
}

// place puts pods on a node.
func place(n *nodeinfo.NodeInfo, pods ...*api.Pod) *nodeinfo.NodeInfo {
	for _, p := range pods {
		p.Spec.NodeName = n.Name
		n.AddPod(nodeinfo.NewPodInfo(p))
	}
	return n
}

// stateFor returns a cycle state holding a snapshot of nodes.
func stateFor(nodes []*nodeinfo.NodeInfo) *framework.CycleState {
	s := framework.NewCycleState()
	s.Write(nodeinfo.SnapshotKey, nodeinfo.NewSnapshot(nodes))
	return s
}

type podFilter = framework.FilterPlugin[*api.Pod, *nodeinfo.NodeInfo]

// verdict is a filter's outcome on one node, as "ok" or "<code>: <reasons>".
func verdict(st *framework.Status) string {
	if st.IsSuccess() {
		return "ok"
	}
	return fmt.Sprintf("%s: %s", st.Code(), st.Message())
}

// filterEach runs pl's PreFilter (if any) and then its Filter on every
// node; a PreFilter Skip reads as "ok" everywhere.
func filterEach(t *testing.T, pl podFilter, pod *api.Pod, nodes []*nodeinfo.NodeInfo) map[string]string {
	t.Helper()
	ctx := context.Background()
	s := stateFor(nodes)
	out := map[string]string{}
	if pf, ok := pl.(framework.PreFilterPlugin[*api.Pod]); ok {
		st := pf.PreFilter(ctx, s, pod)
		if st.IsSkip() {
			for _, n := range nodes {
				out[n.Name] = "ok"
			}
			return out
		}
		if !st.IsSuccess() {
			t.Fatalf("PreFilter: %v", st.Err())
		}
	}
	for _, n := range nodes {
		out[n.Name] = verdict(pl.Filter(ctx, s, pod, n))
	}
	return out
}

type podScorer = framework.ScorePlugin[*api.Pod, *nodeinfo.NodeInfo]

// scoreEach runs pl's PreScore (if any), Score on every node and its
// NormalizeScore (if any); a PreScore Skip returns nil.
func scoreEach(t *testing.T, pl podScorer, pod *api.Pod, nodes []*nodeinfo.NodeInfo) map[string]int64 {
	t.Helper()
	ctx := context.Background()
	s := stateFor(nodes)
	if ps, ok := pl.(framework.PreScorePlugin[*api.Pod, *nodeinfo.NodeInfo]); ok {
		st := ps.PreScore(ctx, s, pod, nodes)
		if st.IsSkip() {
			return nil
		}
		if !st.IsSuccess() {
			t.Fatalf("PreScore: %v", st.Err())
		}
	}
	scores := make([]framework.CandidateScore, len(nodes))
	for i, n := range nodes {
		v, st := pl.Score(ctx, s, pod, n)
		if !st.IsSuccess() {
			t.Fatalf("Score %s: %v", n.Name, st.Err())
		}
		scores[i] = framework.CandidateScore{Name: n.Name, Score: v}
	}
	if norm, ok := pl.(framework.ScoreNormalizer[*api.Pod]); ok {
		if st := norm.NormalizeScore(ctx, s, pod, scores); !st.IsSuccess() {
			t.Fatalf("NormalizeScore: %v", st.Err())
		}
	}
	out := map[string]int64{}
	for _, sc := range scores {
		if sc.Score < 0 || sc.Score > framework.MaxScore {
			t.Fatalf("%s scored %d, outside 0..%d", sc.Name, sc.Score, framework.MaxScore)
		}
		out[sc.Name] = sc.Score
	}
	return out
}

func checkVerdicts(t *testing.T, got, want map[string]string) {
	t.Helper()
	for name, w := range want {
		if got[name] != w {
			t.Errorf("%s: got %q, want %q", name, got[name], w)
		}
	}
}

func sprint(v any) string { return fmt.Sprint(v) }
