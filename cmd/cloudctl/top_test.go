package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

func usageNode(name, allocCPU, allocMem string, usage *api.NodeUsage) *api.Node {
	return &api.Node{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Node"}, ObjectMeta: api.ObjectMeta{Name: name},
		Status: api.NodeStatus{Allocatable: api.ResourceList{"cpu": api.MustParseQuantity(allocCPU), "memory": api.MustParseQuantity(allocMem)}, Usage: usage}}
}

func nodeUsage(cpu, mem string) *api.NodeUsage {
	return &api.NodeUsage{Timestamp: api.Now(), WindowSeconds: 10,
		Node: api.ResourceList{"cpu": api.MustParseQuantity(cpu), "memory": api.MustParseQuantity(mem)}}
}

func TestTopNodes(t *testing.T) {
	nodes := listOf("Node", "7",
		usageNode("worker-3", "2", "4Gi", nil),
		usageNode("worker-2", "1900m", "3Gi", nodeUsage("250m", "512Mi")),
		usageNode("worker-1", "2", "4Gi", nodeUsage("1500m", "1Gi")),
	)
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/nodes":          nodes,
		"GET /api/v1/nodes/worker-2": objectOf(usageNode("worker-2", "1900m", "3Gi", nodeUsage("250m", "512Mi"))),
	})
	cfg := writeConfig(t, f.URL, "default")

	out, errOut, code := runCLI(t, "--config", cfg, "top", "nodes")
	want := "" +
		"NAME       CPU(cores)   CPU(%)      MEMORY(bytes)   MEMORY(%)\n" +
		"worker-1   1500m        75%         1024Mi          25%\n" +
		"worker-2   250m         13%         512Mi           16%\n" +
		"worker-3   <unknown>    <unknown>   <unknown>       <unknown>\n"
	if code != 0 || out != want {
		t.Errorf("top nodes: exit %d, stderr %q, printed\n%s\nwant\n%s", code, errOut, out, want)
	}

	out, _, code = runCLI(t, "--config", cfg, "top", "nodes", "--sort-by", "memory", "--no-headers")
	if code != 0 || !strings.HasPrefix(out, "worker-1 ") || !strings.Contains(out, "\nworker-2 ") || strings.Contains(out, "NAME") {
		t.Errorf("sorted by memory without headers:\n%s", out)
	}

	out, _, code = runCLI(t, "--config", cfg, "top", "node", "worker-2")
	if code != 0 || out != "NAME       CPU(cores)   CPU(%)   MEMORY(bytes)   MEMORY(%)\nworker-2   250m         13%      512Mi           16%\n" {
		t.Errorf("top node worker-2: exit %d\n%s", code, out)
	}

	_, errOut, code = runCLI(t, "--config", cfg, "top", "node", "nope")
	if code != 1 || !strings.HasPrefix(errOut, "Error from server (NotFound)") {
		t.Errorf("missing node: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = runCLI(t, "--config", cfg, "top", "nodes", "--sort-by", "disk")
	if code != 1 || !strings.Contains(errOut, `invalid --sort-by "disk": must be cpu or memory`) {
		t.Errorf("bad --sort-by: exit %d, stderr %q", code, errOut)
	}
}

func podMetrics(ns, name string, containers ...api.ContainerMetrics) api.PodMetrics {
	return api.PodMetrics{TypeMeta: api.TypeMeta{APIVersion: api.APIVersionMetrics, Kind: api.KindPodMetrics},
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns}, Timestamp: api.Now(), Window: api.Duration{Duration: 10 * time.Second},
		Containers: containers}
}

func ctrUsage(name, cpu, mem string) api.ContainerMetrics {
	return api.ContainerMetrics{Name: name, Usage: api.ResourceList{"cpu": api.MustParseQuantity(cpu), "memory": api.MustParseQuantity(mem)}}
}

