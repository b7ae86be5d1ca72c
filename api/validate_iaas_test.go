package api

import "testing"

func TestValidateHypervisor(t *testing.T) {
	ok := func() *Hypervisor {
		return &Hypervisor{ObjectMeta: ObjectMeta{Name: "hv-1"}, Spec: HypervisorSpec{URI: "qemu:///system"}}
	}
	for _, tc := range []struct {
		name  string
		edit  func(*Hypervisor)
		field string // "" for valid
	}{
		{"minimal", func(*Hypervisor) {}, ""},
		{"tcp with ratios", func(h *Hypervisor) {
			h.Spec.URI, h.Spec.CPUAllocationRatio, h.Spec.MemoryAllocationRatio = "qemu+tcp://10.0.0.5/system", "4", "1.5"
		}, ""},
		{"ssh", func(h *Hypervisor) { h.Spec.URI = "qemu+ssh://root@host/system" }, ""},
		{"test driver", func(h *Hypervisor) { h.Spec.URI = "test:///default" }, ""},
		{"no uri", func(h *Hypervisor) { h.Spec.URI = "" }, "spec.uri"},
		{"no scheme", func(h *Hypervisor) { h.Spec.URI = "localhost/system" }, "spec.uri"},
		{"bad scheme", func(h *Hypervisor) { h.Spec.URI = "QEMU+://x/system" }, "spec.uri"},
		{"opaque", func(h *Hypervisor) { h.Spec.URI = "qemu:system" }, "spec.uri"},
		{"zero cpu ratio", func(h *Hypervisor) { h.Spec.CPUAllocationRatio = "0" }, "spec.cpuAllocationRatio"},
		{"word cpu ratio", func(h *Hypervisor) { h.Spec.CPUAllocationRatio = "lots" }, "spec.cpuAllocationRatio"},
		{"negative memory ratio", func(h *Hypervisor) { h.Spec.MemoryAllocationRatio = "-1" }, "spec.memoryAllocationRatio"},
		{"infinite memory ratio", func(h *Hypervisor) { h.Spec.MemoryAllocationRatio = "Inf" }, "spec.memoryAllocationRatio"},
		{"bad label", func(h *Hypervisor) { h.Spec.Labels = map[string]string{"bad key!": "x"} }, "spec.labels"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := ok()
			tc.edit(h)
			errs := ValidateHypervisor(h)
			if tc.field == "" {
				if len(errs) > 0 {
					t.Fatalf("unexpected errors: %v", errs)
				}
				return
			}
			for _, e := range errs {
				if len(e.Field) >= len(tc.field) && e.Field[:len(tc.field)] == tc.field {
					return
				}
			}
			t.Fatalf("errors %v do not name %s", errs, tc.field)
		})
	}
}

func TestParseAllocationRatio(t *testing.T) {
	if f, err := ParseAllocationRatio(""); err != nil || f != 1 {
		t.Fatalf("empty: %v %v", f, err)
	}
	if f, err := ParseAllocationRatio("1.5"); err != nil || f != 1.5 {
		t.Fatalf("1.5: %v %v", f, err)
	}
	if _, err := ParseAllocationRatio("0"); err == nil {
		t.Fatal("0 accepted")
	}
}
