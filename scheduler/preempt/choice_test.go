package preempt

import (
	"math"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

func victimsOf(prios ...int32) []*nodeinfo.PodInfo {
	var out []*nodeinfo.PodInfo
	for _, p := range prios {
		out = append(out, &nodeinfo.PodInfo{Pod: &api.Pod{}, Priority: p})
	}
	return out
}

func TestChoiceOrder(t *testing.T) {
	tests := []struct {
		name   string
		better []int32
		worse  []int32
	}{
		{"no victims beats any", nil, []int32{math.MinInt32}},
		{"lower highest priority", []int32{1, 1, 1, 4}, []int32{5}},
		{"smaller sum", []int32{-3, 2}, []int32{2, 2}},
		{"negative priorities count as low", []int32{math.MinInt32, math.MinInt32}, []int32{math.MinInt32 + 1}},
		{"fewer victims when sums tie", []int32{math.MinInt32 + 2}, []int32{math.MinInt32 + 2, math.MinInt32}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, w := newChoice("b", victimsOf(tc.better...)), newChoice("w", victimsOf(tc.worse...))
			if b.compare(w) >= 0 || w.compare(b) <= 0 {
				t.Fatalf("%v should disturb less than %v", tc.better, tc.worse)
			}
			if b.compare(nil) >= 0 {
				t.Fatal("any choice beats none")
			}
		})
	}
}
