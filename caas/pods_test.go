package caas_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/caas"
	"github.com/cloudmgr/cloud/client"
)

// startPods runs a pod loop on node n1 whose full resync never comes
// during a test: what it does, the relist's signals alone make happen.
func startPods(t *testing.T, rt caas.Runtime) *apiservertest.Env {
	t.Helper()
	return startPodsWith(t, rt, time.Hour)
}

func startPodsWith(t *testing.T, rt caas.Runtime, fullResync time.Duration) *apiservertest.Env {
	t.Helper()
	env := apiservertest.Start(t, apiservertest.Options{})
	m := caas.NewPodManager(joinedClient(t, env, "n1"), rt, caas.PodConfig{
		NodeName: "n1", HostIP: "10.9.9.9", LogDir: t.TempDir(), Resync: 50 * time.Millisecond, FullResync: fullResync,
		BackoffBase: 300 * time.Millisecond, BackoffMax: time.Second,
	}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return env
}

func boundPod(name string, policy api.RestartPolicy, containers ...string) *api.Pod {
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PodSpec{NodeName: "n1", RestartPolicy: policy}}
	for _, c := range containers {
		p.Spec.Containers = append(p.Spec.Containers, api.Container{Name: c, Image: "img-" + c,
			Resources: api.ResourceRequirements{Limits: api.ResourceList{"cpu": api.MustParseQuantity("500m"), "memory": api.MustParseQuantity("64Mi")}}})
	}
	return p
}

func waitPod(t *testing.T, env *apiservertest.Env, name, what string, ok func(*api.Pod) bool) *api.Pod {
	t.Helper()
	deadline := time.Now().Add(15 * time.Second)
	var last *api.Pod
	for time.Now().Before(deadline) {
		p, err := client.For[api.Pod](env.Admin).Get(context.Background(), "default", name)
		if err == nil {
			last = p
			if ok(p) {
				return p
			}
		}
		time.Sleep(30 * time.Millisecond)
	}
	t.Fatalf("pod %s: %s not seen within 15s; last status %+v", name, what, last)
	return nil
}

func TestPodRunsAndIsDeletedGracefully(t *testing.T) {
	rt := newFakeRuntime()
	env := startPods(t, rt)
	ctx := context.Background()
	if _, err := client.For[api.Pod](env.Admin).Create(ctx, boundPod("web", api.RestartPolicyAlways, "app", "sidecar")); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, env, "web", "Running and Ready", func(p *api.Pod) bool {
		return p.Status.Phase == api.PodRunning && len(p.Status.Conditions) == 4 && p.Status.Conditions[3].Status == api.ConditionTrue
	})
	if p.Status.HostIP != "10.9.9.9" || p.Status.StartTime == nil || len(p.Status.ContainerStatuses) != 2 || !p.Status.ContainerStatuses[0].Ready {
		t.Fatalf("status %+v", p.Status)
	}
	grace := int64(7)
	if err := client.For[api.Pod](env.Admin).Delete(ctx, "default", "web", client.DeleteOptions{GracePeriodSeconds: &grace}); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, err := client.For[api.Pod](env.Admin).Get(ctx, "default", "web")
		if client.IsNotFound(err) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not removed after its containers stopped: %v", err)
		}
		time.Sleep(30 * time.Millisecond)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if len(rt.stopped) != 2 || len(rt.containers) != 0 || len(rt.sandboxes) != 0 {
		t.Fatalf("stopped %v, containers left %d, sandboxes left %d", rt.stopped, len(rt.containers), len(rt.sandboxes))
	}
	for id, g := range rt.stopped {
		if g != 7*time.Second {
			t.Errorf("container %s stopped with grace %s, want 7s", id, g)
		}
	}
}

