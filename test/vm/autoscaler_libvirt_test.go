package vm

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// TestAutoscalerOnLibvirt: the node autoscaler on real VMs. A pool of one
// TCG VM runs two CPU-burning pods that push it past 80%; the autoscaler
// grows the pool to a second VM, which boots and joins, and a third pod,
// which does not fit on the first, runs there. When the pods are deleted, the
// idle VM is drained and deleted, back to the pool's min of one; no domain
// or volume of it is left. The autoscaler's windows are shortened by
// cloudd's flags (5 s up, 20 s down); the figures are logged.
func TestAutoscalerOnLibvirt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	x, err := test.StartIaaS(ctx, dir, test.IaaSOptions{Flags: []string{
		"--autoscaler-interval", "1s", "--autoscaler-scale-up-window", "5s",
		"--autoscaler-scale-down-window", "20s", "--autoscaler-scale-down-delay-after-up", "10s",
		"--autoscaler-scale-down-cooldown", "5s"}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := test.DialLibvirt()
	if err != nil {
		_ = x.Stop(syscall.SIGKILL)
		t.Fatal(err)
	}
	c := x.Client
	const pool = "auto"
	seen := map[string]bool{}
	t.Cleanup(func() {
		if ms, err := poolMachines(ctx, c, pool); err == nil {
			for _, m := range ms {
				seen[m.Name] = true
			}
		}
		if out, err := x.Cloudctl(x.Admin, "nodepool", "delete", pool, "--timeout", "3m"); err != nil && !strings.Contains(out, "NotFound") {
			t.Logf("cleanup: nodepool delete: %v\n%s", err, out)
		}
		_ = x.Stop(syscall.SIGKILL)
		for name := range seen {
			if names, _ := test.DomainNames(l, name); len(names) > 0 {
				t.Errorf("cleanup: domain %s was left behind; destroying it", name)
				_ = test.RemoveDomain(l, name)
			}
			files, _ := x.PoolFiles("cloudmgr-" + name + "-")
			for _, f := range files {
				t.Errorf("cleanup: pool volume %s was left behind; removing it", f)
				_ = os.Remove(filepath.Join(x.PoolDir, f))
			}
		}
		_ = l.Disconnect()
		if t.Failed() {
			t.Logf("cloudd log (tail):\n%s", tail(x.Log.String(), 20000))
		}
	})

	if out, err := x.Cloudctl(x.Admin, "nodepool", "create", pool, "--hypervisor", test.HypervisorName, "--replicas", "1",
		"--min", "1", "--max", "2", "--vcpus", "1", "--memory", "512Mi"); err != nil {
		t.Fatalf("nodepool create: %v\n%s", err, out)
	}
	readyNodes := func() (int, []string) {
		nodes, _, err := client.For[api.Node](c).List(ctx, "", client.ListOptions{LabelSelector: api.LabelNodePool + "=" + pool})
		if err != nil {
			return 0, nil
		}
		var names []string
		for _, n := range nodes {
			if nodeReady(n) {
				names = append(names, n.Name)
			}
		}
		return len(names), names
	}
	waitFor(t, 4*time.Minute, "the pool's first VM Ready", func() (bool, string) {
		n, names := readyNodes()
		return n == 1, fmt.Sprintf("ready nodes %v", names)
	})
	_, first := readyNodes()

	pods := client.For[api.Pod](c)
	burner := func(name string) *api.Pod {
		grace := int64(0)
		return &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"}, Spec: api.PodSpec{
			TerminationGracePeriodSeconds: &grace,
			Containers: []api.Container{{Name: "burn", Image: hostFromGuest + ":5055/cloudmgr/busybox:test",
				Command:   []string{"sh", "-c", "while :; do :; done"},
				Resources: api.ResourceRequirements{Requests: api.ResourceList{"cpu": api.MustParseQuantity("400m"), "memory": api.MustParseQuantity("16Mi")}}}},
		}}
	}
	loadAt := time.Now()
	for _, name := range []string{"burn-1", "burn-2"} {
		if _, err := pods.Create(ctx, burner(name)); err != nil {
			t.Fatal(err)
		}
	}

	// The two burners run and push the pool past 80% (the VM's cloudlet
	// writes its usage every 10 s): a second VM is asked for.
	var grownAt, secondReadyAt, thirdAt time.Time
	waitFor(t, 5*time.Minute, "a second machine asked for by the utilization trigger", func() (bool, string) {
		ms, _ := poolMachines(ctx, c, pool)
		if len(ms) == 2 {
			grownAt = time.Now()
			return true, ""
		}
		no, _ := client.For[api.Node](c).Get(ctx, "", first[0])
		usage := "no usage yet"
		if no != nil && no.Status.Usage != nil {
			cpu := no.Status.Usage.Pods[api.ResourceCPU]
			usage = "pods use " + cpu.String() + " cpu"
		}
		return false, fmt.Sprintf("%d machines; %s", len(ms), usage)
	})
	decisions, _, err := client.For[api.ScaleDecision](c).List(ctx, "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var util *api.ScaleDecision
	for _, d := range decisions {
		if d.Spec.Trigger.Type == api.TriggerUtilization && d.Spec.Outcome.Type == api.OutcomeScaledUp {
			util = d
		}
	}
	if util == nil {
		t.Fatalf("no scale-up decision of trigger Utilization among %d decisions", len(decisions))
	}
	t.Logf("decision: trigger %s at %.0f%% (threshold %.0f%%, window %ds), held at %s, decided at %s: %s",
		util.Spec.Trigger.Type, util.Spec.Trigger.UtilizationPercent, util.Spec.Trigger.ThresholdPercent, util.Spec.Trigger.WindowSeconds,
		util.Spec.TriggeredTime.Format("15:04:05"), util.Spec.DecidedTime.Format("15:04:05"), fmt.Sprintf("%s %s by %d", util.Spec.Outcome.Type, util.Spec.Outcome.Pool, util.Spec.Outcome.Delta))
	// A third burner does not fit on the first VM: it waits for the
	// second, and runs there.
	if _, err := pods.Create(ctx, burner("burn-3")); err != nil {
		t.Fatal(err)
	}
	thirdAt = time.Now()
	waitFor(t, 5*time.Minute, "the second VM Ready and every burner Running", func() (bool, string) {
		ms, _ := poolMachines(ctx, c, pool)
		n, names := readyNodes()
		if n == 2 && secondReadyAt.IsZero() {
			secondReadyAt = time.Now()
		}
		running := 0
		for _, name := range []string{"burn-1", "burn-2", "burn-3"} {
			if p, err := pods.Get(ctx, "default", name); err == nil && p.Status.Phase == api.PodRunning {
				running++
			}
		}
		return n == 2 && running == 3, fmt.Sprintf("%d machines, ready nodes %v, %d burners running", len(ms), names, running)
	})
	runningAt := time.Now()
	if p, err := pods.Get(ctx, "default", "burn-3"); err != nil || p.Spec.NodeName == first[0] {
		t.Errorf("burn-3 runs on %q, want the new VM (%v)", p.Spec.NodeName, err)
	}
	if ms, _ := poolMachines(ctx, c, pool); len(ms) != 2 {
		t.Errorf("%d machines, want 2 (the pool's max)", len(ms))
	}
	if out, err := x.Cloudctl(x.Admin, "autoscaler", "status"); err != nil || !strings.Contains(out, pool) {
		t.Errorf("autoscaler status: %v\n%s", err, out)
	} else {
		t.Logf("cloudctl autoscaler status:\n%s", out)
	}
	t.Logf("load created -> second machine %s, -> its node Ready %s; the third pod created -> Running on it %s",
		grownAt.Sub(loadAt).Round(100*time.Millisecond), secondReadyAt.Sub(loadAt).Round(100*time.Millisecond), runningAt.Sub(thirdAt).Round(100*time.Millisecond))

	// The load goes: the idle extra VM is drained and deleted, down to one.
	for _, name := range []string{"burn-1", "burn-2", "burn-3"} {
		if err := pods.Delete(ctx, "default", name, client.DeleteOptions{}); err != nil && !client.IsNotFound(err) {
			t.Fatal(err)
		}
	}
	idleAt := time.Now()
	var gone string
	waitFor(t, 5*time.Minute, "the pool back to one machine, the other's domain and volumes gone", func() (bool, string) {
		ms, _ := poolMachines(ctx, c, pool)
		for _, m := range ms {
			seen[m.Name] = true
		}
		if len(ms) != 1 {
			return false, fmt.Sprintf("%d machines", len(ms))
		}
		for name := range seen {
			if name == ms[0].Name {
				continue
			}
			if names, _ := test.DomainNames(l, name); len(names) > 0 {
				return false, "domain " + name + " still defined"
			}
			if files, _ := x.PoolFiles("cloudmgr-" + name + "-"); len(files) > 0 {
				return false, fmt.Sprintf("volumes %v left", files)
			}
			gone = name
		}
		return gone != "", "no second machine seen"
	})
	t.Logf("load deleted -> the idle VM %s drained and deleted %s (scale-down window 20s)", gone, time.Since(idleAt).Round(100*time.Millisecond))

	// A pod that fits no VM: the pending-pods trigger boots a VM for it.
	sleeper := func(name string) *api.Pod {
		p := burner(name)
		p.Spec.Containers[0].Command = []string{"sleep", "3600"}
		return p
	}
	for _, name := range []string{"wait-1", "wait-2"} {
		if _, err := pods.Create(ctx, sleeper(name)); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 3*time.Minute, "two sleepers Running on the one VM", func() (bool, string) {
		running := 0
		for _, name := range []string{"wait-1", "wait-2"} {
			if p, err := pods.Get(ctx, "default", name); err == nil && p.Status.Phase == api.PodRunning {
				running++
			}
		}
		return running == 2, fmt.Sprintf("%d running", running)
	})
	if _, err := pods.Create(ctx, sleeper("wait-3")); err != nil {
		t.Fatal(err)
	}
	pendingAt := time.Now()
	var markedAt time.Time
	waitFor(t, 5*time.Minute, "the pending sleeper Running on a new VM", func() (bool, string) {
		p, err := pods.Get(ctx, "default", "wait-3")
		if err != nil {
			return false, err.Error()
		}
		if markedAt.IsZero() {
			for _, cond := range p.Status.Conditions {
				if cond.Type == api.PodScheduled && cond.Reason == api.PodReasonUnschedulable {
					markedAt = time.Now()
				}
			}
		}
		ms, _ := poolMachines(ctx, c, pool)
		for _, m := range ms {
			seen[m.Name] = true
		}
		return p.Status.Phase == api.PodRunning, fmt.Sprintf("phase %s on %q; %d machines", p.Status.Phase, p.Spec.NodeName, len(ms))
	})
	running := time.Now()
	p, err := pods.Get(ctx, "default", "wait-3")
	if err != nil {
		t.Fatal(err)
	}
	if w1, err := pods.Get(ctx, "default", "wait-1"); err != nil || p.Spec.NodeName == "" || p.Spec.NodeName == w1.Spec.NodeName {
		t.Errorf("wait-3 runs on %q beside wait-1 (%v); want a VM made for it", p.Spec.NodeName, err)
	}
	decisions, _, err = client.For[api.ScaleDecision](c).List(ctx, "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var pend *api.ScaleDecision
	for _, d := range decisions {
		if d.Spec.Trigger.Type == api.TriggerPendingPods && d.Spec.Outcome.Type == api.OutcomeScaledUp {
			pend = d
		}
	}
	if pend == nil {
		t.Fatalf("no scale-up decision of trigger PendingPods among %d decisions", len(decisions))
	}
	t.Logf("pending pod created -> Running on a new VM %s (marked unschedulable after %s; decision held at %s, decided at %s)",
		running.Sub(pendingAt).Round(100*time.Millisecond), markedAt.Sub(pendingAt).Round(100*time.Millisecond),
		pend.Spec.HeldTime.Format("15:04:05.000"), pend.Spec.DecidedTime.Format("15:04:05"))
}
