package caas_test

import (
	"context"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// A container that exits on its own is noticed by the next relist: with
// no full resync to come, the pod still turns Failed.
func TestRelistNoticesExit(t *testing.T) {
	rt := newFakeRuntime()
	env := startPods(t, rt)
	p, err := client.For[api.Pod](env.Admin).Create(context.Background(), boundPod("exits", api.RestartPolicyNever, "app"))
	if err != nil {
		t.Fatal(err)
	}
	waitPod(t, env, "exits", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	if !rt.exit(p.UID, "app", 3) {
		t.Fatal("no running container to exit")
	}
	got := waitPod(t, env, "exits", "Failed after its container exited", func(p *api.Pod) bool { return p.Status.Phase == api.PodFailed })
	if cs := got.Status.ContainerStatuses[0]; cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 3 {
		t.Fatalf("container status %+v, want terminated with exit code 3", cs)
	}
}

// quietTicks is how many ticks in a row must pass without a sync of a
// settled pod.
const quietTicks = 20

// waitQuiet waits for quietTicks ticks in a row without a sync of pod uid
// and reports whether that happened within 15s.
func waitQuiet(rt *fakeRuntime, uid string) bool {
	deadline := time.Now().Add(15 * time.Second)
	syncs, ticks := rt.syncsAndTicks(uid)
	for time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
		s, tk := rt.syncsAndTicks(uid)
		if s != syncs {
			syncs, ticks = s, tk
			continue
		}
		if tk-ticks >= quietTicks {
			return true
		}
	}
	return false
}

// A running pod whose containers do not change is not synced on every
// tick: once settled, many ticks pass without a sync of it.
func TestRelistLeavesUnchangedPodAlone(t *testing.T) {
	rt := newFakeRuntime()
	env := startPods(t, rt)
	p, err := client.For[api.Pod](env.Admin).Create(context.Background(), boundPod("calm", api.RestartPolicyAlways, "app"))
	if err != nil {
		t.Fatal(err)
	}
	waitPod(t, env, "calm", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	if !waitQuiet(rt, p.UID) {
		syncs, ticks := rt.syncsAndTicks(p.UID)
		t.Fatalf("the running pod kept being synced: %d syncs in %d ticks, never %d ticks without one", syncs, ticks, quietTicks)
	}
}

// The full resync syncs every pod, changed or not.
func TestFullResyncSyncsUnchangedPod(t *testing.T) {
	rt := newFakeRuntime()
	env := startPodsWith(t, rt, 300*time.Millisecond)
	p, err := client.For[api.Pod](env.Admin).Create(context.Background(), boundPod("calm", api.RestartPolicyAlways, "app"))
	if err != nil {
		t.Fatal(err)
	}
	waitPod(t, env, "calm", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	// Each full resync syncs it: its syncs keep growing, by more than
	// the few that starting it took.
	before, _ := rt.syncsAndTicks(p.UID)
	deadline := time.Now().Add(15 * time.Second)
	for {
		now, _ := rt.syncsAndTicks(p.UID)
		if now >= before+6 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d syncs of the running pod in 15s after it ran, want full resyncs", now-before)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// A crashing container is restarted when its back-off ends, with no full
// resync to come and nothing else changing, and never before.
func TestRelistRetriesWhenBackoffEnds(t *testing.T) {
	rt := newFakeRuntime()
	rt.exitOnStart["app"] = 1
	env := startPods(t, rt) // back-off 300ms, then 600ms, then 1s
	if _, err := client.For[api.Pod](env.Admin).Create(context.Background(), boundPod("crash", api.RestartPolicyAlways, "app")); err != nil {
		t.Fatal(err)
	}
	waitPod(t, env, "crash", "three restarts", func(p *api.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].RestartCount >= 3
	})
	rt.mu.Lock()
	starts := append([]time.Time(nil), rt.starts["app"]...)
	rt.mu.Unlock()
	// The first restart is at once; each later one waits its back-off.
	for i := 2; i < len(starts); i++ {
		if gap := starts[i].Sub(starts[i-1]); gap < 300*time.Millisecond {
			t.Errorf("attempt %d started %s after attempt %d, inside the 300ms back-off", i, gap, i-1)
		}
	}
}