func TestImagePullFailureBacksOff(t *testing.T) {
	rt := newFakeRuntime()
	rt.missingImages["img-app"] = true
	env := startPods(t, rt)
	if _, err := client.For[api.Pod](env.Admin).Create(context.Background(), boundPod("nopull", api.RestartPolicyAlways, "app")); err != nil {
		t.Fatal(err)
	}
	reason := func(p *api.Pod) string {
		if len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].State.Waiting != nil {
			return p.Status.ContainerStatuses[0].State.Waiting.Reason
		}
		return ""
	}
	waitPod(t, env, "nopull", "ErrImagePull", func(p *api.Pod) bool { return reason(p) == "ErrImagePull" })
	p := waitPod(t, env, "nopull", "ImagePullBackOff", func(p *api.Pod) bool { return reason(p) == "ImagePullBackOff" })
	if p.Status.Phase != api.PodPending {
		t.Fatalf("phase %s, want Pending", p.Status.Phase)
	}
	rt.mu.Lock()
	delete(rt.missingImages, "img-app")
	rt.mu.Unlock()
	waitPod(t, env, "nopull", "Running once the image appears", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
}

func TestCrashLoopBackOff(t *testing.T) {
	rt := newFakeRuntime()
	rt.exitOnStart["app"] = 1
	env := startPods(t, rt)
	if _, err := client.For[api.Pod](env.Admin).Create(context.Background(), boundPod("crash", api.RestartPolicyAlways, "app")); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, env, "crash", "CrashLoopBackOff after restarts", func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 2 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
	})
	cs := p.Status.ContainerStatuses[0]
	if cs.LastState.Terminated == nil || cs.LastState.Terminated.ExitCode != 1 || cs.LastState.Terminated.Reason != "Error" {
		t.Fatalf("lastState %+v", cs.LastState)
	}
	if p.Status.Phase != api.PodRunning {
		t.Fatalf("phase %s while restarting, want Running", p.Status.Phase)
	}
	if n := rt.count(); n > 2 {
		t.Fatalf("%d containers kept, want at most the current and the previous attempt", n)
	}
}

// TestStartErrorCrashLoops: a command that cannot start is an exited
// attempt (StartError, exit 128) that counts as a restart, then
// CrashLoopBackOff with the back-off named in the message; with
// restartPolicy Never the pod fails.
func TestStartErrorCrashLoops(t *testing.T) {
	rt := newFakeRuntime()
	rt.startErrors["app"] = `exec: "/no/such": stat /no/such: no such file or directory`
	env := startPods(t, rt)
	pods := client.For[api.Pod](env.Admin)
	if _, err := pods.Create(context.Background(), boundPod("nocmd", api.RestartPolicyAlways, "app")); err != nil {
		t.Fatal(err)
	}
	p := waitPod(t, env, "nocmd", "CrashLoopBackOff after start errors", func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 2 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
	})
	cs := p.Status.ContainerStatuses[0]
	if lt := cs.LastState.Terminated; lt == nil || lt.ExitCode != 128 || lt.Reason != "StartError" || !strings.Contains(lt.Message, "/no/such") {
		t.Fatalf("lastState %+v; want terminated 128 StartError with the error", cs.LastState)
	}
	if msg := cs.State.Waiting.Message; !strings.Contains(msg, "back-off ") || !strings.Contains(msg, "restarting failed container app") {
		t.Fatalf("waiting message %q; want the back-off delay and the container", msg)
	}
	if _, err := pods.Create(context.Background(), boundPod("nocmd-never", api.RestartPolicyNever, "app")); err != nil {
		t.Fatal(err)
	}
	waitPod(t, env, "nocmd-never", "Failed with StartError", func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return p.Status.Phase == api.PodFailed && len(cs) == 1 && cs[0].RestartCount == 0 &&
			cs[0].State.Terminated != nil && cs[0].State.Terminated.Reason == "StartError"
	})
}

