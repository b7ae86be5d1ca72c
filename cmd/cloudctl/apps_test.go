package main

import (
	"context"
	"encoding/base64"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/controllers/deployment"
	"github.com/cloudmgr/cloud/controllers/replicaset"
)

func TestWorkloadTables(t *testing.T) {
	three, five := int32(3), int32(5)
	sel := &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}
	tmpl := api.PodTemplateSpec{Spec: api.PodSpec{Containers: []api.Container{{Name: "web", Image: "nginx:1"}, {Name: "log", Image: "busybox"}}}}
	d := &api.Deployment{ObjectMeta: testMeta("default", "web", 2*time.Hour), Spec: api.DeploymentSpec{Replicas: &five, Selector: sel, Template: tmpl},
		Status: api.DeploymentStatus{ReadyReplicas: 4, UpdatedReplicas: 5, AvailableReplicas: 3}}
	got := printAll(t, "deploy", printOptions{}, d)
	want := "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\nweb    4/5     5            3           120m\n"
	if got != want {
		t.Errorf("deployments: got:\n%s\nwant:\n%s", got, want)
	}
	got = printAll(t, "deployments", printOptions{output: outputWide}, d)
	mustContain(t, "wide deployments", got, "CONTAINERS   IMAGES            SELECTOR", "web,log      nginx:1,busybox   app=web")
	rs := &api.ReplicaSet{ObjectMeta: testMeta("default", "web-abc", 90*time.Second), Spec: api.ReplicaSetSpec{Replicas: &three, Selector: sel, Template: tmpl},
		Status: api.ReplicaSetStatus{Replicas: 3, ReadyReplicas: 1}}
	got = printAll(t, "rs", printOptions{}, rs)
	want = "NAME      DESIRED   CURRENT   READY   AGE\nweb-abc   3         3         1       90s\n"
	if got != want {
		t.Errorf("replicasets: got:\n%s\nwant:\n%s", got, want)
	}
}

func TestRolloutMessage(t *testing.T) {
	ten := int32(10)
	d := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Generation: 2}, Spec: api.DeploymentSpec{Replicas: &ten}}
	for _, tt := range []struct {
		st   api.DeploymentStatus
		want string
		done bool
		err  string
	}{
		{api.DeploymentStatus{ObservedGeneration: 1}, "spec update to be observed", false, ""},
		{api.DeploymentStatus{ObservedGeneration: 2, UpdatedReplicas: 4, Replicas: 12}, "4 out of 10 new replicas have been updated", false, ""},
		{api.DeploymentStatus{ObservedGeneration: 2, UpdatedReplicas: 10, Replicas: 12}, "2 old replicas are pending termination", false, ""},
		{api.DeploymentStatus{ObservedGeneration: 2, UpdatedReplicas: 10, Replicas: 10, AvailableReplicas: 9}, "9 of 10 updated replicas are available", false, ""},
		{api.DeploymentStatus{ObservedGeneration: 2, UpdatedReplicas: 10, Replicas: 10, AvailableReplicas: 10}, "successfully rolled out", true, ""},
		{api.DeploymentStatus{ObservedGeneration: 2, Conditions: []api.DeploymentCondition{{Type: api.DeploymentProgressing,
			Status: api.ConditionFalse, Reason: api.ReasonProgressDeadlineExceeded}}}, "", false, "exceeded its progress deadline"},
	} {
		d.Status = tt.st
		msg, done, err := rolloutMessage(d)
		if !strings.Contains(msg, tt.want) || done != tt.done || (tt.err == "") != (err == nil) || err != nil && !strings.Contains(err.Error(), tt.err) {
			t.Errorf("%+v: %q %v %v", tt.st, msg, done, err)
		}
	}
}

// scalingGaps checks the ScalingReplicaSet lines of a description: for
// each ReplicaSet of want, its steps chain from 0 to its replicas ("from"
// of each step is "to" of the one before). It returns what is missing.
func scalingGaps(desc string, want map[string]int32) string {
	steps := map[string][][2]int32{}
	for _, line := range strings.Split(desc, "\n") {
		i := strings.Index(line, "Scaled ")
		if !strings.Contains(line, "ScalingReplicaSet") || i < 0 {
			continue
		}
		var dir, rs string
		var from, to int32
		if _, err := fmt.Sscanf(line[i:], "Scaled %s replica set %s from %d to %d", &dir, &rs, &from, &to); err != nil {
			return fmt.Sprintf("unparsed line %q: %v", line, err)
		}
		steps[rs] = append(steps[rs], [2]int32{from, to})
	}
	for rs, n := range want {
		at := int32(0)
		for _, s := range steps[rs] {
			if s[0] != at {
				return fmt.Sprintf("%s: a step from %d after reaching %d (steps %v)", rs, s[0], at, steps[rs])
			}
			at = s[1]
		}
		if at != n {
			return fmt.Sprintf("%s: the steps %v end at %d, not %d", rs, steps[rs], at, n)
		}
	}
	return ""
}

