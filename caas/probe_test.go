package caas_test

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

// probeUnit is one probe second in these tests.
const probeUnit = 20 * time.Millisecond

// startProbePods runs a pod loop whose probe seconds last probeUnit, and
// whose full resync never comes during a test.
func startProbePods(t *testing.T, rt caas.Runtime) *apiservertest.Env {
	t.Helper()
	env := apiservertest.Start(t, apiservertest.Options{})
	m := caas.NewPodManager(joinedClient(t, env, "n1"), rt, caas.PodConfig{
		NodeName: "n1", LogDir: t.TempDir(), Resync: 50 * time.Millisecond, FullResync: time.Hour,
		BackoffBase: 100 * time.Millisecond, BackoffMax: 200 * time.Millisecond,
	}, nil)
	caas.SetProbeTimeUnit(m, probeUnit)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = m.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return env
}

func execProbe(cmd string) *api.Probe {
	return &api.Probe{Exec: &api.ExecAction{Command: []string{cmd}}, TimeoutSeconds: 1, PeriodSeconds: 1, SuccessThreshold: 1, FailureThreshold: 3}
}

func createPod(t *testing.T, env *apiservertest.Env, p *api.Pod) {
	t.Helper()
	if _, err := client.For[api.Pod](env.Admin).Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
}

func condition(p *api.Pod, typ api.PodConditionType) api.PodCondition {
	for _, c := range p.Status.Conditions {
		if c.Type == typ {
			return c
		}
	}
	return api.PodCondition{}
}

func podReady(p *api.Pod) bool { return condition(p, api.PodReady).Status == api.ConditionTrue }

// execsOf returns the commands run in container runs whose ID ends with
// suffix ("-app-0"), in order.
func (f *fakeRuntime) execsOf(suffix string) []execCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []execCall
	for _, e := range f.execs {
		if strings.HasSuffix(e.id, suffix) {
			out = append(out, e)
		}
	}
	return out
}

func (f *fakeRuntime) setExit(cmd string, code int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.execExitCmd[cmd] = code
}

// TestReadinessProbeFlipsReady: the pod is Ready only after
// successThreshold passes in a row, and unready after failureThreshold
// failures in a row; the other container, without a probe, is ready as
// soon as it runs; status is written only when it changes.
func TestReadinessProbeFlipsReady(t *testing.T) {
	rt := newFakeRuntime()
	rt.setExit("ready?", 1)
	env := startProbePods(t, rt)
	p := boundPod("web", api.RestartPolicyAlways, "app", "sidecar")
	p.Spec.Containers[0].ReadinessProbe = execProbe("ready?")
	p.Spec.Containers[0].ReadinessProbe.SuccessThreshold = 2
	p.Spec.Containers[0].ReadinessProbe.FailureThreshold = 2
	createPod(t, env, p)

	got := waitPod(t, env, "web", "Running with failed readiness probes", func(p *api.Pod) bool {
		return p.Status.Phase == api.PodRunning && len(rt.execsOf("-app-0")) >= 3
	})
	cs := got.Status.ContainerStatuses
	if cs[0].Ready || cs[0].Started == nil || !*cs[0].Started || !cs[1].Ready {
		t.Fatalf("container statuses %+v", cs)
	}
	for _, typ := range []api.PodConditionType{api.ContainersReady, api.PodReady} {
		if c := condition(got, typ); c.Status != api.ConditionFalse || c.Message != "containers with unready status: [app]" {
			t.Errorf("%s condition %+v", typ, c)
		}
	}
	if e := rt.execsOf("-app-0"); strings.Join(e[0].cmd, " ") != "ready?" {
		t.Fatalf("probe ran %v", e[0].cmd)
	}

	rt.setExit("ready?", 0)
	got = waitPod(t, env, "web", "Ready", podReady)
	if !got.Status.ContainerStatuses[0].Ready || condition(got, api.ContainersReady).Status != api.ConditionTrue {
		t.Fatalf("status %+v", got.Status)
	}
	// Passing probes every period change nothing: no status writes.
	rv := got.ResourceVersion
	n := len(rt.execsOf("-app-0"))
	time.Sleep(15 * probeUnit)
	if len(rt.execsOf("-app-0")) < n+5 {
		t.Fatalf("probe not run every period: %d runs in 15 periods", len(rt.execsOf("-app-0"))-n)
	}
	again, err := client.For[api.Pod](env.Admin).Get(context.Background(), "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if again.ResourceVersion != rv {
		t.Fatalf("pod written while nothing changed: resourceVersion %s → %s", rv, again.ResourceVersion)
	}

	rt.setExit("ready?", 1)
	waitPod(t, env, "web", "unready again", func(p *api.Pod) bool {
		return !podReady(p) && !p.Status.ContainerStatuses[0].Ready && p.Status.ContainerStatuses[0].RestartCount == 0
	})
}

