package hpa

import (
	"fmt"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// BenchmarkDecision is one autoscaler's evaluation without the API: the
// samples of 1,000 pods, the calculation and the stabilization.
func BenchmarkDecision(b *testing.B) {
	ready := api.PodCondition{Type: api.PodReady, Status: api.ConditionTrue}
	pods := make([]*api.Pod, 1000)
	usage := map[string]int64{}
	for i := range pods {
		name := fmt.Sprintf("web-%d", i)
		pods[i] = &api.Pod{ObjectMeta: api.ObjectMeta{Name: name},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Resources: api.ResourceRequirements{
				Requests: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("500m")}}}}},
			Status: api.PodStatus{Phase: api.PodRunning, Conditions: []api.PodCondition{ready}}}
		usage[name] = int64(300 + i%400)
	}
	h := hpaFor(1, 2000, 300, 0)
	var hist []recommendation
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for b.Loop() {
		s, err := Samples(pods, usage)
		if err != nil {
			b.Fatal(err)
		}
		c, err := Calculate(s, 1000, 80, DefaultTolerance)
		if err != nil {
			b.Fatal(err)
		}
		now = now.Add(15 * time.Second)
		stabilize(h, 1000, c.Replicas, &hist, now)
	}
}