// TestRolloutAgainstSimulatedCluster drives get, scale and rollout
// against the real API server with the controllers and simulated nodes.
func TestRolloutAgainstSimulatedCluster(t *testing.T) {
	c := controllerstest.Start(t, controllerstest.Options{Nodes: 3})
	ctx, cancel := context.WithCancel(context.Background())
	m := controllers.NewManager(c.Admin, nil)
	if err := replicaset.Setup(m); err != nil {
		t.Fatal(err)
	}
	if err := deployment.Setup(m); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	cfg := filepath.Join(t.TempDir(), "config")
	f := client.NewConfigFile("admin", client.Context{Server: c.Env.URL, Token: c.Env.AdminToken,
		CertificateAuthorityData: base64.StdEncoding.EncodeToString(c.Env.CAPEM)})
	if err := f.Save(cfg); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append([]string{"--config", cfg}, args...)...)
	}
	ok := func(args ...string) string {
		t.Helper()
		out, errOut, code := cli(args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	manifest := func(image, cause string) string {
		p := filepath.Join(t.TempDir(), "web.yaml")
		os.WriteFile(p, []byte(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  annotations: {kubernetes.io/change-cause: "`+cause+`"}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: web, image: "`+image+`"}]}
`), 0o600)
		return p
	}
	if out := ok("apply", "-f", manifest("nginx:1", "first")); out != "deployment.apps/web created\n" {
		t.Fatalf("apply printed %q", out)
	}
	mustContain(t, "rollout status", ok("rollout", "status", "deploy/web", "--timeout", "30s"), `deployment "web" successfully rolled out`)
	mustContain(t, "get deploy", ok("get", "deploy"), "NAME   READY   UP-TO-DATE   AVAILABLE   AGE\nweb    3/3     3            3")
	mustContain(t, "get rs", ok("get", "rs"), "DESIRED   CURRENT   READY", "   3         3         3 ")

	if out := ok("scale", "deploy/web", "--replicas", "5"); out != "deployment.apps/web scaled\n" {
		t.Fatalf("scale printed %q", out)
	}
	ok("rollout", "status", "deployment", "web", "--timeout", "30s")
	mustContain(t, "get deploy after scale", ok("get", "deploy", "web"), "web    5/5     5            5")

	ok("apply", "-f", manifest("nginx:2", "upgrade to nginx:2"))
	ok("rollout", "status", "deploy/web", "--timeout", "30s")
	mustContain(t, "history", ok("rollout", "history", "deploy/web"), "REVISION  CHANGE-CAUSE\n1         first\n2         upgrade to nginx:2\n")
	mustContain(t, "history --revision", ok("rollout", "history", "deploy/web", "--revision", "1"), "Images:\tnginx:1")
	// describe shows every scaling step of the rollouts so far: for each
	// ReplicaSet, a chain from 0 to its replicas with no step missing.
	rss, _, err := client.For[api.ReplicaSet](c.Admin).List(ctx, "default", client.ListOptions{})
	if err != nil || len(rss) != 2 {
		t.Fatalf("%d ReplicaSets (%v), want 2", len(rss), err)
	}
	want := map[string]int32{}
	for _, rs := range rss {
		want[rs.Name] = *rs.Spec.Replicas
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		desc := ok("describe", "deploy", "web")
		problem := scalingGaps(desc, want)
		if problem == "" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("describe deploy does not show every scaling step: %s\n%s", problem, desc)
		}
		time.Sleep(100 * time.Millisecond)
	}

	if out := ok("rollout", "undo", "deploy/web", "--to-revision", "1"); out != "deployment.apps/web rolled back\n" {
		t.Fatalf("undo printed %q", out)
	}
	ok("rollout", "status", "deploy/web", "--timeout", "30s")
	mustContain(t, "history after undo", ok("rollout", "history", "deploy/web"), "2         upgrade to nginx:2\n3         first\n")
	d, err := client.For[api.Deployment](c.Admin).Get(ctx, "default", "web")
	if err != nil || d.Spec.Template.Spec.Containers[0].Image != "nginx:1" {
		t.Fatalf("after undo: %v %v", d.Spec.Template.Spec.Containers, err)
	}

	if out := ok("rollout", "restart", "deploy/web"); out != "deployment.apps/web restarted\n" {
		t.Fatalf("restart printed %q", out)
	}
	ok("rollout", "status", "deploy/web", "--timeout", "30s")
	if out := ok("rollout", "history", "deploy/web"); !strings.Contains(out, "\n4 ") {
		t.Fatalf("no revision 4 after restart:\n%s", out)
	}

	mustContain(t, "describe deploy", ok("describe", "deploy", "web"), "Replicas:               3 desired | 3 updated | 3 total | 3 available | 0 unavailable\n",
		"StrategyType:           RollingUpdate\n", "RollingUpdateStrategy:  25% max unavailable, 25% max surge\n", "Progressing  True    NewReplicaSetAvailable")
	mustContain(t, "describe rs", ok("describe", "rs"), "Controlled By:      Deployment/web\n", "Pods Status:        3 Ready / 3 Available\n")

	if out := ok("rollout", "pause", "deploy/web"); out != "deployment.apps/web paused\n" {
		t.Fatalf("pause printed %q", out)
	}
	if _, errOut, code := cli("rollout", "status", "deploy/web", "--timeout", "10s"); code == 0 || !strings.Contains(errOut, "paused") {
		t.Fatalf("status of a paused deployment: exit %d: %s", code, errOut)
	}
	ok("rollout", "resume", "deploy/web")
	ok("rollout", "status", "deploy/web", "--timeout", "30s")

	rsName := ""
	for _, line := range strings.Split(ok("get", "rs", "-o", "name"), "\n") {
		if line != "" {
			rsName = line
		}
	}
	if out := ok("scale", rsName, "--replicas", "0"); !strings.HasSuffix(out, " scaled\n") {
		t.Fatalf("scale rs printed %q", out)
	}
	for _, bad := range [][]string{{"scale", "deploy/web"}, {"scale", "pod/x", "--replicas", "1"}, {"rollout", "status", "rs/x"},
		{"scale", "deploy/web", "--replicas", "-3"}, {"rollout", "undo", "deploy/web", "--to-revision", "99"}} {
		if _, _, code := cli(bad...); code == 0 {
			t.Errorf("%v succeeded", bad)
		}
	}
}