// TestLivenessProbeRestartsContainer: failureThreshold failures in a row
// kill the container with the probe's grace period; it is restarted, the
// restart count grows, lastState says why, and events record it.
func TestLivenessProbeRestartsContainer(t *testing.T) {
	rt := newFakeRuntime()
	rt.setExit("alive?", 1)
	env := startProbePods(t, rt)
	p := boundPod("live", api.RestartPolicyAlways, "app")
	grace := int64(5)
	p.Spec.Containers[0].LivenessProbe = execProbe("alive?")
	p.Spec.Containers[0].LivenessProbe.TerminationGracePeriodSeconds = &grace
	createPod(t, env, p)

	got := waitPod(t, env, "live", "restarted twice", func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 2
	})
	last := got.Status.ContainerStatuses[0].LastState.Terminated
	if last == nil || last.ExitCode != 137 || last.Message != `Liveness probe failed: command "alive?" exited with code 1` {
		t.Fatalf("lastState %+v", got.Status.ContainerStatuses[0].LastState)
	}
	if n := len(rt.execsOf("-app-0")); n != 3 {
		t.Errorf("first run probed %d times before the kill, want failureThreshold=3", n)
	}
	rt.mu.Lock()
	for id, g := range rt.stopped {
		if g != 5*time.Second {
			t.Errorf("container %s killed with grace %s, want the probe's 5s", id, g)
		}
	}
	rt.mu.Unlock()
	events, _, err := env.Admin.List(context.Background(), mustKind(t, "events"), "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var reasons []string
	for _, o := range events {
		e := o.(*api.Event)
		if e.InvolvedObject.Name == "live" && e.InvolvedObject.FieldPath == "spec.containers{app}" {
			reasons = append(reasons, e.Type+"/"+e.Reason+": "+e.Message)
		}
	}
	all := strings.Join(reasons, "\n")
	for _, want := range []string{`Warning/Unhealthy: Liveness probe failed: command "alive?" exited with code 1`,
		"Normal/Killing: Container app failed liveness probe, will be restarted"} {
		if !strings.Contains(all, want) {
			t.Errorf("no event %q in:\n%s", want, all)
		}
	}

	// Healthy again: no more restarts.
	rt.setExit("alive?", 0)
	time.Sleep(10 * probeUnit)
	before := waitPod(t, env, "live", "running", func(p *api.Pod) bool { return p.Status.ContainerStatuses[0].State.Running != nil })
	time.Sleep(20 * probeUnit)
	after := waitPod(t, env, "live", "running", func(p *api.Pod) bool { return p.Status.ContainerStatuses[0].State.Running != nil })
	if after.Status.ContainerStatuses[0].RestartCount != before.Status.ContainerStatuses[0].RestartCount {
		t.Fatalf("restarted while the probe passes: %d → %d", before.Status.ContainerStatuses[0].RestartCount, after.Status.ContainerStatuses[0].RestartCount)
	}
}