func TestRestartPolicies(t *testing.T) {
	for _, tc := range []struct {
		policy api.RestartPolicy
		code   int32
		phase  api.PodPhase
	}{
		{api.RestartPolicyNever, 0, api.PodSucceeded},
		{api.RestartPolicyNever, 2, api.PodFailed},
		{api.RestartPolicyOnFailure, 0, api.PodSucceeded},
	} {
		t.Run(fmt.Sprintf("%s-exit-%d", tc.policy, tc.code), func(t *testing.T) {
			rt := newFakeRuntime()
			rt.exitOnStart["job"] = tc.code
			env := startPods(t, rt)
			if _, err := client.For[api.Pod](env.Admin).Create(context.Background(), boundPod("job", tc.policy, "job")); err != nil {
				t.Fatal(err)
			}
			p := waitPod(t, env, "job", string(tc.phase), func(p *api.Pod) bool { return p.Status.Phase == tc.phase })
			if cs := p.Status.ContainerStatuses[0]; cs.RestartCount != 0 || cs.State.Terminated == nil || cs.State.Terminated.ExitCode != tc.code {
				t.Fatalf("container status %+v", cs)
			}
		})
	}
}

// TestAdoptionAndOrphans: containers of pods the agent already runs are
// kept (not restarted); containers of pods that no longer exist go.
func TestAdoptionAndOrphans(t *testing.T) {
	rt := newFakeRuntime()
	env := apiservertest.Start(t, apiservertest.Options{})
	p, err := client.For[api.Pod](env.Admin).Create(context.Background(), boundPod("kept", api.RestartPolicyAlways, "app"))
	if err != nil {
		t.Fatal(err)
	}
	// As if a previous agent had started them.
	keptID, _ := rt.StartContainer(context.Background(), caas.ContainerSpec{PodUID: p.UID, PodNamespace: "default", PodName: "kept", Name: "app"})
	_, _ = rt.StartContainer(context.Background(), caas.ContainerSpec{PodUID: "0123456789-gone", PodNamespace: "default", PodName: "gone", Name: "app"})
	m := caas.NewPodManager(joinedClient(t, env, "n1"), rt, caas.PodConfig{NodeName: "n1", LogDir: t.TempDir(), Resync: 50 * time.Millisecond}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = m.Run(ctx) }()
	waitPod(t, env, "kept", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	deadline := time.Now().Add(10 * time.Second)
	for rt.count() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d containers, want the orphan removed", rt.count())
		}
		time.Sleep(20 * time.Millisecond)
	}
	rt.mu.Lock()
	defer rt.mu.Unlock()
	if c, ok := rt.containers[keptID]; !ok || c.Attempt != 0 || len(rt.stopped) != 1 {
		t.Fatalf("adopted container replaced or stopped: %+v, stopped %v", c, rt.stopped)
	}
}

// Deleting a pod whose image pull hangs abandons the pull: the pod leaves
// the API and its sandbox is removed, whether the delete is graceful (the
// node finishes it) or forced (the pod is gone at once).
func TestDeleteAbandonsPull(t *testing.T) {
	for _, forced := range []bool{false, true} {
		t.Run(fmt.Sprintf("forced=%v", forced), func(t *testing.T) {
			rt := newFakeRuntime()
			pulling := make(chan struct{})
			rt.stuckImages["img-app"] = pulling
			env := startPods(t, rt)
			ctx := context.Background()
			pods := client.For[api.Pod](env.Admin)
			if _, err := pods.Create(ctx, boundPod("stuck", api.RestartPolicyAlways, "app")); err != nil {
				t.Fatal(err)
			}
			select {
			case <-pulling:
			case <-time.After(15 * time.Second):
				t.Fatal("pull never started")
			}
			opts := client.DeleteOptions{}
			if forced {
				zero := int64(0)
				opts.GracePeriodSeconds = &zero
			}
			if err := pods.Delete(ctx, "default", "stuck", opts); err != nil {
				t.Fatal(err)
			}
			deadline := time.Now().Add(10 * time.Second)
			for {
				_, err := pods.Get(ctx, "default", "stuck")
				rt.mu.Lock()
				sandboxes := len(rt.sandboxes)
				rt.mu.Unlock()
				if client.IsNotFound(err) && sandboxes == 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("pod still there (%v) or sandboxes left (%d) 10s after delete", err, sandboxes)
				}
				time.Sleep(30 * time.Millisecond)
			}
		})
	}
}