func TestTopPods(t *testing.T) {
	teamA := &api.PodMetricsList{TypeMeta: api.TypeMeta{APIVersion: api.APIVersionMetrics, Kind: "PodMetricsList"}, Items: []api.PodMetrics{
		podMetrics("team-a", "web", ctrUsage("app", "200m", "100Mi"), ctrUsage("sidecar", "5m", "10Mi")),
		podMetrics("team-a", "db", ctrUsage("main", "1", "2Gi")),
	}}
	all := &api.PodMetricsList{Items: append(append([]api.PodMetrics{}, teamA.Items...), podMetrics("team-b", "cache", ctrUsage("redis", "30m", "64Mi")))}
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /apis/metrics.cloudmgr.dev/v1/namespaces/team-a/pods": objectOf(teamA),
		"GET /apis/metrics.cloudmgr.dev/v1/namespaces/empty/pods":  objectOf(&api.PodMetricsList{Items: []api.PodMetrics{}}),
		"GET /apis/metrics.cloudmgr.dev/v1/pods":                   objectOf(all),
		"GET /apis/metrics.cloudmgr.dev/v1/namespaces/down/pods": func(w http.ResponseWriter, _ *http.Request) {
			writeStatus(w, http.StatusServiceUnavailable, api.StatusReasonServiceUnavailable, "node worker-1 unreachable")
		},
	})
	cfg := writeConfig(t, f.URL, "team-a")
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append([]string{"--config", cfg}, args...)...)
	}

	out, errOut, code := cli("top", "pods")
	want := "" +
		"NAME   CPU(cores)   MEMORY(bytes)\n" +
		"db     1000m        2048Mi\n" +
		"web    205m         110Mi\n"
	if code != 0 || out != want {
		t.Errorf("top pods: exit %d, stderr %q, printed\n%s\nwant\n%s", code, errOut, out, want)
	}
	if got := f.last().Path; got != "/apis/metrics.cloudmgr.dev/v1/namespaces/team-a/pods" {
		t.Errorf("asked %s", got)
	}

	out, _, code = cli("top", "pod", "web", "--containers")
	want = "" +
		"POD   NAME      CPU(cores)   MEMORY(bytes)\n" +
		"web   app       200m         100Mi\n" +
		"web   sidecar   5m           10Mi\n"
	if code != 0 || out != want {
		t.Errorf("top pod web --containers: exit %d\n%s\nwant\n%s", code, out, want)
	}

	out, _, code = cli("top", "pods", "-A", "--sort-by", "cpu")
	want = "" +
		"NAMESPACE   NAME    CPU(cores)   MEMORY(bytes)\n" +
		"team-a      db      1000m        2048Mi\n" +
		"team-a      web     205m         110Mi\n" +
		"team-b      cache   30m          64Mi\n"
	if code != 0 || out != want {
		t.Errorf("top pods -A --sort-by cpu: exit %d\n%s\nwant\n%s", code, out, want)
	}

	out, _, code = cli("top", "pods", "-A", "--sort-by", "memory", "--containers", "--no-headers")
	if code != 0 || !strings.HasPrefix(out, "team-a   db      main      1000m   2048Mi\n") || strings.Count(out, "\n") != 4 {
		t.Errorf("per container, most memory first, no headers:\n%s", out)
	}

	_, errOut, code = cli("top", "pod", "ghost")
	if code != 1 || !strings.Contains(errOut, "error: metrics not available for pod team-a/ghost") {
		t.Errorf("unknown pod: exit %d, stderr %q", code, errOut)
	}
	out, errOut, code = cli("-n", "empty", "top", "pods")
	if code != 0 || out != "" || errOut != "No resources found in empty namespace.\n" {
		t.Errorf("empty namespace: exit %d, out %q, stderr %q", code, out, errOut)
	}
	_, errOut, code = cli("-n", "down", "top", "pods")
	if code != 1 || errOut != "Error from server (ServiceUnavailable): node worker-1 unreachable\n" {
		t.Errorf("server error: exit %d, stderr %q", code, errOut)
	}
	_, errOut, code = cli("top", "pods", "-A", "web")
	if code != 1 || !strings.Contains(errOut, "a pod name cannot be given with --all-namespaces") {
		t.Errorf("name with -A: exit %d, stderr %q", code, errOut)
	}
	out, _, code = cli("top", "--help")
	if code != 0 || !strings.Contains(out, "cloudctl top pods -A --containers") || !strings.Contains(out, "nodes") {
		t.Errorf("top --help:\n%s", out)
	}
}
