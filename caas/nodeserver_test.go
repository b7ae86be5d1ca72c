package caas_test

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/caas"
	"github.com/cloudmgr/cloud/client"
)

// nodeServerEnv runs a pod loop over the fake runtime, with its node
// server behind a real tunnel to a real API server.
type nodeServerEnv struct {
	env    *apiservertest.Env
	rt     *fakeRuntime
	logDir string
	srv    *caas.NodeServer
}

func startNodeServer(t *testing.T) *nodeServerEnv {
	t.Helper()
	env := apiservertest.Start(t, apiservertest.Options{})
	rt := newFakeRuntime()
	logDir := t.TempDir()
	node := joinedClient(t, env, "n1")
	m := caas.NewPodManager(node, rt, caas.PodConfig{
		NodeName: "n1", HostIP: "10.9.9.9", LogDir: logDir, Resync: 50 * time.Millisecond,
		BackoffBase: 50 * time.Millisecond, BackoffMax: 100 * time.Millisecond,
	}, nil)
	srv := caas.NewNodeServer(m, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{}, 2)
	go func() { _ = m.Run(ctx); done <- struct{}{} }()
	go func() {
		_ = node.ServeTunnel(ctx, "n1", srv, client.TunnelOptions{MinBackoff: 20 * time.Millisecond})
		done <- struct{}{}
	}()
	t.Cleanup(func() { cancel(); <-done; <-done })
	return &nodeServerEnv{env: env, rt: rt, logDir: logDir, srv: srv}
}

// logFile is where the runtime would write attempt of container app of
// pod p.
func (e *nodeServerEnv) logFile(p *api.Pod, attempt string) string {
	return filepath.Join(e.logDir, p.Namespace+"_"+p.Name+"_"+p.UID, "app-"+attempt+".log")
}

