package e2e

import (
	"context"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// nsInode returns the inode of a namespace file, or 0.
func nsInode(path string) uint64 {
	var st unix.Stat_t
	if unix.Stat(path, &st) != nil {
		return 0
	}
	return st.Ino
}

// TestAllInOneRestartKeepsPodNetwork: cloudd --all-in-one restarted while a
// pod runs keeps the pod's network namespace: the bind mount under the
// node's runtime state dir still names the namespace the running container
// is in, both after a plain restart and after a restart that found the
// mount gone (make demo-stop unmounts it; a private mount namespace loses
// it), so containers started later share localhost with the running one.
func TestAllInOneRestartKeepsPodNetwork(t *testing.T) {
	bin, err := test.Binaries("cloudd")
	if err != nil {
		t.Fatal(err)
	}
	sock, _ := projectContainerd(t)
	dir := t.TempDir()
	ns := fmt.Sprintf("cloudmgr-e2e-aio-restart-%d", time.Now().UnixNano())
	cleanupCloudletNamespace(t, sock, ns, filepath.Join(dir, "node"))
	address := addr(t)
	args := []string{"--all-in-one", "--containerd", sock, "--containerd-namespace", ns}
	start := func() *test.Cloudd {
		c, err := test.StartCloudd(bin, dir, address, args...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Stop(syscall.SIGTERM) })
		if err := c.WaitReady(context.Background(), time.Minute); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c0 := start()
	c := adminClient(t, dir)
	n := &joinedNode{c: c, pods: client.For[api.Pod](c), name: "local", sock: sock, ns: ns,
		registry: envOr(envRegistry, defaultRegistry), log: c0.Log}
	waitReady(t, c, "local", c0.Log)
	if _, err := n.pods.Create(context.Background(), n.sleeper("web")); err != nil {
		t.Fatal(err)
	}
	p := n.runningPod(t, "web", 60*time.Second)
	pid := n.taskPID(t, p.Status.ContainerStatuses[0].ContainerID)
	want := nsInode(fmt.Sprintf("/proc/%d/ns/net", pid))
	netns := filepath.Join(dir, "node", "runtime", "netns", p.UID)
	if got := nsInode(netns); want == 0 || got != want {
		t.Fatalf("container in netns %d, bind mount %s is %d", want, netns, got)
	}

	for _, lose := range []bool{false, true} {
		if err := c0.Stop(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if lose {
			if err := unix.Unmount(netns, unix.MNT_DETACH); err != nil {
				t.Fatal(err)
			}
		}
		c0 = start()
		n.log = c0.Log
		eventually(t, 20*time.Second, fmt.Sprintf("netns bind mount (lost: %v) names the running container's namespace", lose), func() (bool, string) {
			got := nsInode(netns)
			return got == want, fmt.Sprintf("bind mount %d, container %d\ncloudd log:\n%s", got, want, c0.Log.String())
		})
		after := n.runningPod(t, "web", 10*time.Second).Status.ContainerStatuses[0]
		if after.ContainerID != p.Status.ContainerStatuses[0].ContainerID || after.RestartCount != 0 || !alive(pid) {
			t.Fatalf("pod's container changed across the restart: %+v", after)
		}
	}
}
