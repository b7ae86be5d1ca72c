package containerd

import (
	"strings"
	"testing"

	cgroup1 "github.com/containerd/cgroups/v3/cgroup1/stats"
	cgroup2 "github.com/containerd/cgroups/v3/cgroup2/stats"
	"github.com/containerd/containerd/api/types"
	"github.com/containerd/typeurl/v2"
)

// TestDecodeMetrics decodes what a shim sends on either cgroup version (this
// machine runs v1, production VMs may run v2): CPU time in nanoseconds,
// working set as usage less inactive file pages, never below zero.
func TestDecodeMetrics(t *testing.T) {
	for _, tc := range []struct {
		name    string
		metrics any
		cpu, ws uint64
	}{
		{"v1", &cgroup1.Metrics{CPU: &cgroup1.CPUStat{Usage: &cgroup1.CPUUsage{Total: 2_500_000_000}},
			Memory: &cgroup1.MemoryStat{Usage: &cgroup1.MemoryEntry{Usage: 100 << 20}, TotalInactiveFile: 30 << 20, InactiveFile: 1 << 20}},
			2_500_000_000, 70 << 20},
		{"v1 all inactive", &cgroup1.Metrics{Memory: &cgroup1.MemoryStat{Usage: &cgroup1.MemoryEntry{Usage: 10 << 20}, TotalInactiveFile: 12 << 20}}, 0, 0},
		{"v2", &cgroup2.Metrics{CPU: &cgroup2.CPUStat{UsageUsec: 1_500_000}, Memory: &cgroup2.MemoryStat{Usage: 64 << 20, InactiveFile: 4 << 20}},
			1_500_000_000, 60 << 20},
		{"v2 empty", &cgroup2.Metrics{}, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a, err := typeurl.MarshalAny(tc.metrics)
			if err != nil {
				t.Fatal(err)
			}
			st, err := decodeMetrics(a)
			if err != nil {
				t.Fatal(err)
			}
			if st.CPUUsageNanos != tc.cpu || st.MemoryWorkingSetBytes != tc.ws {
				t.Errorf("decoded cpu %d ns, working set %d; want %d, %d", st.CPUUsageNanos, st.MemoryWorkingSetBytes, tc.cpu, tc.ws)
			}
		})
	}
	other, err := typeurl.MarshalAny(&types.Metric{ID: "x"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := decodeMetrics(other); err == nil || !strings.Contains(err.Error(), "unexpected metrics type") {
		t.Errorf("foreign metrics type: %v", err)
	}
}
