package machine

import (
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
)

func TestJoinStep(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := controllerstest.NewFakeClock(t0)
	ready := &api.Node{ObjectMeta: api.ObjectMeta{Name: "m"}, Status: api.NodeStatus{Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}}}
	notReady := &api.Node{ObjectMeta: api.ObjectMeta{Name: "m"}, Status: api.NodeStatus{Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionFalse}}}}
	machine := func(phase api.MachinePhase) *api.Machine {
		return &api.Machine{Status: api.MachineStatus{Phase: phase, ProvisionedTime: api.NewTime(t0)}}
	}
	joined := func() *api.Machine {
		m := machine(api.MachineJoined)
		m.Status.JoinedTime = api.NewTime(t0)
		return m
	}
	notReadySince := func(at time.Time) *api.Node {
		return &api.Node{ObjectMeta: api.ObjectMeta{Name: "m"}, Status: api.NodeStatus{Conditions: []api.NodeCondition{
			{Type: api.NodeReady, Status: api.ConditionFalse, LastTransitionTime: api.NewTime(at)}}}}
	}
	cases := []struct {
		name    string
		m       *api.Machine
		node    *api.Node
		advance time.Duration
		want    step
		left    time.Duration
	}{
		{"no node yet", machine(api.MachineRunning), nil, time.Minute, stepWait, 9 * time.Minute},
		{"node not ready", machine(api.MachineRunning), notReady, 9*time.Minute + 59*time.Second, stepWait, time.Second},
		{"node ready", machine(api.MachineRunning), ready, time.Second, stepJoin, 0},
		{"ready even after the timeout", machine(api.MachineRunning), ready, time.Hour, stepJoin, 0},
		{"timeout without node", machine(api.MachineRunning), nil, 10 * time.Minute, stepTimeout, 0},
		{"timeout with a node not ready", machine(api.MachineRunning), notReady, 11 * time.Minute, stepTimeout, 0},
		{"joined, node ready", joined(), ready, time.Hour, stepNone, 0},
		{"joined, node not ready for less than the timeout", joined(), notReadySince(t0.Add(time.Minute)), 5 * time.Minute, stepWait, 6 * time.Minute},
		{"joined, node not ready for the timeout: lost", joined(), notReadySince(t0.Add(time.Minute)), 11 * time.Minute, stepLost, 0},
		{"joined, node gone for the timeout: lost", joined(), nil, 10 * time.Minute, stepLost, 0},
		{"joined, node gone for less", joined(), nil, 9 * time.Minute, stepWait, time.Minute},
		{"unreachable machines wait", machine(api.MachineUnknown), nil, time.Hour, stepNone, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			clock.Set(t0.Add(tc.advance))
			got, left := joinStep(tc.m, tc.node, 10*time.Minute, clock.Now())
			if got != tc.want || left != tc.left {
				t.Errorf("joinStep = %v, %v; want %v, %v", got, left, tc.want, tc.left)
			}
		})
	}
}

func TestJoinTimeoutOfPool(t *testing.T) {
	if d := joinTimeout(nil, time.Minute); d != time.Minute {
		t.Errorf("no pool: %v", d)
	}
	p := &api.NodePool{Spec: api.NodePoolSpec{JoinTimeoutSeconds: 5}}
	if d := joinTimeout(p, time.Minute); d != 5*time.Second {
		t.Errorf("pool: %v", d)
	}
}

func TestNodeWants(t *testing.T) {
	m := &api.Machine{Spec: api.MachineSpec{Provider: "libvirt", Pool: "web", Labels: map[string]string{"tier": "web"},
		Taints: []api.Taint{{Key: "dedicated", Value: "web", Effect: api.TaintEffectNoSchedule}}}}
	n := &api.Node{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"kubernetes.io/hostname": "x"}}}
	labels, taints, changed := nodeWants(m, n)
	if !changed || labels[api.LabelNodePool] != "web" || labels[api.LabelProvider] != "libvirt" || labels["tier"] != "web" ||
		labels["kubernetes.io/hostname"] != "x" || len(taints) != 1 {
		t.Fatalf("labels %v taints %v changed %v", labels, taints, changed)
	}
	n.Labels, n.Spec.Taints = labels, taints
	if _, _, changed := nodeWants(m, n); changed {
		t.Error("a labelled node changed again")
	}
}
