package plugins_test

import (
	"errors"
	"fmt"
	"testing"

	"pgregory.net/rapid"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// genCluster draws nodes over hypervisors with mixed sizes, some cordoned,
// not ready or tainted, some already loaded (never beyond allocatable).
func genCluster(t *rapid.T, maxNodes int) []*nodeinfo.NodeInfo {
	n := rapid.IntRange(1, maxNodes).Draw(t, "nodes")
	hypervisors := rapid.IntRange(1, 10).Draw(t, "hypervisors")
	nodes := make([]*nodeinfo.NodeInfo, n)
	for i := range nodes {
		var opts []nodeOpt
		opts = append(opts, label(hv, fmt.Sprintf("h%d", i%hypervisors)), maxPods(int64(rapid.IntRange(2, 12).Draw(t, "maxPods"))))
		switch rapid.IntRange(0, 9).Draw(t, "state") {
		case 0:
			opts = append(opts, cordon)
		case 1:
			opts = append(opts, notReady)
		case 2:
			opts = append(opts, taint("dedicated", "db", api.TaintEffectNoSchedule))
		case 3:
			opts = append(opts, usage(int64(rapid.IntRange(0, 4000).Draw(t, "usage"))))
		}
		cpu := int64(rapid.IntRange(1, 8).Draw(t, "cpu")) * 1000
		mem := int64(rapid.IntRange(1, 8).Draw(t, "mem")) * 1024
		ni := newNode(fmt.Sprintf("n%03d", i), cpu, mem, opts...)
		for j := range rapid.IntRange(0, 3).Draw(t, "preloaded") {
			p := makePod(fmt.Sprintf("pre-%d-%d", i, j), int64(rapid.IntRange(0, 2000).Draw(t, "preCPU")), int64(rapid.IntRange(0, 2048).Draw(t, "preMem")))
			pi := nodeinfo.NewPodInfo(p)
			if ni.ReqMilliCPU+pi.MilliCPU <= ni.AllocMilliCPU && ni.ReqMemory+pi.Memory <= ni.AllocMemory && int64(len(ni.Pods)) < ni.AllocPods {
				place(ni, p)
			}
		}
		nodes[i] = ni
	}
	return nodes
}

// genPod draws a pod with requests, maybe a host port and a toleration.
func genPod(t *rapid.T, name string) *api.Pod {
	var opts []podOpt
	if port := rapid.SampledFrom([]int32{0, 0, 0, 80, 443}).Draw(t, "hostPort"); port > 0 {
		opts = append(opts, hostPort(port, api.ProtocolTCP))
	}
	if rapid.IntRange(0, 4).Draw(t, "tolerates") == 0 {
		opts = append(opts, tolerate(api.Toleration{Key: "dedicated", Operator: api.TolerationOpEqual, Value: "db", Effect: api.TaintEffectNoSchedule}))
	}
	if rapid.Bool().Draw(t, "owned") {
		opts = append(opts, ownedBy("rs-"+rapid.SampledFrom([]string{"a", "b"}).Draw(t, "owner")))
	}
	return makePod(name, int64(rapid.IntRange(0, 3000).Draw(t, "cpu")), int64(rapid.IntRange(0, 3000).Draw(t, "mem")), opts...)
}

// fitsOracle says, independently of the plugins, whether pod fits on n.
func fitsOracle(pod *api.Pod, n *nodeinfo.NodeInfo) bool {
	pi := nodeinfo.NewPodInfo(pod)
	if !n.Ready || n.Node.Spec.Unschedulable || int64(len(n.Pods))+1 > n.AllocPods {
		return false
	}
	if pi.MilliCPU > 0 && n.ReqMilliCPU+pi.MilliCPU > n.AllocMilliCPU || pi.Memory > 0 && n.ReqMemory+pi.Memory > n.AllocMemory {
		return false
	}
	for _, tn := range n.Node.Spec.Taints {
		tolerated := false
		for _, tol := range pod.Spec.Tolerations {
			tolerated = tolerated || tol.Key == tn.Key && tol.Value == tn.Value
		}
		if !tolerated {
			return false
		}
	}
	for _, hp := range pi.Ports {
		if n.UsedPorts[hp] > 0 {
			return false
		}
	}
	return true
}

func byName(nodes []*nodeinfo.NodeInfo, name string) *nodeinfo.NodeInfo {
	for _, n := range nodes {
		if n.Name == name {
			return n
		}
	}
	return nil
}

// placeAll schedules pods one after another, placing each where the
// framework says, and calls check after each attempt.
func placeAll(t *rapid.T, fw *podFramework, nodes []*nodeinfo.NodeInfo, pods []*api.Pod, check func(pod *api.Pod, res framework.Result, err error)) {
	for _, pod := range pods {
		res, err := schedule(fw, pod, nodes)
		var fe *framework.FitError
		if err != nil && !errors.As(err, &fe) {
			t.Fatalf("Schedule %s: %v", pod.Name, err)
		}
		check(pod, res, err)
		if err == nil {
			place(byName(nodes, res.Selected), pod)
		}
	}
}

func testNeverOvercommitsNorStrands(t *rapid.T, pct, maxNodes int) {
	nodes := genCluster(t, maxNodes)
	pods := make([]*api.Pod, rapid.IntRange(1, 60).Draw(t, "pods"))
	for i := range pods {
		pods[i] = genPod(t, fmt.Sprintf("p%02d", i))
	}
	placeAll(t, newFramework(pct), nodes, pods, func(pod *api.Pod, res framework.Result, err error) {
		if err != nil {
			for _, n := range nodes {
				if fitsOracle(pod, n) {
					t.Fatalf("%s left unplaced (%v) though it fits on %s", pod.Name, err, n.Name)
				}
			}
			return
		}
		n := byName(nodes, res.Selected)
		if !fitsOracle(pod, n) {
			t.Fatalf("%s placed on %s where it does not fit", pod.Name, n.Name)
		}
	})
	for _, n := range nodes {
		if n.ReqMilliCPU > n.AllocMilliCPU || n.ReqMemory > n.AllocMemory || int64(len(n.Pods)) > n.AllocPods {
			t.Fatalf("%s over-committed: cpu %d/%d mem %d/%d pods %d/%d", n.Name, n.ReqMilliCPU, n.AllocMilliCPU, n.ReqMemory, n.AllocMemory, len(n.Pods), n.AllocPods)
		}
	}
}

func TestPropertyNeverOvercommitsNorStrandsScoringAll(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { testNeverOvercommitsNorStrands(t, 100, 40) })
}

