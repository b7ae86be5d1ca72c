package main

import (
	"context"
	"encoding/base64"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/disruption"
	"github.com/cloudmgr/cloud/controllers/job"
)

// TestCordonDrain drives cordon, uncordon and drain against the real API
// server with simulated nodes, the real scheduler and the Job controller
// (which recreates evicted pods elsewhere) and the disruption controller
// (which keeps the budget's status that evictions spend).
func TestCordonDrain(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 2})
	cfg := filepath.Join(t.TempDir(), "config")
	f := client.NewConfigFile("admin", client.Context{Server: c.Env.URL, Token: c.Env.AdminToken,
		CertificateAuthorityData: base64.StdEncoding.EncodeToString(c.Env.CAPEM)})
	if err := f.Save(cfg); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := controllers.NewManager(c.Env.ControllerManager(t), slog.New(slog.DiscardHandler))
	if err := job.Setup(m, nil); err != nil {
		t.Fatal(err)
	}
	if err := disruption.Setup(m, disruption.Options{}); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append([]string{"--config", cfg}, args...)...)
	}
	pods := client.For[api.Pod](c.Admin)
	nodes := client.For[api.Node](c.Admin)

	four := int32(4)
	j, err := client.For[api.Job](c.Admin).Create(ctx, &api.Job{ObjectMeta: api.ObjectMeta{Name: "work", Namespace: "default"},
		Spec: api.JobSpec{Parallelism: &four, Completions: &four,
			Template: api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}})
	if err != nil {
		t.Fatal(err)
	}
	yes := true
	for _, p := range []*api.Pod{
		{ObjectMeta: api.ObjectMeta{Name: "lonely", Namespace: "default"},
			Spec: api.PodSpec{NodeName: "sim-0", Containers: []api.Container{{Name: "c", Image: "busybox"}}}},
		{ObjectMeta: api.ObjectMeta{Name: "agent", Namespace: "default", OwnerReferences: []api.OwnerReference{
			{APIVersion: "apps/v1", Kind: "DaemonSet", Name: "agent", UID: "ds-uid", Controller: &yes}}},
			Spec: api.PodSpec{NodeName: "sim-0", Containers: []api.Container{{Name: "c", Image: "busybox"}}}},
	} {
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	jobPods := func(node string) (running int) {
		ps, _, err := pods.List(ctx, "default", client.ListOptions{LabelSelector: api.LabelControllerUID + "=" + j.UID})
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range ps {
			if p.Status.Phase == api.PodRunning && p.DeletionTimestamp == nil && (node == "" || p.Spec.NodeName == node) {
				running++
			}
		}
		return running
	}
	waitUntil(t, func() bool { return jobPods("") == 4 }, "4 running job pods")

	// cordon / uncordon
	out, errOut, code := cli("cordon", "sim-1")
	if code != 0 || out != "node/sim-1 cordoned\n" {
		t.Fatalf("cordon: exit %d %q %s", code, out, errOut)
	}
	if n, _ := nodes.Get(ctx, "", "sim-1"); !n.Spec.Unschedulable {
		t.Fatal("sim-1 not unschedulable after cordon")
	}
	if out, _, _ = cli("cordon", "sim-1"); out != "node/sim-1 already cordoned\n" {
		t.Errorf("second cordon: %q", out)
	}
	if out, errOut, code = cli("uncordon", "sim-1"); code != 0 || out != "node/sim-1 uncordoned\n" {
		t.Fatalf("uncordon: exit %d %q %s", code, out, errOut)
	}
	if _, errOut, code = cli("cordon", "nope"); code == 0 || !strings.Contains(errOut, "NotFound") && !strings.Contains(errOut, "not found") {
		t.Errorf("cordon of a missing node: exit %d %s", code, errOut)
	}

	// A plain drain refuses the unmanaged and DaemonSet pods, evicting nothing.
	out, errOut, code = cli("drain", "sim-0")
	if code == 0 {
		t.Fatalf("drain with an unmanaged pod succeeded:\n%s", out)
	}
	mustContain(t, "refused drain", errOut, "default/lonely (not managed by a controller; use --force)",
		"default/agent (DaemonSet-managed; use --ignore-daemonsets)")
	if _, err := pods.Get(ctx, "default", "lonely"); err != nil {
		t.Fatalf("refused drain deleted a pod: %v", err)
	}
	if n, _ := nodes.Get(ctx, "", "sim-0"); !n.Spec.Unschedulable {
		t.Error("sim-0 not left cordoned after a refused drain")
	}

	out, errOut, code = cli("drain", "sim-0", "--ignore-daemonsets", "--force", "--timeout", "60s")
	if code != 0 {
		t.Fatalf("drain: exit %d\n%s%s", code, out, errOut)
	}
	mustContain(t, "drain", out, "node/sim-0 cordoned", "evicting pod default/lonely", "pod/lonely evicted", "node/sim-0 drained")
	mustContain(t, "drain warnings", errOut, "leaving in place: default/agent (DaemonSet-managed)")
	if _, err := pods.Get(ctx, "default", "agent"); err != nil {
		t.Errorf("DaemonSet pod: %v", err)
	}
	if _, err := pods.Get(ctx, "default", "lonely"); !client.IsNotFound(err) {
		t.Errorf("unmanaged pod after a forced drain: %v", err)
	}
	waitUntil(t, func() bool { return jobPods("sim-1") == 4 }, "the job's pods recreated on sim-1")

	// With a budget keeping all but one pod available, draining sim-1
	// goes one pod at a time: evictions get 429 until the replacement on
	// sim-0 is ready.
	if _, _, code = cli("uncordon", "sim-0"); code != 0 {
		t.Fatal("uncordon sim-0")
	}
	three := api.FromInt(3)
	if _, err := client.For[api.PodDisruptionBudget](c.Admin).Create(ctx, &api.PodDisruptionBudget{
		ObjectMeta: api.ObjectMeta{Name: "work", Namespace: "default"},
		Spec: api.PodDisruptionBudgetSpec{Selector: &api.LabelSelector{MatchLabels: map[string]string{api.LabelControllerUID: j.UID}},
			MinAvailable: &three}}); err != nil {
		t.Fatal(err)
	}
	// The controller computes the budget: 4 job pods (no declared scale,
	// so the pods count), 3 needed, 1 disruption allowed.
	waitUntil(t, func() bool {
		out, _, code = cli("get", "pdb")
		return code == 0 && strings.Contains(out, "ALLOWED DISRUPTIONS") && strings.Contains(out, "work   3               N/A               1 ")
	}, "get pdb showing 1 allowed disruption")
	out, errOut, code = cli("describe", "pdb", "work")
	if code != 0 {
		t.Fatalf("describe pdb: exit %d %s", code, errOut)
	}
	mustContain(t, "describe pdb", out, "Min available:", "Allowed disruptions:  1", "Current:", "Total:", "DisruptionAllowed:", "True (SufficientPods)")
	out, errOut, code = cli("drain", "sim-1", "--timeout", "90s")
	if code != 0 {
		t.Fatalf("drain with a budget: exit %d\n%s%s", code, out, errOut)
	}
	mustContain(t, "drain with a budget", errOut, "disruption budget work", "will retry")
	mustContain(t, "drain with a budget", out, "node/sim-1 drained")
	waitUntil(t, func() bool { return jobPods("sim-0") == 4 }, "the job's pods recreated on sim-0")
}

func waitUntil(t *testing.T, cond func() bool, what string) {
	t.Helper()
	for range 600 {
		if cond() {
			return
		}
		sleepCtx(context.Background(), 50_000_000)
	}
	t.Fatalf("timed out waiting for %s", what)
}
