package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/snapshots"
	"github.com/containerd/containerd/v2/pkg/namespaces"

	"github.com/cloudmgr/cloud/api"
	cd "github.com/cloudmgr/cloud/caas/containerd"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

func (n *joinedNode) kill(t *testing.T) {
	t.Helper()
	_ = n.cmd.Process.Signal(syscall.SIGKILL)
	_ = n.cmd.Wait()
}

// restart starts the cloudlet again on the same state dir (its stored
// credential, no join token).
func (n *joinedNode) restart(t *testing.T) {
	t.Helper()
	n.cmd, n.log = startCloudlet(t, n.bin, n.common...)
}

// sleeper is a pod of one container that sleeps, killed at once on delete.
func (n *joinedNode) sleeper(name string) *api.Pod {
	zero := int64(0)
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec: api.PodSpec{NodeName: n.name, TerminationGracePeriodSeconds: &zero, Containers: []api.Container{{
			Name: "main", Image: n.registry + "/cloudmgr/busybox:test", Command: []string{"sleep", "100000"},
		}}},
	}
}

// eventually polls cond every 100ms until it holds, failing after timeout
// with what cond last said.
func eventually(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, last := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// runningPod waits until the pod runs with all containers ready.
func (n *joinedNode) runningPod(t *testing.T, name string, timeout time.Duration) *api.Pod {
	t.Helper()
	var got *api.Pod
	eventually(t, timeout, "pod "+name+" Running", func() (bool, string) {
		p, err := n.pods.Get(context.Background(), "default", name)
		if err != nil {
			return false, err.Error()
		}
		got = p
		ok := p.Status.Phase == api.PodRunning && len(p.Status.ContainerStatuses) == len(p.Spec.Containers)
		for _, cs := range p.Status.ContainerStatuses {
			ok = ok && cs.Ready && cs.State.Running != nil
		}
		return ok, fmt.Sprintf("%+v\ncloudlet log:\n%s", p.Status, n.log.String())
	})
	return got
}

// nodeReady reports the node's Ready condition.
func (n *joinedNode) nodeReady(t *testing.T) api.NodeCondition {
	t.Helper()
	node, err := client.For[api.Node](n.c).Get(context.Background(), "", n.name)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range node.Status.Conditions {
		if c.Type == api.NodeReady {
			return c
		}
	}
	return api.NodeCondition{}
}

// containerdClient connects to the node's containerd in its namespace.
func (n *joinedNode) containerdClient(t *testing.T) (*containerd.Client, context.Context) {
	t.Helper()
	c, err := containerd.New(n.sock, containerd.WithTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(namespaces.WithNamespace(context.Background(), n.ns), 2*time.Minute)
	t.Cleanup(cancel)
	return c, ctx
}

// taskPID returns the pid of a container's task.
func (n *joinedNode) taskPID(t *testing.T, containerID string) int {
	t.Helper()
	c, ctx := n.containerdClient(t)
	ctr, err := c.LoadContainer(ctx, strings.TrimPrefix(containerID, "containerd://"))
	if err != nil {
		t.Fatal(err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return int(task.Pid())
}

// alive reports whether pid runs the sleep command.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	return err == nil && strings.HasPrefix(string(b), "sleep\x00")
}

// leftovers lists what containerd and the node still hold for a pod:
// containers, tasks, snapshots, the network namespace bind mount or its
// file, and (with all set) any lease or content ingest in the namespace.
func (n *joinedNode) leftovers(t *testing.T, podUID string, all bool) []string {
	t.Helper()
	c, ctx := n.containerdClient(t)
	var out []string
	prefix := podUID
	if len(prefix) > 12 {
		prefix = prefix[:12]
	}
	ctrs, err := c.Containers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, ctr := range ctrs {
		if strings.HasPrefix(ctr.ID(), prefix) {
			out = append(out, "container "+ctr.ID())
		}
	}
	tasks, err := c.TaskService().List(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tk := range tasks.Tasks {
		if strings.HasPrefix(tk.ID, prefix) {
			out = append(out, "task "+tk.ID)
		}
	}
	err = c.SnapshotService(n.snapshotter).Walk(ctx, func(_ context.Context, info snapshots.Info) error {
		if strings.HasPrefix(info.Name, prefix) {
			out = append(out, "snapshot "+info.Name)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	netns := filepath.Join(n.state, "runtime", "netns", podUID)
	if mounts, _ := os.ReadFile("/proc/mounts"); strings.Contains(string(mounts), " "+netns+" ") {
		out = append(out, "netns mount "+netns)
	}
	if _, err := os.Stat(netns); err == nil {
		out = append(out, "netns file "+netns)
	}
	if all {
		leases, err := c.LeasesService().List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, l := range leases {
			out = append(out, "lease "+l.ID)
		}
		ingests, err := c.ContentStore().ListStatuses(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range ingests {
			out = append(out, "content ingest "+st.Ref)
		}
	}
	return out
}

// TestContainerdRestartUnderCloudlet: containerd (a private one) stops
// under a joined cloudlet that runs a pod: the node turns NotReady naming
// containerd, the pod keeps running (its shim outlives containerd) and
// keeps its status; once containerd is back the node is Ready again, the
// pod is the same container (ID, start time, no restart) and a new pod
// runs.
func TestContainerdRestartUnderCloudlet(t *testing.T) {
	_, snapshotter := projectContainerd(t)
	ctrd, err := test.StartContainerd()
	if err != nil {
		t.Fatalf("%v; run `make deps` (make setup installs containerd)", err)
	}
	t.Cleanup(func() {
		if err := ctrd.Close(); err != nil {
			t.Errorf("private containerd: %v", err)
		}
	})
	// Whatever happens, containerd runs again before the namespace is
	// cleaned up (cleanups run last registered first).
	t.Cleanup(func() {
		if ctrd.PID() == 0 {
			_ = ctrd.Start()
		}
	})
	n := startJoinedNode(t, ctrd.Socket, snapshotter, "restart-1", "--heartbeat-interval", "200ms")
	ctx := context.Background()
	if _, err := n.pods.Create(ctx, n.sleeper("steady")); err != nil {
		t.Fatal(err)
	}
	before := n.runningPod(t, "steady", 60*time.Second).Status.ContainerStatuses[0]
	pid := n.taskPID(t, before.ContainerID)
	if !alive(pid) {
		t.Fatalf("container process %d is not sleep", pid)
	}

	if err := ctrd.Stop(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "node NotReady naming containerd", func() (bool, string) {
		c := n.nodeReady(t)
		return c.Status == api.ConditionFalse && strings.Contains(strings.ToLower(c.Reason+" "+c.Message), "containerd"), fmt.Sprintf("%+v", c)
	})
	if !alive(pid) {
		t.Fatal("the container's process died with containerd")
	}
	time.Sleep(time.Second) // a few resyncs of the pod loop without containerd
	p, err := n.pods.Get(ctx, "default", "steady")
	if err != nil {
		t.Fatal(err)
	}
	if cs := p.Status.ContainerStatuses[0]; p.Status.Phase != api.PodRunning || cs.ContainerID != before.ContainerID || cs.State.Running == nil {
		t.Fatalf("pod status changed while containerd was down: %+v", p.Status)
	}

	if err := ctrd.Start(); err != nil {
		t.Fatal(err)
	}
	eventually(t, 30*time.Second, "node Ready again", func() (bool, string) {
		c := n.nodeReady(t)
		return c.Status == api.ConditionTrue, fmt.Sprintf("%+v\ncloudlet log:\n%s", c, n.log.String())
	})
	if _, err := n.pods.Create(ctx, n.sleeper("after")); err != nil {
		t.Fatal(err)
	}
	n.runningPod(t, "after", 60*time.Second)
	time.Sleep(2 * time.Second) // the pod loop's resyncs see the steady pod again
	after := n.runningPod(t, "steady", time.Second).Status.ContainerStatuses[0]
	if after.ContainerID != before.ContainerID || after.RestartCount != 0 ||
		!after.State.Running.StartedAt.Equal(before.State.Running.StartedAt.Time) {
		t.Fatalf("steady pod's container changed across the containerd restart:\nbefore %+v\nafter  %+v", before, after)
	}
	if got := n.taskPID(t, after.ContainerID); got != pid || !alive(pid) {
		t.Fatalf("container process now %d (alive %v), was %d", got, alive(pid), pid)
	}
}

// TestCloudletKilledAdoptsAndCleansUp: a cloudlet killed with SIGKILL and
// started again on the same state dir adopts the running pod (same
// container, process and start time; no duplicate; no restart), and
// cleans up completely the pods deleted while it was down, both a graceful
// delete (the pod waits for the node) and a forced one (already gone from
// the API).
func TestCloudletKilledAdoptsAndCleansUp(t *testing.T) {
	sock, snapshotter := projectContainerd(t)
	n := startJoinedNode(t, sock, snapshotter, "crash-1", "--heartbeat-interval", "200ms")
	ctx := context.Background()
	names := []string{"keep", "graceful", "forced"}
	uids := map[string]string{}
	for _, name := range names {
		p := n.sleeper(name)
		if name == "graceful" {
			one := int64(1)
			p.Spec.TerminationGracePeriodSeconds = &one
		}
		if _, err := n.pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	for _, name := range names {
		uids[name] = n.runningPod(t, name, 60*time.Second).UID
	}
	keep, _ := n.pods.Get(ctx, "default", "keep")
	before := keep.Status.ContainerStatuses[0]
	pid := n.taskPID(t, before.ContainerID)

	n.kill(t)
	if err := n.pods.Delete(ctx, "default", "graceful", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	zero := int64(0)
	if err := n.pods.Delete(ctx, "default", "forced", client.DeleteOptions{GracePeriodSeconds: &zero}); err != nil {
		t.Fatal(err)
	}
	if _, err := n.pods.Get(ctx, "default", "graceful"); err != nil {
		t.Fatalf("a graceful delete with the node down should wait for the node: %v", err)
	}
	if left := n.leftovers(t, uids["forced"], false); len(left) == 0 {
		t.Fatal("the forced pod's containers are gone before the cloudlet restarted: the test proves nothing")
	}

	n.restart(t)
	waitReady(t, n.c, n.name, n.log)
	eventually(t, 30*time.Second, "deleted pods cleaned up", func() (bool, string) {
		var left []string
		for _, name := range []string{"graceful", "forced"} {
			left = append(left, n.leftovers(t, uids[name], false)...)
		}
		_, err := n.pods.Get(ctx, "default", "graceful")
		if !client.IsNotFound(err) {
			left = append(left, fmt.Sprintf("pod graceful still in the API (%v)", err))
		}
		return len(left) == 0, fmt.Sprintf("%v\ncloudlet log:\n%s", left, n.log.String())
	})
	time.Sleep(2 * time.Second) // resyncs of the adopted pod
	after := n.runningPod(t, "keep", time.Second).Status.ContainerStatuses[0]
	if after.ContainerID != before.ContainerID || after.RestartCount != 0 ||
		!after.State.Running.StartedAt.Equal(before.State.Running.StartedAt.Time) {
		t.Fatalf("kept pod's container changed across the cloudlet restart:\nbefore %+v\nafter  %+v", before, after)
	}
	if got := n.taskPID(t, after.ContainerID); got != pid || !alive(pid) {
		t.Fatalf("kept container's process now %d (alive %v), was %d", got, alive(pid), pid)
	}
	rt, err := cd.New(cd.Config{Socket: sock, Namespace: n.ns, StateDir: filepath.Join(n.state, "runtime")})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close()
	list, err := rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].PodUID != uids["keep"] {
		t.Fatalf("containers after restart: %+v, want only the kept pod's one", list)
	}
}
