package api

import "testing"

func TestToleratesTaint(t *testing.T) {
	taint := Taint{Key: "dedicated", Value: "gpu", Effect: TaintEffectNoSchedule}
	tests := []struct {
		name string
		tol  Toleration
		want bool
	}{
		{"equal", Toleration{Key: "dedicated", Operator: TolerationOpEqual, Value: "gpu", Effect: TaintEffectNoSchedule}, true},
		{"default operator is Equal", Toleration{Key: "dedicated", Value: "gpu"}, true},
		{"other value", Toleration{Key: "dedicated", Value: "cpu"}, false},
		{"exists", Toleration{Key: "dedicated", Operator: TolerationOpExists}, true},
		{"exists everything", Toleration{Operator: TolerationOpExists}, true},
		{"other key", Toleration{Key: "zone", Operator: TolerationOpExists}, false},
		{"other effect", Toleration{Key: "dedicated", Operator: TolerationOpExists, Effect: TaintEffectNoExecute}, false},
		{"empty key with Equal", Toleration{Value: "gpu"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.tol.ToleratesTaint(&taint); got != tt.want {
				t.Errorf("ToleratesTaint = %v, want %v", got, tt.want)
			}
		})
	}
}