// TestInitialDelay: no probe runs before initialDelaySeconds after the
// container started.
func TestInitialDelay(t *testing.T) {
	rt := newFakeRuntime()
	env := startProbePods(t, rt)
	p := boundPod("slow", api.RestartPolicyAlways, "app")
	p.Spec.Containers[0].ReadinessProbe = execProbe("ready?")
	p.Spec.Containers[0].ReadinessProbe.InitialDelaySeconds = 25
	createPod(t, env, p)
	waitPod(t, env, "slow", "Ready", podReady)
	rt.mu.Lock()
	var started time.Time
	for _, c := range rt.containers {
		started = c.StartedAt
	}
	rt.mu.Unlock()
	first := rt.execsOf("-app-0")[0].at
	if d := first.Sub(started); d < 25*probeUnit {
		t.Fatalf("first probe %s after start, want at least initialDelaySeconds (%s)", d, 25*probeUnit)
	}
}

// TestStartupProbeGatesOthers: liveness and readiness probes do not run
// until the startup probe passes; the container is not Started (nor
// Ready) until then; afterwards both run.
func TestStartupProbeGatesOthers(t *testing.T) {
	rt := newFakeRuntime()
	rt.setExit("started?", 1)
	env := startProbePods(t, rt)
	p := boundPod("gated", api.RestartPolicyAlways, "app")
	c := &p.Spec.Containers[0]
	c.StartupProbe, c.LivenessProbe, c.ReadinessProbe = execProbe("started?"), execProbe("alive?"), execProbe("ready?")
	c.StartupProbe.FailureThreshold = 1000
	createPod(t, env, p)

	got := waitPod(t, env, "gated", "startup probing", func(p *api.Pod) bool {
		return p.Status.Phase == api.PodRunning && len(rt.execsOf("-app-0")) >= 5
	})
	cs := got.Status.ContainerStatuses[0]
	if cs.Started == nil || *cs.Started || cs.Ready {
		t.Fatalf("started %v ready %v while the startup probe fails", cs.Started != nil && *cs.Started, cs.Ready)
	}
	for _, e := range rt.execsOf("-app-0") {
		if e.cmd[0] != "started?" {
			t.Fatalf("%s probe ran before the startup probe passed", e.cmd[0])
		}
	}
	rt.setExit("started?", 0)
	got = waitPod(t, env, "gated", "Ready", podReady)
	if s := got.Status.ContainerStatuses[0].Started; s == nil || !*s {
		t.Fatalf("ready but not started: %+v", got.Status.ContainerStatuses[0])
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		ran := map[string]int{}
		for _, e := range rt.execsOf("-app-0") {
			ran[e.cmd[0]]++
		}
		if ran["alive?"] > 0 && ran["ready?"] > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("liveness and readiness probes not run after startup passed: %v", ran)
		}
		time.Sleep(probeUnit)
	}
	if got.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Fatalf("restarted: %+v", got.Status.ContainerStatuses[0])
	}
}

// TestStartupProbeFailureKills: a startup probe that fails
// failureThreshold times kills the container, which is restarted.
func TestStartupProbeFailureKills(t *testing.T) {
	rt := newFakeRuntime()
	rt.setExit("started?", 1)
	env := startProbePods(t, rt)
	p := boundPod("nostart", api.RestartPolicyOnFailure, "app")
	p.Spec.Containers[0].StartupProbe = execProbe("started?")
	p.Spec.Containers[0].StartupProbe.FailureThreshold = 2
	createPod(t, env, p)
	got := waitPod(t, env, "nostart", "restarted", func(p *api.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount >= 1
	})
	if last := got.Status.ContainerStatuses[0].LastState.Terminated; last == nil || !strings.HasPrefix(last.Message, "Startup probe failed: ") {
		t.Fatalf("lastState %+v", got.Status.ContainerStatuses[0].LastState)
	}
	if n := len(rt.execsOf("-app-0")); n != 2 {
		t.Fatalf("killed after %d probes, want failureThreshold=2", n)
	}
}

func mustKind(t *testing.T, resource string) *api.KindInfo {
	t.Helper()
	k, ok := api.NewScheme().Lookup(resource)
	if !ok {
		t.Fatalf("no kind %s", resource)
	}
	return k
}
