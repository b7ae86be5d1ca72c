package api

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestNodeUsageValidation(t *testing.T) {
	node := func(u *NodeUsage) *Node {
		return &Node{ObjectMeta: ObjectMeta{Name: "n1"}, Status: NodeStatus{Usage: u}}
	}
	ok := &NodeUsage{WindowSeconds: 10, Node: ResourceList{"cpu": MustParseQuantity("1500m"), "memory": MustParseQuantity("1Gi")},
		Pods: ResourceList{"cpu": MustParseQuantity("0")}}
	if errs := ValidateNode(node(ok)); len(errs) > 0 {
		t.Errorf("valid usage refused: %v", errs)
	}
	if errs := ValidateNode(node(nil)); len(errs) > 0 {
		t.Errorf("no usage refused: %v", errs)
	}
	for _, tc := range []struct {
		usage *NodeUsage
		want  string
	}{
		{&NodeUsage{WindowSeconds: 0, Node: ResourceList{}}, "status.usage.windowSeconds"},
		{&NodeUsage{WindowSeconds: 5, Node: ResourceList{"cpu": MustParseQuantity("-1")}}, "status.usage.node.cpu"},
		{&NodeUsage{WindowSeconds: 5, Pods: ResourceList{"gpu": MustParseQuantity("1")}}, "status.usage.pods.gpu"},
	} {
		errs := ValidateNode(node(tc.usage))
		if len(errs) != 1 || !strings.Contains(errs.ToError().Error(), tc.want) {
			t.Errorf("usage %+v: errors %v, want one naming %s", tc.usage, errs, tc.want)
		}
	}
}

func TestPodMetricsJSON(t *testing.T) {
	in := PodMetrics{TypeMeta: TypeMeta{APIVersion: APIVersionMetrics, Kind: KindPodMetrics}, ObjectMeta: ObjectMeta{Name: "web", Namespace: "a"},
		Window: Duration{90 * time.Second}, Containers: []ContainerMetrics{{Name: "app", Usage: ResourceList{"cpu": MustParseQuantity("250m")}}}}
	b, err := json.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), `"window":"1m30s"`) || !strings.Contains(string(b), `"usage":{"cpu":"250m"}`) {
		t.Errorf("JSON %s", b)
	}
	var out PodMetrics
	if err := json.Unmarshal(b, &out); err != nil || out.Window.Duration != 90*time.Second || out.Containers[0].Usage.Cpu().MilliValue() != 250 {
		t.Errorf("round trip %+v, %v", out, err)
	}
	for _, bad := range []string{`{"window":"soon"}`, `{"window":10}`} {
		if err := json.Unmarshal([]byte(bad), &out); err == nil || !strings.Contains(err.Error(), "duration") {
			t.Errorf("%s: error %v, want one about the duration", bad, err)
		}
	}
}
