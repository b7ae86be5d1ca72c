package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// The registry of make deps that requires a login, and its login file.
const (
	envAuthRegistry     = "CLOUDMGR_AUTH_REGISTRY"
	defaultAuthRegistry = "127.0.0.1:5056"
)

// registryLogin reads the user and password make deps made for the
// registry that requires a login.
func registryLogin(t *testing.T) (user, password string) {
	t.Helper()
	path := filepath.Join(repoRoot(), ".run", "registry-auth", "credentials")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("registry login: %v; run `make deps` to start the registry that requires a login", err)
	}
	user, password, ok := strings.Cut(strings.TrimSpace(string(data)), ":")
	if !ok {
		t.Fatalf("%s: expected user:password", path)
	}
	return user, password
}

// waitingReason is the waiting reason and message of a one-container pod.
func waitingReason(p *api.Pod) (reason, msg string) {
	if len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil {
		w := p.Status.ContainerStatuses[0].State.Waiting
		return w.Reason, w.Message
	}
	return "", ""
}

// TestPodPullsWithImagePullSecrets: with real cloudd, a joined cloudlet and
// the registry that requires a login, registry credentials made with
// cloudctl create secret docker-registry let a pod pull its image and run;
// a wrong password leaves its pod in ErrImagePull, then ImagePullBackOff,
// never started, and a missing secret is named; the agent stays healthy and
// never logs the password.
func TestPodPullsWithImagePullSecrets(t *testing.T) {
	user, password := registryLogin(t)
	authRegistry := envOr(envAuthRegistry, defaultAuthRegistry)
	image := authRegistry + "/cloudmgr/busybox:private"
	sock, snapshotter := projectContainerd(t)
	n := startJoinedNode(t, sock, snapshotter, "pull-1", "--insecure-registry", authRegistry, "--log-level", "debug")
	bin, admin, c, log := n.bin, n.admin, n.c, n.log

	for name, pass := range map[string]string{"regcred": password, "badcred": password + "-wrong"} {
		out, errOut, code := cloudctl(t, bin, admin, pass+"\n", "create", "secret", "docker-registry", name,
			"--docker-server=http://"+authRegistry, "--docker-username="+user, "--docker-password-stdin")
		if code != 0 || strings.Contains(out+errOut, pass) {
			t.Fatalf("create secret %s: exit %d: %s%s", name, code, out, errOut)
		}
	}
	ctx := context.Background()
	pods := client.For[api.Pod](c)
	newPod := func(name, secret string) *api.Pod {
		grace := int64(0)
		return &api.Pod{
			ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
			Spec: api.PodSpec{NodeName: "pull-1", TerminationGracePeriodSeconds: &grace,
				ImagePullSecrets: []api.LocalObjectReference{{Name: secret}},
				Containers: []api.Container{{Name: "main", Image: image, ImagePullPolicy: api.PullAlways,
					Command: []string{"sleep", "1000"}}}},
		}
	}
	for name, secret := range map[string]string{"private": "regcred", "denied": "badcred", "nosecret": "absent"} {
		if _, err := pods.Create(ctx, newPod(name, secret)); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(name, what string, within time.Duration, ok func(*api.Pod) bool) *api.Pod {
		t.Helper()
		deadline := time.Now().Add(within)
		for {
			p, err := pods.Get(ctx, "default", name)
			if err == nil && ok(p) {
				return p
			}
			if time.Now().After(deadline) {
				t.Fatalf("pod %s: %s not seen within %s: %+v (%v)\ncloudlet log:\n%s", name, what, within, p, err, log.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	wait("private", "Running with the login of its secret", 60*time.Second, func(p *api.Pod) bool {
		return p.Status.Phase == api.PodRunning && len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].Ready
	})
	wait("denied", "ErrImagePull", 30*time.Second, func(p *api.Pod) bool { r, _ := waitingReason(p); return r == "ErrImagePull" })
	_, noMsg := waitingReason(wait("nosecret", "waiting for its secret", 30*time.Second, func(p *api.Pod) bool {
		r, _ := waitingReason(p)
		return r != ""
	}))
	if !strings.Contains(noMsg, `image pull secret "absent" not found`) {
		t.Errorf("pod nosecret waits with %q, want the missing secret named", noMsg)
	}
	// The agent retries after its back-off (10s at first).
	denied := wait("denied", "ImagePullBackOff", 40*time.Second, func(p *api.Pod) bool { r, _ := waitingReason(p); return r == "ImagePullBackOff" })
	_, msg := waitingReason(denied)
	if !strings.Contains(msg, "unauthorized") || strings.Contains(msg, password) {
		t.Errorf("pod denied waits with %q, want an unauthorized message without the password", msg)
	}
	if denied.Status.Phase != api.PodPending || denied.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("pod denied: phase %s, restarts %d; want Pending, 0", denied.Status.Phase, denied.Status.ContainerStatuses[0].RestartCount)
	}

	// The agent is healthy: it renews its lease, keeps its node Ready and
	// the pod that pulled running.
	lease0, err := client.For[api.Lease](c).Get(ctx, api.NamespaceNodeLease, "pull-1")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, err := client.For[api.Lease](c).Get(ctx, api.NamespaceNodeLease, "pull-1")
		if err == nil && l.ResourceVersion != lease0.ResourceVersion {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the cloudlet stopped renewing its lease after the refused pull:\n%s", log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
	waitReady(t, c, "pull-1", log)
	if p, err := pods.Get(ctx, "default", "private"); err != nil || p.Status.Phase != api.PodRunning {
		t.Errorf("pod private after the refused pull: %v %+v", err, p)
	}
	if l := log.String(); strings.Contains(l, password) || strings.Contains(l, "panic") {
		t.Errorf("the cloudlet log shows the password or a panic:\n%s", l)
	}
}
