package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
)

// TestDeploymentRollingUpdateOnContainerd runs a Deployment of 3 busybox
// replicas on a real cloudlet and containerd: it becomes 3/3 Ready; a
// template change (an env var: the local registry holds one busybox
// image) rolls every pod over with maxUnavailable 1 and maxSurge 1 while a
// watch checks that Ready pods never drop below 2 nor active pods exceed
// 4; `cloudctl rollout undo` brings back the first template and
// `cloudctl rollout status` succeeds. The controllers' Events show in
// `cloudctl describe` and `cloudctl get events`.
func TestDeploymentRollingUpdateOnContainerd(t *testing.T) {
	sock, snapshotter := projectContainerd(t)
	n := startJoinedNode(t, sock, snapshotter, "deploy-1")
	ctx := context.Background()
	deploys := client.For[api.Deployment](n.c)
	const replicas, maxUnavailable, maxSurge = 3, 1, 1
	zero := int64(0)
	three := int32(replicas)
	mu, ms := api.FromInt(maxUnavailable), api.FromInt(maxSurge)
	d := &api.Deployment{
		ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.DeploymentSpec{
			Replicas: &three,
			Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Strategy: api.DeploymentStrategy{Type: api.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &api.RollingUpdateDeployment{MaxUnavailable: &mu, MaxSurge: &ms}},
			Template: api.PodTemplateSpec{
				ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec: api.PodSpec{TerminationGracePeriodSeconds: &zero, Containers: []api.Container{{
					Name: "main", Image: n.registry + "/cloudmgr/busybox:test", Command: []string{"sleep", "100000"},
					Env:            []api.EnvVar{{Name: "VERSION", Value: "1"}},
					ReadinessProbe: &api.Probe{Exec: &api.ExecAction{Command: []string{"true"}}, PeriodSeconds: 1},
				}}},
			},
		},
	}
	if _, err := deploys.Create(ctx, d); err != nil {
		t.Fatal(err)
	}
	ready := func(pods map[string]*api.Pod) (ready, active int, hashes map[string]int) {
		hashes = map[string]int{}
		for _, p := range pods {
			if !controllers.IsPodActive(p) {
				continue
			}
			active++
			if controllers.IsPodReady(p) {
				ready++
				hashes[p.Labels[api.LabelPodTemplateHash]]++
			}
		}
		return ready, active, hashes
	}
	listPods := func() map[string]*api.Pod {
		ps, _, err := n.pods.List(ctx, "default", client.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]*api.Pod{}
		for _, p := range ps {
			m[p.Name] = p
		}
		return m
	}
	// rolledTo waits until the Deployment is complete and every active pod
	// is Ready with the given template hash.
	rolledTo := func(what string, hash func() string) {
		eventually(t, 45*time.Second, what, func() (bool, string) {
			got, err := deploys.Get(ctx, "default", "web")
			if err != nil {
				return false, err.Error()
			}
			pods := listPods()
			r, a, hashes := ready(pods)
			st := got.Status
			ok := st.ObservedGeneration >= got.Generation && st.UpdatedReplicas == replicas && st.AvailableReplicas == replicas &&
				st.Replicas == replicas && r == replicas && a == replicas && hashes[hash()] == replicas
			for _, p := range pods {
				// Ready on the real node: the container runs in containerd.
				if controllers.IsPodActive(p) && (len(p.Status.ContainerStatuses) != 1 ||
					p.Status.ContainerStatuses[0].State.Running == nil || p.Status.ContainerStatuses[0].ContainerID == "") {
					ok = false
				}
			}
			return ok, fmt.Sprintf("status %+v; pods:%s\ncloudlet log:\n%s", st, controllerstest.PodSummary(pods), n.log.String())
		})
	}
	rsHash := func(revision string) string {
		rss, _, err := client.For[api.ReplicaSet](n.c).List(ctx, "default", client.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		for _, rs := range rss {
			if rs.Annotations[api.AnnotationRevision] == revision {
				return rs.Labels[api.LabelPodTemplateHash]
			}
		}
		return "<no revision " + revision + ">"
	}
	start := time.Now()
	rolledTo("3/3 Ready at revision 1", func() string { return rsHash("1") })
	hash1 := rsHash("1")
	t.Logf("3/3 Ready after %s", time.Since(start).Round(time.Millisecond))

	// The rolling update and the rollback, under a continuous watch.
	minReady, maxActive := replicas-maxUnavailable, replicas+maxSurge
	armed := false // once the watch has seen the 3 current pods Ready
	pw := controllerstest.WatchPods(t, n.c, "default", "app=web", func(pods map[string]*api.Pod) string {
		r, a, _ := ready(pods)
		if !armed {
			armed = r == replicas
			return ""
		}
		if r < minReady || a > maxActive {
			return fmt.Sprintf("%d Ready (min %d), %d active (max %d):%s", r, minReady, a, maxActive, controllerstest.PodSummary(pods))
		}
		return ""
	})
	// The watch's first events are the current pods (ADDED one by one);
	// it checks from when it has seen all three Ready, and nothing changes
	// before.
	eventually(t, 10*time.Second, "watch sees the 3 pods", func() (bool, string) {
		var ok bool
		var summary string
		pw.Inspect(func(pods map[string]*api.Pod) { ok, summary = armed, controllerstest.PodSummary(pods) })
		return ok, summary
	})
	step := time.Now()
	got, err := deploys.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	got.Spec.Template.Spec.Containers[0].Env[0].Value = "2"
	if _, err := deploys.Update(ctx, got); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := cloudctl(t, n.bin, n.admin, "", "rollout", "status", "deploy/web", "--timeout", "45s"); code != 0 {
		t.Fatalf("rollout status after the update: exit %d\n%s%s", code, out, errOut)
	}
	rolledTo("every pod replaced by revision 2", func() string { return rsHash("2") })
	hash2 := rsHash("2")
	if hash2 == hash1 {
		t.Fatalf("revision 2 has the template hash of revision 1 (%s)", hash1)
	}
	t.Logf("rolling update to revision 2 done in %s", time.Since(step).Round(time.Millisecond))

	step = time.Now()
	if out, errOut, code := cloudctl(t, n.bin, n.admin, "", "rollout", "undo", "deploy/web"); code != 0 {
		t.Fatalf("rollout undo: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := cloudctl(t, n.bin, n.admin, "", "rollout", "status", "deploy/web", "--timeout", "45s")
	if code != 0 || !strings.Contains(out, "successfully rolled out") {
		t.Fatalf("rollout status after undo: exit %d\n%s%s", code, out, errOut)
	}
	rolledTo("pods back on the first template", func() string { return hash1 })
	back, err := deploys.Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if v := back.Spec.Template.Spec.Containers[0].Env[0].Value; v != "1" {
		t.Fatalf("after undo the template's VERSION is %q, want 1", v)
	}
	t.Logf("rollout undo done in %s", time.Since(step).Round(time.Millisecond))
	violation, events := pw.Result()
	if violation != "" {
		t.Fatalf("rolling update broke maxUnavailable/maxSurge: %s", violation)
	}
	if events < 2*replicas*3 {
		t.Fatalf("the watch saw only %d events; it did not follow the rollouts", events)
	}
	t.Logf("the watch checked %d pod events", events)

	// The controllers' Events, through the real cloudd, as a user sees
	// them.
	rs1 := "web-" + hash1
	eventually(t, 20*time.Second, "controller events in describe and get events", func() (bool, string) {
		desc, errOut, code := cloudctl(t, n.bin, n.admin, "", "describe", "deploy/web")
		rsDesc, _, _ := cloudctl(t, n.bin, n.admin, "", "describe", "rs/"+rs1)
		evs, _, _ := cloudctl(t, n.bin, n.admin, "", "get", "events")
		ok := code == 0 && strings.Contains(desc, "ScalingReplicaSet") && strings.Contains(desc, "Scaled up replica set "+rs1+" from 0 to 3") &&
			strings.Contains(rsDesc, "SuccessfulCreate") && strings.Contains(rsDesc, "Created pod: "+rs1+"-") &&
			strings.Contains(evs, "SuccessfulDelete") && strings.Contains(evs, "Deleted pod: ")
		return ok, fmt.Sprintf("describe deploy/web (exit %d):\n%s%s\ndescribe rs/%s:\n%s\nget events:\n%s", code, desc, errOut, rs1, rsDesc, evs)
	})
}
