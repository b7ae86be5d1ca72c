package e2e

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// TestLogsAndExecThroughTunnel: cloudctl logs and exec against a pod that
// a joined cloudlet runs in the project containerd. The API server reaches
// the cloudlet only through the tunnel the cloudlet opened; the cloudlet
// listens on no TCP port.
func TestLogsAndExecThroughTunnel(t *testing.T) {
	sock, snapshotter := projectContainerd(t)
	n := startJoinedNode(t, sock, snapshotter, "logs-1")
	bin, admin, c, let, log, registry := n.bin, n.admin, n.c, n.cmd, n.log, n.registry

	ctx := context.Background()
	pods := client.For[api.Pod](c)
	grace := int64(1)
	// Five lines at once; two more only once /tmp/go exists, so that a
	// follower must see lines written after it started.
	script := `for i in 1 2 3 4 5; do echo line-$i; done; while [ ! -e /tmp/go ]; do sleep 0.1; done; echo after-1; sleep 0.3; echo after-2 >&2; exec sleep 1000`
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "talker", Namespace: "default"},
		Spec: api.PodSpec{NodeName: "logs-1", TerminationGracePeriodSeconds: &grace, Containers: []api.Container{{
			Name: "main", Image: registry + "/cloudmgr/busybox:test", Command: []string{"sh", "-c", script},
		}}},
	}
	if _, err := pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		zero := int64(0)
		_ = pods.Delete(context.Background(), "default", "talker", client.DeleteOptions{GracePeriodSeconds: &zero})
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		got, err := pods.Get(ctx, "default", "talker")
		if err == nil && got.Status.Phase == api.PodRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not Running within 60s: %+v\ncloudlet log:\n%s", got, log.String())
		}
		time.Sleep(100 * time.Millisecond)
	}

	all := "line-1\nline-2\nline-3\nline-4\nline-5\n"
	var out, errOut string
	var code int
	deadline = time.Now().Add(20 * time.Second)
	for {
		out, errOut, code = cloudctl(t, bin, admin, "", "logs", "talker")
		if code == 0 && out == all {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs: code %d, stdout %q, stderr %q\ncloudlet log:\n%s", code, out, errOut, log.String())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if out, errOut, code = cloudctl(t, bin, admin, "", "logs", "pod/talker", "--tail", "2"); code != 0 || out != "line-4\nline-5\n" {
		t.Fatalf("logs --tail 2: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code = cloudctl(t, bin, admin, "", "logs", "talker", "--previous"); code != 1 || !strings.Contains(errOut, `previous terminated container "main" in pod "talker" not found`) {
		t.Fatalf("logs --previous of a container that never restarted: code %d, stderr %q", code, errOut)
	}
	if _, errOut, code = cloudctl(t, bin, admin, "", "logs", "talker", "-c", "nope"); code != 1 || !strings.Contains(errOut, `container "nope" is not valid for pod "talker"`) {
		t.Fatalf("logs -c nope: code %d, stderr %q", code, errOut)
	}

	// -f: the follower sees what is written after it started.
	follow := exec.Command(filepath.Join(bin, "cloudctl"), "logs", "-f", "talker")
	follow.Env = append(os.Environ(), "CLOUDCTL_CONFIG="+admin)
	stdout, err := follow.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := follow.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = follow.Process.Kill(); _ = follow.Wait() })
	lines := make(chan string, 20)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	expect := func(want string) {
		t.Helper()
		select {
		case l, ok := <-lines:
			if !ok || l != want {
				t.Fatalf("logs -f: got %q (open %v), want %q", l, ok, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("logs -f: no %q within 20s", want)
		}
	}
	for i := 1; i <= 5; i++ {
		expect(fmt.Sprintf("line-%d", i))
	}
	if out, errOut, code = cloudctl(t, bin, admin, "", "exec", "talker", "--", "touch", "/tmp/go"); code != 0 {
		t.Fatalf("exec touch: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	expect("after-1")
	expect("after-2")
	_ = follow.Process.Signal(syscall.SIGINT)

	// exec: output, exit code, stdin.
	if out, errOut, code = cloudctl(t, bin, admin, "", "exec", "talker", "--", "sh", "-c", "echo hi; echo oops >&2; exit 7"); code != 7 || out != "hi\n" || errOut != "oops\n" {
		t.Fatalf("exec exit 7: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if out, errOut, code = cloudctl(t, bin, admin, "piped in\n", "exec", "-i", "talker", "--", "cat"); code != 0 || out != "piped in\n" {
		t.Fatalf("exec -i cat: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if _, errOut, code = cloudctl(t, bin, admin, "", "exec", "talker", "ls"); code != 1 || !strings.Contains(errOut, "put the command after --") {
		t.Fatalf("exec without --: code %d, stderr %q", code, errOut)
	}

	// The cloudlet has no listening socket: the tunnel is the only path.
	if listening := listeningSockets(t, let.Process.Pid); len(listening) > 0 {
		t.Fatalf("cloudlet listens on %v", listening)
	}

	// Without the cloudlet, there is no tunnel: 503 with what to check.
	_ = let.Process.Signal(syscall.SIGKILL)
	_ = let.Wait()
	deadline = time.Now().Add(20 * time.Second)
	for {
		_, errOut, code = cloudctl(t, bin, admin, "", "logs", "talker")
		if code == 1 && strings.Contains(errOut, "node logs-1 has no tunnel connected; is cloudlet running?") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("logs without cloudlet: code %d, stderr %q", code, errOut)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// listeningSockets returns the TCP sockets of process pid in the LISTEN
// state, as "local-address(hex)": the process's socket inodes from
// /proc/PID/fd, looked up in /proc/PID/net/tcp and tcp6.
func listeningSockets(t *testing.T, pid int) []string {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatalf("cloudlet fds: %v", err)
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		target, err := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	if len(inodes) == 0 {
		t.Fatal("the cloudlet has no socket at all: it should hold its tunnel and API connections")
	}
	var listening []string
	established := 0
	for _, f := range []string{"tcp", "tcp6"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, f))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(string(data), "\n")[1:] {
			fields := strings.Fields(line)
			if len(fields) < 10 || !inodes[fields[9]] {
				continue
			}
			switch fields[3] {
			case "0A": // TCP_LISTEN
				listening = append(listening, f+" "+fields[1])
			case "01": // TCP_ESTABLISHED
				established++
			}
		}
	}
	if established == 0 {
		t.Fatal("found none of the cloudlet's connections in /proc/PID/net: the check would prove nothing")
	}
	return listening
}
