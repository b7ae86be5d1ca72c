package containerd

import (
	"context"
	"fmt"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/cloudmgr/cloud/caas"
)

// A restarted agent (a new Runtime on the same namespace) sees and stops
// the containers its predecessor started.
func TestAdoptAfterAgentRestart(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := testContext(t)
	if _, err := rt.EnsureImage(ctx, testImage(), false, nil); err != nil {
		t.Fatal(err)
	}
	s := pod(t, rt, ctx)
	s.Name, s.Command = "long", []string{"sleep", "1000"}
	id, err := rt.StartContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	again, err := New(rt.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	st := find(t, again, ctx, id)
	if st.State != caas.ContainerRunning || st.PodUID != s.PodUID || st.Name != "long" || st.StartedAt.IsZero() {
		t.Fatalf("adopted %+v", st)
	}
	if _, err := again.StartContainer(ctx, s); err == nil {
		t.Error("starting the same attempt twice succeeded")
	}
	if st := find(t, again, ctx, id); st.State != caas.ContainerRunning {
		t.Errorf("a failed duplicate start disturbed the running container: %+v", st)
	}
	if err := again.StopContainer(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	if st := find(t, again, ctx, id); st.State != caas.ContainerExited || st.ExitCode != 137 {
		t.Errorf("after stop: %+v", st)
	}
}

// netnsOf returns the network namespace inode of a container's process.
func netnsOf(t *testing.T, rt *Runtime, ctx context.Context, id string) uint64 {
	t.Helper()
	task, err := rt.loadTask(rt.ctx(ctx), id)
	if err != nil || task == nil {
		t.Fatalf("task of %s: %v", id, err)
	}
	return inode(t, fmt.Sprintf("/proc/%d/ns/net", task.Pid()))
}

func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

// A restarted agent whose predecessor's network namespace bind mount is
// gone (lost with a private mount namespace, or unmounted while the pod
// ran) binds the running containers' namespace again: a container started
// afterwards shares localhost with them.
func TestSandboxAdoptedWhenMountLost(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := testContext(t)
	if _, err := rt.EnsureImage(ctx, testImage(), false, nil); err != nil {
		t.Fatal(err)
	}
	s := pod(t, rt, ctx)
	s.Name, s.Command = "first", []string{"sleep", "1000"}
	id, err := rt.StartContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	want := netnsOf(t, rt, ctx, id)
	if got := inode(t, s.NetNSPath); got != want {
		t.Fatalf("container in netns %d, sandbox is %d", want, got)
	}
	if err := unix.Unmount(s.NetNSPath, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	again, err := New(rt.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	sb, err := again.CreateSandbox(ctx, s.PodUID)
	if err != nil {
		t.Fatal(err)
	}
	if !isNetNS(sb.NetNSPath) {
		t.Fatalf("%s is not a network namespace after CreateSandbox", sb.NetNSPath)
	}
	if got := inode(t, sb.NetNSPath); got != want {
		t.Fatalf("restarted agent made network namespace %d; the running container is in %d", got, want)
	}
	s2 := s
	s2.Name, s2.NetNSPath = "second", sb.NetNSPath
	id2, err := again.StartContainer(ctx, s2)
	if err != nil {
		t.Fatal(err)
	}
	if got := netnsOf(t, again, ctx, id2); got != want {
		t.Errorf("second container in netns %d, first in %d", got, want)
	}

	// With no container running, a lost mount gives a fresh namespace.
	for _, c := range []string{id, id2} {
		if err := again.StopContainer(ctx, c, 0); err != nil {
			t.Fatal(err)
		}
	}
	if err := unix.Unmount(sb.NetNSPath, unix.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	sb, err = again.CreateSandbox(ctx, s.PodUID)
	if err != nil {
		t.Fatal(err)
	}
	if !isNetNS(sb.NetNSPath) || inode(t, sb.NetNSPath) == want {
		t.Errorf("no fresh network namespace at %s once the pod's containers stopped", sb.NetNSPath)
	}
}