func (e *nodeServerEnv) logs(t *testing.T, opts client.LogOptions) (string, error) {
	t.Helper()
	rc, err := e.env.Admin.Logs(context.Background(), "default", "web", opts)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

func appendFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(path, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(data); err != nil {
		t.Fatal(err)
	}
}

// TestNodeServerLogs: the whole log file, its tail, a follow that sees
// appended lines and ends when the container stops, and after the restart
// that follows, the previous attempt's log.
func TestNodeServerLogs(t *testing.T) {
	e := startNodeServer(t)
	p, err := client.For[api.Pod](e.env.Admin).Create(context.Background(), boundPod("web", api.RestartPolicyAlways, "app"))
	if err != nil {
		t.Fatal(err)
	}
	waitPod(t, e.env, "web", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	appendFile(t, e.logFile(p, "0"), "one\ntwo\nthree\n")
	var out string
	deadline := time.Now().Add(10 * time.Second)
	for out, err = e.logs(t, client.LogOptions{}); err != nil || out != "one\ntwo\nthree\n"; out, err = e.logs(t, client.LogOptions{}) {
		if time.Now().After(deadline) {
			t.Fatalf("logs: %q, %v", out, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, c := range []struct {
		tail int64
		want string
	}{{0, ""}, {1, "three\n"}, {2, "two\nthree\n"}, {3, "one\ntwo\nthree\n"}, {10, "one\ntwo\nthree\n"}} {
		if out, err := e.logs(t, client.LogOptions{TailLines: &c.tail}); err != nil || out != c.want {
			t.Errorf("tail %d: %q, %v; want %q", c.tail, out, err, c.want)
		}
	}
	if _, err := e.logs(t, client.LogOptions{Previous: true}); client.Code(err) != http.StatusBadRequest ||
		!strings.Contains(err.Error(), `previous terminated container "app" in pod "web" not found`) {
		t.Fatalf("previous before any restart: %v", err)
	}

	one := int64(1)
	rc, err := e.env.Admin.Logs(context.Background(), "default", "web", client.LogOptions{Follow: true, TailLines: &one})
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	lines := bufio.NewScanner(rc)
	next := func() string {
		if !lines.Scan() {
			t.Fatalf("follow ended early: %v", lines.Err())
		}
		return lines.Text()
	}
	if l := next(); l != "three" {
		t.Fatalf("follow from the last line: %q", l)
	}
	appendFile(t, e.logFile(p, "0"), "four\n")
	if l := next(); l != "four" {
		t.Fatalf("followed line: %q", l)
	}
	// The container stops (and restarts, as attempt 1): the stream ends
	// with the last words of attempt 0.
	appendFile(t, e.logFile(p, "0"), "last words\n")
	list, _ := e.rt.ListContainers(context.Background())
	if len(list) != 1 {
		t.Fatalf("containers: %+v", list)
	}
	if err := e.rt.StopContainer(context.Background(), list[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	if l := next(); l != "last words" {
		t.Fatalf("followed line: %q", l)
	}
	ended := make(chan bool, 1)
	go func() { ended <- !lines.Scan() }()
	select {
	case ok := <-ended:
		if !ok {
			t.Fatal("follow went on after the container stopped")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("follow did not end when the container stopped")
	}

	waitPod(t, e.env, "web", "restarted", func(p *api.Pod) bool {
		return len(p.Status.ContainerStatuses) == 1 && p.Status.ContainerStatuses[0].RestartCount == 1 && p.Status.ContainerStatuses[0].State.Running != nil
	})
	appendFile(t, e.logFile(p, "1"), "second life\n")
	if out, err := e.logs(t, client.LogOptions{}); err != nil || out != "second life\n" {
		t.Fatalf("current attempt: %q, %v", out, err)
	}
	if out, err := e.logs(t, client.LogOptions{Previous: true}); err != nil || out != "one\ntwo\nthree\nfour\nlast words\n" {
		t.Fatalf("previous attempt: %q, %v", out, err)
	}
}

// TestNodeServerExecAndRefusals: exec runs in the running container and
// returns its exit code; a stopped container, an unknown container and a
// pod the node does not run are refused.
func TestNodeServerExecAndRefusals(t *testing.T) {
	e := startNodeServer(t)
	if _, err := client.For[api.Pod](e.env.Admin).Create(context.Background(), boundPod("web", api.RestartPolicyNever, "app")); err != nil {
		t.Fatal(err)
	}
	waitPod(t, e.env, "web", "Running", func(p *api.Pod) bool { return p.Status.Phase == api.PodRunning })
	e.rt.mu.Lock()
	e.rt.execExit["app"] = 7
	e.rt.mu.Unlock()
	var code int
	var err error
	deadline := time.Now().Add(10 * time.Second)
	for code, err = e.exec(); err != nil; code, err = e.exec() {
		if time.Now().After(deadline) {
			t.Fatalf("exec: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.rt.mu.Lock()
	execs := e.rt.execs
	e.rt.mu.Unlock()
	if code != 7 || len(execs) == 0 || strings.Join(execs[0].cmd, " ") != "sh -c exit 7" {
		t.Fatalf("exec: code %d, commands %v", code, execs)
	}

	// Straight to the node's handler: a pod it does not run, a container
	// the pod does not have.
	for path, want := range map[string]int{
		"/containerLogs/default/other/app": http.StatusNotFound,
		"/containerLogs/default/web/db":    http.StatusBadRequest,
	} {
		rec := httptest.NewRecorder()
		e.srv.ServeHTTP(rec, httptest.NewRequest("GET", path, nil))
		if rec.Code != want || !strings.Contains(rec.Body.String(), `"kind":"Status"`) {
			t.Errorf("%s: %d %s, want %d", path, rec.Code, rec.Body.String(), want)
		}
	}

	list, _ := e.rt.ListContainers(context.Background())
	if err := e.rt.StopContainer(context.Background(), list[0].ID, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := e.exec(); client.Code(err) != http.StatusBadRequest || !strings.Contains(err.Error(), `container "app" in pod "web" is not running`) {
		t.Fatalf("exec in a stopped container: %v", err)
	}
}

func (e *nodeServerEnv) exec() (int, error) {
	return e.env.Admin.Exec(context.Background(), "default", "web", client.ExecOptions{Command: []string{"sh", "-c", "exit 7"}}, nil, nil, nil)
}
