package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// TestAirGappedImage: an image that exists in no registry is loaded into a
// real cloudd with cloudctl, and a pod using it runs on a joined cloudlet
// that is given no registry at all: the node pulls it from the control
// plane.
func TestAirGappedImage(t *testing.T) {
	const ref = "airgap.example/busybox:1"
	bin, err := test.Binaries("cloudd", "cloudctl", "cloudlet")
	if err != nil {
		t.Fatal(err)
	}
	tarball, manifest, err := test.RenamedImage(ref)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	file := filepath.Join(t.TempDir(), "busybox.tar")
	if err := os.WriteFile(file, tarball, 0o644); err != nil {
		t.Fatal(err)
	}
	address := addr(t)
	startReady(t, bin, dir, address)
	admin := filepath.Join(dir, "admin.yaml")

	out, errOut, code := cloudctl(t, bin, admin, "", "image", "load", file)
	if code != 0 || !strings.Contains(out, ref) || !strings.Contains(out, manifest) || !strings.Contains(errOut, "uploaded") {
		t.Fatalf("image load: exit %d\n%s\n%s", code, out, errOut)
	}
	out, _, code = cloudctl(t, bin, admin, "", "image", "list")
	if code != 0 || !strings.Contains(out, "REF") || !strings.Contains(out, ref) || !strings.Contains(out, manifest[:19]) {
		t.Fatalf("image list: exit %d\n%s", code, out)
	}
	broken := filepath.Join(t.TempDir(), "broken.tar")
	_ = os.WriteFile(broken, tarball[:len(tarball)/2], 0o644)
	if _, errOut, code := cloudctl(t, bin, admin, "", "image", "load", broken); code == 0 || !strings.Contains(errOut, "truncated") {
		t.Fatalf("broken tarball: exit %d: %s", code, errOut)
	}

	token, _, code := cloudctl(t, bin, admin, "", "node", "token", "create")
	if code != 0 {
		t.Fatal("node token create failed")
	}
	sock, snapshotter := projectContainerd(t)
	state := t.TempDir()
	ns := fmt.Sprintf("cloudmgr-e2e-airgap-%d", time.Now().UnixNano())
	cleanupCloudletNamespace(t, sock, ns, state)
	_, log := startCloudlet(t, bin, "--server", "https://"+address, "--ca-file", filepath.Join(dir, "pki", "ca.crt"),
		"--join-token", strings.TrimSpace(token), "--state-dir", state, "--containerd", sock, "--snapshotter", snapshotter,
		"--containerd-namespace", ns, "--node-name", "airgap-1", "--heartbeat-interval", "500ms")
	c := adminClient(t, dir)
	waitReady(t, c, "airgap-1", log)

	ctx := context.Background()
	pods := client.For[api.Pod](c)
	grace := int64(1)
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "airgapped", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "airgap-1", TerminationGracePeriodSeconds: &grace, Containers: []api.Container{{
			Name: "main", Image: ref, Command: []string{"sh", "-c", "echo pulled-from-control-plane; exec sleep 1000"},
		}}},
	}
	if _, err := pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(60 * time.Second)
	var got *api.Pod
	for {
		got, err = pods.Get(ctx, "default", "airgapped")
		if err == nil && got.Status.Phase == api.PodRunning && len(got.Status.ContainerStatuses) == 1 && got.Status.ContainerStatuses[0].Ready {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not Running within 60s: %+v\ncloudlet log:\n%s", got, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	if id := got.Status.ContainerStatuses[0].ImageID; !strings.Contains(id, manifest) {
		t.Errorf("image ID %q, want the loaded manifest %s", id, manifest)
	}
	deadline = time.Now().Add(10 * time.Second)
	for {
		logs, _ := filepath.Glob(filepath.Join(state, "logs", "default_airgapped_*", "main-0.log"))
		if len(logs) == 1 {
			if b, _ := os.ReadFile(logs[0]); strings.Contains(string(b), "pulled-from-control-plane") {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("no container log with the pod's output (found %v)", logs)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err := pods.Delete(ctx, "default", "airgapped", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	out, _, code = cloudctl(t, bin, admin, "", "image", "rm", ref)
	if code != 0 || !strings.Contains(out, "removed") {
		t.Fatalf("image rm: exit %d: %s", code, out)
	}
	if blobs, _ := os.ReadDir(filepath.Join(dir, "images", "blobs", "sha256")); len(blobs) != 0 {
		t.Errorf("%d blobs left after image rm", len(blobs))
	}
	if _, errOut, code := cloudctl(t, bin, admin, "", "image", "rm", ref); code == 0 || !strings.Contains(errOut, "not loaded") {
		t.Fatalf("second image rm: exit %d: %s", code, errOut)
	}
	// Wait for the pod to go, so the cloudlet stops its container before
	// the namespace cleanup.
	deadline = time.Now().Add(30 * time.Second)
	for {
		if _, err := pods.Get(ctx, "default", "airgapped"); client.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod still there 30s after delete\ncloudlet log:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}