// With more than 100 nodes the adaptive sample stops early; a pod that
// fits somewhere must still be placed.
func TestPropertyNeverOvercommitsNorStrandsAdaptiveSample(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) { testNeverOvercommitsNorStrands(t, 0, 400) })
}

// skew is max-min of matching pods over the domains of key among nodes that
// have it and pass sel (nil: all).
func skew(nodes []*nodeinfo.NodeInfo, key string, sel map[string]string) int {
	counts := map[string]int{}
	for _, n := range nodes {
		v, ok := n.Labels()[key]
		if !ok {
			continue
		}
		match := true
		for k, want := range sel {
			if n.Labels()[k] != want {
				match = false
			}
		}
		if !match {
			continue
		}
		counts[v] += 0
		for _, pi := range n.Pods {
			if pi.Pod.Labels["app"] == "web" && pi.Pod.Namespace == "default" {
				counts[v]++
			}
		}
	}
	lo, hi := -1, 0
	for _, c := range counts {
		if lo < 0 || c < lo {
			lo = c
		}
		hi = max(hi, c)
	}
	return hi - max(lo, 0)
}

func TestPropertySpreadSkewNeverExceedsMaxSkew(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		nodes := genCluster(t, 40)
		for i, n := range nodes {
			if i%3 == 0 {
				n.Node.Labels[api.LabelZone] = "a"
			}
			if rapid.IntRange(0, 9).Draw(t, "unlabelled") == 0 {
				delete(n.Node.Labels, hv)
			}
			n.SetNode(n.Node)
		}
		maxSkew := int32(rapid.IntRange(1, 3).Draw(t, "maxSkew"))
		key := rapid.SampledFrom([]string{hv, api.LabelHostname}).Draw(t, "key")
		var sel map[string]string
		opts := []podOpt{podLabels("app", "web"), spread(maxSkew, key, api.DoNotSchedule, "app", "web"), ownedBy("rs")}
		if rapid.Bool().Draw(t, "zoneA") {
			sel = map[string]string{api.LabelZone: "a"}
			opts = append(opts, nodeSelector(api.LabelZone, "a"))
		}
		pods := make([]*api.Pod, rapid.IntRange(1, 40).Draw(t, "pods"))
		for i := range pods {
			pods[i] = makePod(fmt.Sprintf("web-%02d", i), int64(rapid.IntRange(0, 2000).Draw(t, "cpu")), 0, opts...)
		}
		pct := rapid.SampledFrom([]int{0, 100}).Draw(t, "pct")
		placeAll(t, newFramework(pct), nodes, pods, func(pod *api.Pod, res framework.Result, err error) {
			if s := skew(nodes, key, sel); s > int(maxSkew) {
				t.Fatalf("skew %d over %s exceeds maxSkew %d", s, key, maxSkew)
			}
		})
		if s := skew(nodes, key, sel); s > int(maxSkew) {
			t.Fatalf("skew %d over %s exceeds maxSkew %d", s, key, maxSkew)
		}
	})
}

