package containerd

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/caas"
	"github.com/cloudmgr/cloud/client"
)

// startPodManager runs the pod loop of node "probe-node" against the real
// containerd through rt, with an API server of the test's own, and
// returns an admin client.
func startPodManager(t *testing.T, rt *Runtime) *client.Client {
	t.Helper()
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	jt, err := env.Admin.CreateJoinToken(ctx, time.Minute, "")
	if err != nil {
		t.Fatal(err)
	}
	cred, err := env.Client(t, jt.Token).Join(ctx, "probe-node")
	if err != nil {
		t.Fatal(err)
	}
	m := caas.NewPodManager(env.Client(t, cred.Token), rt, caas.PodConfig{
		NodeName: "probe-node", LogDir: t.TempDir(), Resync: 300 * time.Millisecond,
		BackoffBase: 500 * time.Millisecond, BackoffMax: 2 * time.Second,
	}, nil)
	runCtx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(runCtx) }()
	t.Cleanup(func() { cancel(); <-done })
	return env.Admin
}

// probedPod is a busybox pod bound to probe-node with one container.
func probedPod(name string, command string, c func(*api.Container)) *api.Pod {
	grace := int64(1)
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PodSpec{NodeName: "probe-node", TerminationGracePeriodSeconds: &grace, Containers: []api.Container{{
			Name: "app", Image: testImage(), ImagePullPolicy: api.PullIfNotPresent, Command: []string{"sh", "-c", command},
		}}}}
	c(&p.Spec.Containers[0])
	api.DefaultPod(p)
	return p
}

// httpdCommand serves /www, which holds healthz, on port 8080.
const httpdCommand = "mkdir -p /www && echo ok > /www/healthz && exec httpd -f -p 8080 -h /www"

func waitFor(t *testing.T, c *client.Client, name, what string, timeout time.Duration, ok func(*api.Pod) bool) *api.Pod {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last *api.Pod
	for time.Now().Before(deadline) {
		p, err := client.For[api.Pod](c).Get(context.Background(), "default", name)
		if err == nil {
			last = p
			if ok(p) {
				return p
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Fatalf("pod %s: %s not seen within %s; last status %+v", name, what, timeout, last)
	return nil
}

func readyCond(p *api.Pod) api.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == api.PodReady {
			return c.Status
		}
	}
	return ""
}

// eventsAbout returns "Reason: message" of the events about a pod.
func eventsAbout(t *testing.T, c *client.Client, name string) string {
	t.Helper()
	k, _ := api.NewScheme().Lookup("events")
	items, _, err := c.List(context.Background(), k, "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, o := range items {
		if e := o.(*api.Event); e.InvolvedObject.Name == name {
			out = append(out, e.Reason+": "+e.Message)
		}
	}
	return strings.Join(out, "\n")
}

// TestProbesInContainerd runs the three kinds of probe handler against
// real containers in containerd: HTTP and TCP probes connect inside the
// pod's network namespace (the pods have only loopback), exec probes run
// in the container.
func TestProbesInContainerd(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := testContext(t)
	if _, err := rt.EnsureImage(ctx, testImage(), false, nil); err != nil {
		t.Fatalf("%v; run `make deps` to push the test image", err)
	}
	c := startPodManager(t, rt)
	pods := client.For[api.Pod](c)
	period := func(p *api.Probe) *api.Probe { p.PeriodSeconds = 1; return p }
	for _, p := range []*api.Pod{
		probedPod("exec-ready", "sleep 2; touch /tmp/ready; exec sleep 1000", func(c *api.Container) {
			c.ReadinessProbe = period(&api.Probe{Exec: &api.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}}})
		}),
		probedPod("http-live", httpdCommand, func(c *api.Container) {
			c.Ports = []api.ContainerPort{{Name: "http", ContainerPort: 8080}}
			c.LivenessProbe = period(&api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/healthz", Port: api.FromString("http")}})
			c.ReadinessProbe = period(&api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(8080)}})
		}),
		probedPod("http-dead", httpdCommand, func(c *api.Container) {
			grace := int64(1)
			c.LivenessProbe = period(&api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/missing", Port: api.FromInt(8080)},
				FailureThreshold: 1, InitialDelaySeconds: 1, TerminationGracePeriodSeconds: &grace})
		}),
		probedPod("tcp-closed", "exec sleep 1000", func(c *api.Container) {
			c.ReadinessProbe = period(&api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromInt(9000)}})
		}),
	} {
		if _, err := pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}

	t.Run("exec readiness flips Ready", func(t *testing.T) {
		waitFor(t, c, "exec-ready", "Running and not Ready", 60*time.Second, func(p *api.Pod) bool {
			return p.Status.Phase == api.PodRunning && readyCond(p) == api.ConditionFalse
		})
		p := waitFor(t, c, "exec-ready", "Ready once /tmp/ready exists", 30*time.Second, func(p *api.Pod) bool {
			return readyCond(p) == api.ConditionTrue
		})
		if cs := p.Status.ContainerStatuses[0]; !cs.Ready || cs.RestartCount != 0 {
			t.Fatalf("container status %+v", cs)
		}
	})
	t.Run("http liveness and tcp readiness pass", func(t *testing.T) {
		waitFor(t, c, "http-live", "Ready", 60*time.Second, func(p *api.Pod) bool { return readyCond(p) == api.ConditionTrue })
		time.Sleep(4 * time.Second) // four liveness periods
		p := waitFor(t, c, "http-live", "still Ready", time.Second, func(p *api.Pod) bool { return readyCond(p) == api.ConditionTrue })
		if cs := p.Status.ContainerStatuses[0]; cs.RestartCount != 0 {
			t.Fatalf("restarted though its liveness probe passes: %+v\nevents:\n%s", cs, eventsAbout(t, c, "http-live"))
		}
	})
	t.Run("failing http liveness restarts", func(t *testing.T) {
		p := waitFor(t, c, "http-dead", "restarted twice", 90*time.Second, func(p *api.Pod) bool {
			return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 2
		})
		last := p.Status.ContainerStatuses[0].LastState.Terminated
		if last == nil || last.Message != "Liveness probe failed: HTTP probe failed with statuscode: 404" {
			t.Fatalf("lastState %+v", p.Status.ContainerStatuses[0].LastState)
		}
		ev := eventsAbout(t, c, "http-dead")
		for _, want := range []string{"Unhealthy: Liveness probe failed: HTTP probe failed with statuscode: 404",
			"Killing: Container app failed liveness probe, will be restarted"} {
			if !strings.Contains(ev, want) {
				t.Errorf("no event %q in:\n%s", want, ev)
			}
		}
	})
	t.Run("tcp readiness on a closed port fails", func(t *testing.T) {
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(eventsAbout(t, c, "tcp-closed"), "Unhealthy: Readiness probe failed: dial tcp 127.0.0.1:9000: connect: connection refused") {
			if time.Now().After(deadline) {
				t.Fatalf("no Unhealthy event; events:\n%s", eventsAbout(t, c, "tcp-closed"))
			}
			time.Sleep(200 * time.Millisecond)
		}
		p := waitFor(t, c, "tcp-closed", "Running", time.Second, func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
		if readyCond(p) != api.ConditionFalse || p.Status.ContainerStatuses[0].Ready {
			t.Fatalf("ready though nothing listens: %+v", p.Status)
		}
	})
}
