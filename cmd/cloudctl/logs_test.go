package main

import (
	"net/http"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// TestLogsAndExecCommands: the requests logs and exec send, exec's exit
// code, and the usage errors. The path through a real node is in
// test/e2e (TestLogsAndExecThroughTunnel).
func TestLogsAndExecCommands(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/namespaces/team-a/pods/web/log": func(w http.ResponseWriter, r *http.Request) {
			_, _ = w.Write([]byte("a line\n"))
		},
		"POST /api/v1/namespaces/team-a/pods/web/exec": func(w http.ResponseWriter, r *http.Request) {
			fw := client.NewFrameWriter(w, nil)
			_, _ = fw.Stream(client.ExecStreamStdout).Write([]byte("out\n"))
			_, _ = fw.Stream(client.ExecStreamStderr).Write([]byte("err\n"))
			_ = fw.Exit(7)
		},
		"GET /api/v1/namespaces/team-a/pods/gone/log": func(w http.ResponseWriter, r *http.Request) {
			writeStatus(w, http.StatusServiceUnavailable, api.StatusReasonServiceUnavailable, "node n1 has no tunnel connected; is cloudlet running?")
		},
	})
	cfg := writeConfig(t, f.URL, "team-a")

	out, errOut, code := runCLI(t, "--config", cfg, "logs", "web", "-c", "app", "-f", "--tail", "3")
	if code != 0 || out != "a line\n" {
		t.Fatalf("logs: %d %q %q", code, out, errOut)
	}
	if got := f.log()[len(f.log())-1]; got != "GET /api/v1/namespaces/team-a/pods/web/log?container=app&follow=true&tailLines=3" {
		t.Errorf("logs sent %s", got)
	}
	out, errOut, code = runCLI(t, "--config", cfg, "exec", "pod/web", "--", "sh", "-c", "exit 7")
	if code != 7 || out != "out\n" || errOut != "err\n" {
		t.Fatalf("exec: code %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := f.log()[len(f.log())-1]; got != "POST /api/v1/namespaces/team-a/pods/web/exec?command=sh&command=-c&command=exit+7" {
		t.Errorf("exec sent %s", got)
	}
	_, errOut, code = runCLI(t, "--config", cfg, "logs", "gone")
	if code != 1 || !strings.Contains(errOut, "Error from server (ServiceUnavailable): node n1 has no tunnel connected; is cloudlet running?") {
		t.Fatalf("logs without tunnel: %d %q", code, errOut)
	}

	sent := len(f.log())
	for _, c := range []struct {
		args []string
		msg  string
	}{
		{[]string{"exec", "web", "ls"}, "put the command after --: cloudctl exec web -- ls"},
		{[]string{"exec", "web", "--"}, "a command is required after --"},
		{[]string{"exec"}, "a pod name is required"},
		{[]string{"logs"}, "accepts 1 arg(s)"},
		{[]string{"logs", "web", "--tail", "-2"}, "--tail must be -1"},
		{[]string{"logs", "web", "-f", "-p"}, "--follow and --previous cannot be used together"},
		{[]string{"logs", "svc/web"}, "only pods have logs and exec"},
	} {
		_, errOut, code := runCLI(t, append([]string{"--config", cfg}, c.args...)...)
		if code != 1 || !strings.Contains(errOut, c.msg) {
			t.Errorf("%v: code %d, stderr %q, want %q", c.args, code, errOut, c.msg)
		}
	}
	if len(f.log()) != sent {
		t.Errorf("usage errors sent requests: %v", f.log()[sent:])
	}
}