// Replicas of one owner go, one after another, to a hypervisor holding the
// fewest of them among those with room; so a 10-replica owner lands on
// every hypervisor that has room (up to 10).
func TestPropertyDefaultSpreadCoversHypervisors(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		hypervisors := rapid.IntRange(2, 10).Draw(t, "hypervisors")
		var nodes []*nodeinfo.NodeInfo
		for h := range hypervisors {
			for i := range rapid.IntRange(1, 5).Draw(t, "perHypervisor") {
				var opts []nodeOpt
				opts = append(opts, label(hv, fmt.Sprintf("h%d", h)))
				if rapid.Bool().Draw(t, "measured") {
					opts = append(opts, usage(int64(rapid.IntRange(0, 8000).Draw(t, "usage"))))
				}
				n := newNode(fmt.Sprintf("h%d-n%d", h, i), int64(rapid.IntRange(1, 8).Draw(t, "cpu"))*1000, 8192, opts...)
				if c := int64(rapid.IntRange(0, 3000).Draw(t, "load")); c+100 <= n.AllocMilliCPU {
					place(n, makePod(fmt.Sprintf("load-%d-%d", h, i), c, int64(rapid.IntRange(0, 4096).Draw(t, "loadMem")), ownedBy("other")))
				}
				nodes = append(nodes, n)
			}
		}
		roomy := rapid.Bool().Draw(t, "roomy")
		replicaCPU := int64(100)
		if !roomy {
			replicaCPU = int64(rapid.IntRange(100, 4000).Draw(t, "replicaCPU"))
		}
		pods := make([]*api.Pod, 10)
		for i := range pods {
			pods[i] = makePod(fmt.Sprintf("r%d", i), replicaCPU, 100, ownedBy("rs"))
		}
		countIn := func(h string) int {
			c := 0
			for _, n := range nodes {
				if n.Labels()[hv] == h {
					c += n.OwnerCounts["rs"]
				}
			}
			return c
		}
		placeAll(t, newFramework(100), nodes, pods, func(pod *api.Pod, res framework.Result, err error) {
			least := -1
			for _, n := range nodes {
				if fitsOracle(pod, n) {
					if c := countIn(n.Labels()[hv]); least < 0 || c < least {
						least = c
					}
				}
			}
			if err != nil {
				if least >= 0 {
					t.Fatalf("%s unplaced though it fits: %v", pod.Name, err)
				}
				return
			}
			if got := countIn(byName(nodes, res.Selected).Labels()[hv]); got != least {
				t.Fatalf("%s went to %s whose hypervisor holds %d replicas; one with room holds %d", pod.Name, res.Selected, got, least)
			}
		})
		if roomy {
			covered := 0
			for h := range hypervisors {
				if countIn(fmt.Sprintf("h%d", h)) > 0 {
					covered++
				}
			}
			if covered != min(hypervisors, 10) {
				t.Fatalf("10 replicas cover %d of %d hypervisors", covered, hypervisors)
			}
		}
	})
}
