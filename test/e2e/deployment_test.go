package e2e

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/test"
)

// registryDigest returns the manifest digest the registry serves for ref
// (host:port/repo:tag, plain HTTP).
func registryDigest(t *testing.T, ref string) string {
	t.Helper()
	host, rest, _ := strings.Cut(ref, "/")
	i := strings.LastIndex(rest, ":")
	req, err := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+rest[:i]+"/manifests/"+rest[i+1:], nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("registry digest of %s: %v (is the registry up? run `make deps`)", ref, err)
	}
	resp.Body.Close()
	d := resp.Header.Get("Docker-Content-Digest")
	if resp.StatusCode != http.StatusOK || d == "" {
		t.Fatalf("registry digest of %s: %s, digest %q; run `make deps` to push it", ref, resp.Status, d)
	}
	return d
}

// TestDeploymentRollingUpdateOnContainerd runs a Deployment of 3 busybox
// replicas on a real cloudlet and containerd: it becomes 3/3 Ready; a new
// image (busybox:v2, which adds /etc/cloudmgr-release) rolls every pod
// over with maxUnavailable 1 and maxSurge 1 while a watch checks that
// Ready pods never drop below 2 nor active pods exceed 4; every new pod
// runs v2 (spec, status image ID = the registry's digest, and the file
// read through `cloudctl exec`). `cloudctl rollout undo` brings back the
// first image everywhere (no release file) and `cloudctl rollout status`
// succeeds. The controllers' Events show in `cloudctl describe` and
// `cloudctl get events`.
func TestDeploymentRollingUpdateOnContainerd(t *testing.T) {
	sock, snapshotter := projectContainerd(t)
	n := startJoinedNode(t, sock, snapshotter, "deploy-1")
	ctx := context.Background()
	deploys := client.For[api.Deployment](n.c)
	const replicas, maxUnavailable, maxSurge = 3, 1, 1
	zero := int64(0)
	three := int32(replicas)
	oldImage, newImage := test.BusyboxImage(n.registry), test.BusyboxV2Image(n.registry)
	oldDigest, newDigest := registryDigest(t, oldImage), registryDigest(t, newImage)
	if oldDigest == newDigest {
		t.Fatalf("%s and %s are the same image (%s); run `make deps`", oldImage, newImage, oldDigest)
	}
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
					Name: "main", Image: oldImage, Command: []string{"sleep", "100000"},
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
	// runsImage checks that every active pod runs image (pod spec, status
	// image and image ID) and that its release file, read in the
	// container, is release ("none" for no file).
	runsImage := func(image, imageID, release string) {
		t.Helper()
		for _, p := range listPods() {
			if !controllers.IsPodActive(p) {
				continue
			}
			if len(p.Spec.Containers) != 1 || p.Spec.Containers[0].Image != image {
				t.Fatalf("pod %s: spec containers %+v, want image %s", p.Name, p.Spec.Containers, image)
			}
			if cs := p.Status.ContainerStatuses; len(cs) != 1 || cs[0].Image != image || cs[0].ImageID != imageID {
				t.Fatalf("pod %s: container statuses %+v, want image %s at %s", p.Name, cs, image, imageID)
			}
			out, errOut, code := cloudctl(t, n.bin, n.admin, "", "exec", p.Name, "--",
				"sh", "-c", "cat "+test.ReleaseFile+" 2>/dev/null || echo none")
			if code != 0 || strings.TrimSpace(out) != release {
				t.Fatalf("pod %s: %s says %q (exit %d, stderr %q), want %q", p.Name, test.ReleaseFile, out, code, errOut, release)
			}
		}
	}
	start := time.Now()
	rolledTo("3/3 Ready at revision 1", func() string { return rsHash("1") })
	hash1 := rsHash("1")
	runsImage(oldImage, oldDigest, "none")
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
	got.Spec.Template.Spec.Containers[0].Image = newImage
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
	runsImage(newImage, newDigest, "v2")

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
	if img := back.Spec.Template.Spec.Containers[0].Image; img != oldImage {
		t.Fatalf("after undo the template's image is %q, want %s", img, oldImage)
	}
	t.Logf("rollout undo done in %s", time.Since(step).Round(time.Millisecond))
	runsImage(oldImage, oldDigest, "none")
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
