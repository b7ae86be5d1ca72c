package e2e

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/test"
)

// TestBadPodsInContainerd: what users get wrong, on the real containerd
// through a joined cloudlet. An image that does not exist and a registry
// that is down end in ImagePullBackOff with the reason; a command that does
// not exist and a container that exits non-zero end in CrashLoopBackOff,
// with restartCount counting each attempt and the back-off doubling; the
// agent keeps running and the node stays Ready throughout.
func TestBadPodsInContainerd(t *testing.T) {
	sock, snapshotter := projectContainerd(t)
	port, err := test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	down := fmt.Sprintf("127.0.0.1:%d", port) // nothing listens there
	n := startJoinedNode(t, sock, snapshotter, "bad-1", "--restart-backoff", "1s", "--restart-backoff-max", "8s",
		"--insecure-registry", down)
	ctx := context.Background()
	pod := func(name, image string, cmd ...string) *api.Pod {
		p := n.sleeper(name)
		p.Spec.Containers[0].Image = image
		if cmd != nil {
			p.Spec.Containers[0].Command = cmd
		}
		return p
	}
	for _, p := range []*api.Pod{
		pod("noimage", n.registry+"/cloudmgr/does-not-exist:1"),
		pod("regdown", down+"/cloudmgr/busybox:test"),
		pod("nocmd", n.registry+"/cloudmgr/busybox:test", "/no/such/command"),
		pod("crash", n.registry+"/cloudmgr/busybox:test", "sh", "-c", "echo boom; exit 3"),
	} {
		if _, err := n.pods.Create(ctx, p); err != nil {
			t.Fatal(err)
		}
	}
	status := func(name string) (api.ContainerStatus, string) {
		p, err := n.pods.Get(ctx, "default", name)
		if err != nil || len(p.Status.ContainerStatuses) != 1 {
			return api.ContainerStatus{}, fmt.Sprintf("%v %+v", err, p)
		}
		cs := p.Status.ContainerStatuses[0]
		return cs, fmt.Sprintf("%+v waiting=%+v last=%+v", cs, cs.State.Waiting, cs.LastState.Terminated)
	}
	waiting := func(cs api.ContainerStatus, reason, msg string) bool {
		w := cs.State.Waiting
		return w != nil && w.Reason == reason && strings.Contains(w.Message, msg)
	}

	eventually(t, 60*time.Second, "noimage in ImagePullBackOff, saying the image is not found", func() (bool, string) {
		cs, s := status("noimage")
		return waiting(cs, "ImagePullBackOff", "not found") && cs.RestartCount == 0, s
	})
	eventually(t, 60*time.Second, "regdown in ImagePullBackOff, saying the registry is unavailable", func() (bool, string) {
		cs, s := status("regdown")
		return waiting(cs, "ImagePullBackOff", "registry unavailable") && cs.RestartCount == 0, s
	})
	eventually(t, 60*time.Second, "nocmd in CrashLoopBackOff after 2 start errors", func() (bool, string) {
		cs, s := status("nocmd")
		lt := cs.LastState.Terminated
		return waiting(cs, "CrashLoopBackOff", "restarting failed container main") && cs.RestartCount >= 2 &&
			lt != nil && lt.ExitCode == 128 && lt.Reason == "StartError" && strings.Contains(lt.Message, "/no/such/command"), s
	})

	// The crash loop: restartCount climbs one attempt at a time and the
	// back-off named in the waiting message doubles (1s, 2s, 4s, ...).
	backoff := regexp.MustCompile(`back-off (\S+) restarting`)
	var delays []time.Duration
	lastCount := int32(-1)
	eventually(t, 90*time.Second, "crash restarted 3 times with a growing back-off", func() (bool, string) {
		cs, s := status("crash")
		if cs.RestartCount < lastCount || (lastCount >= 0 && cs.RestartCount > lastCount+1) {
			t.Fatalf("restartCount went from %d to %d between two looks 100ms apart", lastCount, cs.RestartCount)
		}
		lastCount = cs.RestartCount
		if w := cs.State.Waiting; w != nil && w.Reason == "CrashLoopBackOff" {
			if lt := cs.LastState.Terminated; lt == nil || lt.ExitCode != 3 || lt.Reason != "Error" {
				t.Fatalf("crash: lastState %+v; want exit 3, Error", cs.LastState)
			}
			if m := backoff.FindStringSubmatch(w.Message); m != nil {
				d, err := time.ParseDuration(m[1])
				if err != nil {
					t.Fatalf("back-off %q: %v", m[1], err)
				}
				if len(delays) == 0 || delays[len(delays)-1] != d {
					delays = append(delays, d)
				}
			}
		}
		return cs.RestartCount >= 3 && len(delays) >= 2, fmt.Sprintf("%s; back-offs seen %v", s, delays)
	})
	for i := 1; i < len(delays); i++ {
		if delays[i] <= delays[i-1] {
			t.Fatalf("back-offs %v do not grow", delays)
		}
	}
	if n.cmd.ProcessState != nil {
		t.Fatalf("cloudlet exited: %v\n%s", n.cmd.ProcessState, n.log.String())
	}
	if c := n.nodeReady(t); c.Status != api.ConditionTrue {
		t.Fatalf("node not Ready after the bad pods: %+v", c)
	}
}
