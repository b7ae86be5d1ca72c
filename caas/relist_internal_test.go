package caas

import "testing"

func TestFingerprints(t *testing.T) {
	run := ContainerStatus{ID: "a-0", PodUID: "p1", Name: "app", State: ContainerRunning}
	side := ContainerStatus{ID: "s-0", PodUID: "p1", Name: "side", State: ContainerRunning}
	other := ContainerStatus{ID: "o-0", PodUID: "p2", Name: "app", State: ContainerRunning}
	base := fingerprints([]ContainerStatus{run, side, other})
	if len(base) != 2 {
		t.Fatalf("fingerprints of %d pods, want 2: %v", len(base), base)
	}
	if again := fingerprints([]ContainerStatus{other, side, run}); again["p1"] != base["p1"] {
		t.Fatalf("listing order changed the fingerprint: %q, then %q", base["p1"], again["p1"])
	}
	exited := run
	exited.State, exited.ExitCode = ContainerExited, 1
	oom := exited
	oom.ExitCode, oom.OOMKilled = 137, true
	replaced := run
	replaced.ID, replaced.Attempt = "a-1", 1
	for _, tc := range []struct {
		name string
		list []ContainerStatus
	}{
		{"exited", []ContainerStatus{exited, side, other}},
		{"OOM-killed", []ContainerStatus{oom, side, other}},
		{"replaced", []ContainerStatus{replaced, side, other}},
		{"removed", []ContainerStatus{side, other}},
		{"added", []ContainerStatus{run, side, replaced, other}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := fingerprints(tc.list)
			if got["p1"] == base["p1"] {
				t.Errorf("pod p1's fingerprint did not change: %q", got["p1"])
			}
			if got["p2"] != base["p2"] {
				t.Errorf("pod p2's fingerprint changed: %q, then %q", base["p2"], got["p2"])
			}
		})
	}
	exitedOOM := exited
	exitedOOM.OOMKilled = true
	if fingerprints([]ContainerStatus{exited})["p1"] == fingerprints([]ContainerStatus{exitedOOM})["p1"] {
		t.Error("an OOM kill seen after the exit did not change the fingerprint")
	}
}
