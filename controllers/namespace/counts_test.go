package namespace

import "testing"

func TestCounts(t *testing.T) {
	tests := []struct {
		in   map[string]int
		want string
	}{
		{nil, ""},
		{map[string]int{"pods": 2}, "pods has 2 resource instances"},
		{map[string]int{"secrets": 1, "events": 3, "pods": 2}, "events has 3 resource instances, pods has 2 resource instances, secrets has 1 resource instances"},
	}
	for _, tt := range tests {
		if got := counts(tt.in, "resource instances"); got != tt.want {
			t.Errorf("counts(%v) = %q, want %q", tt.in, got, tt.want)
		}
	}
	left := remaining{objects: map[string]int{"pods": 2, "secrets": 1}}
	if left.total() != 3 {
		t.Errorf("total %d, want 3", left.total())
	}
}
