package apiserver_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// fakeNode is a node-side handler written for these tests: logs answer
// with what was asked (and, following, a numbered line every 20ms); exec
// echoes its stdin to stdout, says "to-stderr" on stderr and exits 3.
func fakeNode(tag string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /containerLogs/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		fmt.Fprintf(w, "%s %s/%s/%s tail=%s previous=%s\n", tag, r.PathValue("ns"), r.PathValue("pod"), r.PathValue("container"), q.Get("tailLines"), q.Get("previous"))
		if q.Get("follow") != "true" {
			return
		}
		rc := http.NewResponseController(w)
		for i := 0; ; i++ {
			fmt.Fprintf(w, "line %d\n", i)
			if rc.Flush() != nil {
				return
			}
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	})
	mux.HandleFunc("POST /exec/{ns}/{pod}/{container}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", client.ExecFramesContentType)
		w.WriteHeader(http.StatusOK)
		rc := http.NewResponseController(w)
		fw := client.NewFrameWriter(w, func() { _ = rc.Flush() })
		if r.URL.Query().Get("stdin") == "true" {
			_, _ = io.Copy(fw.Stream(client.ExecStreamStdout), r.Body)
		}
		_, _ = fw.Stream(client.ExecStreamStdout).Write([]byte(strings.Join(r.URL.Query()["command"], " ") + "\n"))
		_, _ = fw.Stream(client.ExecStreamStderr).Write([]byte("to-stderr\n"))
		_ = fw.Exit(3)
	})
	mux.HandleFunc("GET /stats/pods", func(w http.ResponseWriter, r *http.Request) {
		// Figures for two pods of team-a, one of team-b and one the store
		// does not know; the namespace filter is left to the API server.
		list := api.PodMetricsList{}
		for _, p := range []string{"team-a/web", "team-a/two", "team-b/other", "team-a/ghost"} {
			ns, name, _ := strings.Cut(p, "/")
			list.Items = append(list.Items, api.PodMetrics{ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name},
				Window:     api.Duration{Duration: 10 * time.Second},
				Containers: []api.ContainerMetrics{{Name: "app", Usage: api.ResourceList{"cpu": api.MustParseQuantity("250m")}}}})
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(&list)
	})
	mux.HandleFunc("GET /containerLogs/{ns}/no-such/{container}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusBadRequest)
		_, _ = w.Write([]byte(`{"kind":"Status","apiVersion":"v1","status":"Failure","code":400,"reason":"BadRequest","message":"container \"app\" in pod \"no-such\" is not running"}`))
	})
	return mux
}

// tunnelEnv is a server with a tenant namespace, a joined node-1 serving
// a fakeNode over its tunnel, and pods bound to it.
type tunnelEnv struct {
	env      *apiservertest.Env
	tenantA  *client.Client
	tenantB  *client.Client
	node     *client.Client
	connects *atomic.Int32
}

func startTunnelEnv(t *testing.T, opts apiservertest.Options) *tunnelEnv {
	t.Helper()
	env := apiservertest.Start(t, opts)
	te := &tunnelEnv{env: env, tenantA: env.Tenant(t, "team-a"), tenantB: env.Tenant(t, "team-b"), connects: &atomic.Int32{}}
	node, err := joinAs(t, env, joinToken(t, env, api.JoinTokenRequest{}), "node-1")
	if err != nil {
		t.Fatal(err)
	}
	te.node = node
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = node.ServeTunnel(ctx, "node-1", fakeNode("n1"), client.TunnelOptions{
			MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond, OnConnect: func() { te.connects.Add(1) }})
	}()
	t.Cleanup(func() { cancel(); <-done })
	pods := client.For[api.Pod](env.Admin)
	for _, p := range []*api.Pod{
		{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "web"}, Spec: api.PodSpec{NodeName: "node-1", Containers: []api.Container{{Name: "app", Image: "busybox"}}}},
		{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "two"}, Spec: api.PodSpec{NodeName: "node-1", Containers: []api.Container{{Name: "app", Image: "busybox"}, {Name: "sidecar", Image: "busybox"}}}},
		{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "unbound"}, Spec: api.PodSpec{Containers: []api.Container{{Name: "app", Image: "busybox"}}}},
		{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "elsewhere"}, Spec: api.PodSpec{NodeName: "node-2", Containers: []api.Container{{Name: "app", Image: "busybox"}}}},
		{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "no-such"}, Spec: api.PodSpec{NodeName: "node-1", Containers: []api.Container{{Name: "app", Image: "busybox"}}}},
	} {
		if _, err := pods.Create(context.Background(), p); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, 10*time.Second, "tunnel of node-1 up", func() bool {
		_, err := te.logs(env.Admin, "web", client.LogOptions{})
		return err == nil
	})
	return te
}

func (te *tunnelEnv) logs(c *client.Client, pod string, opts client.LogOptions) (string, error) {
	rc, err := c.Logs(context.Background(), "team-a", pod, opts)
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	return string(b), err
}

// TestPodLogsAndExecThroughTunnel: who may read logs and exec, and the
// answers when the pod, its node or its container is not right.
func TestPodLogsAndExecThroughTunnel(t *testing.T) {
	te := startTunnelEnv(t, apiservertest.Options{})
	env := te.env
	tail := int64(2)
	for _, c := range []struct {
		who    string
		c      *client.Client
		code   int
		output string
	}{
		{"admin", env.Admin, 200, "n1 team-a/web/app tail=2 previous=true\n"},
		{"owning tenant", te.tenantA, 200, "n1 team-a/web/app tail=2 previous=true\n"},
		{"other tenant", te.tenantB, http.StatusForbidden, ""},
		{"node", te.node, http.StatusForbidden, ""},
		{"join token", env.Client(t, joinToken(t, env, api.JoinTokenRequest{})), http.StatusForbidden, ""},
	} {
		t.Run("logs as "+c.who, func(t *testing.T) {
			out, err := te.logs(c.c, "web", client.LogOptions{TailLines: &tail, Previous: true})
			if c.code == 200 {
				if err != nil || out != c.output {
					t.Fatalf("logs: %q, %v; want %q", out, err, c.output)
				}
				return
			}
			if client.Code(err) != c.code {
				t.Fatalf("logs: %v, want %d", err, c.code)
			}
		})
		t.Run("exec as "+c.who, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code, err := c.c.Exec(context.Background(), "team-a", "web", client.ExecOptions{Command: []string{"sh", "-c", "exit 3"}},
				strings.NewReader("from-stdin\n"), &stdout, &stderr)
			if c.code == 200 {
				if err != nil || code != 3 || stdout.String() != "from-stdin\nsh -c exit 3\n" || stderr.String() != "to-stderr\n" {
					t.Fatalf("exec: code %d, err %v, stdout %q, stderr %q", code, err, stdout.String(), stderr.String())
				}
				return
			}
			if client.Code(err) != c.code {
				t.Fatalf("exec: %v, want %d", err, c.code)
			}
		})
	}

	for _, c := range []struct {
		name, pod, container string
		code                 int
		msg                  string
	}{
		{"missing pod", "nope", "", 404, `pods "nope" not found`},
		{"unbound pod", "unbound", "", 400, "not bound to a node"},
		{"several containers, none named", "two", "", 400, "choose one of: [app sidecar]"},
		{"unknown container", "web", "db", 400, `container "db" is not valid for pod "web"`},
		{"node without tunnel", "elsewhere", "", 503, "node node-2 has no tunnel connected; is cloudlet running?"},
		{"node refuses", "no-such", "", 400, `container "app" in pod "no-such" is not running`},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := te.logs(te.tenantA, c.pod, client.LogOptions{Container: c.container})
			if client.Code(err) != c.code || !strings.Contains(err.Error(), c.msg) {
				t.Fatalf("logs: %v, want %d with %q", err, c.code, c.msg)
			}
		})
	}
	out, err := te.logs(te.tenantA, "two", client.LogOptions{Container: "sidecar"})
	if err != nil || !strings.HasPrefix(out, "n1 team-a/two/sidecar") {
		t.Fatalf("named container: %q, %v", out, err)
	}
	for _, bad := range []string{"tailLines=-1", "tailLines=x", "follow=maybe"} {
		r := rawRequest(t, env, env.AdminToken, "GET", "/api/v1/namespaces/team-a/pods/web/log?"+bad, "", nil)
		wantRawStatus(t, r, http.StatusBadRequest, api.StatusReasonBadRequest)
	}
	r := rawRequest(t, env, env.AdminToken, "POST", "/api/v1/namespaces/team-a/pods/web/exec", "", nil)
	wantRawStatus(t, r, http.StatusBadRequest, api.StatusReasonBadRequest)
}

// TestTunnelOnlyForItsOwnNode: a tunnel is opened only with the node's own
// credential, over HTTP/1.1 Upgrade.
func TestTunnelOnlyForItsOwnNode(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	node1, err := joinAs(t, env, joinToken(t, env, api.JoinTokenRequest{}), "node-1")
	if err != nil {
		t.Fatal(err)
	}
	tenant := env.Tenant(t, "team-a")
	for _, c := range []struct {
		who  string
		c    *client.Client
		node string
	}{
		{"another node's", node1, "node-2"},
		{"admin", env.Admin, "node-1"},
		{"tenant", tenant, "node-1"},
	} {
		conn, err := c.c.DialTunnel(context.Background(), c.node)
		if client.Code(err) != http.StatusForbidden {
			if conn != nil {
				conn.Close()
			}
			t.Fatalf("%s tunnel for %s: %v, want 403", c.who, c.node, err)
		}
	}
	// Without Upgrade it is a bad request, not a tunnel.
	tok, err := env.Server.IssueToken(context.Background(), apiserver.TokenSpec{Role: apiserver.RoleNode, User: "node:node-1", Node: "node-1"})
	if err != nil {
		t.Fatal(err)
	}
	r := rawRequest(t, env, tok, "GET", "/api/v1/nodes/node-1/tunnel", "", nil)
	wantRawStatus(t, r, http.StatusBadRequest, api.StatusReasonBadRequest)
	conn, err := node1.DialTunnel(context.Background(), "node-1")
	if err != nil {
		t.Fatalf("own tunnel: %v", err)
	}
	conn.Close()
}

// serveOne serves h on one tunnel of node until the tunnel closes, then
// closes done.
func serveOne(t *testing.T, c *client.Client, node string, h http.Handler) (net.Conn, chan struct{}) {
	t.Helper()
	conn, err := c.DialTunnel(context.Background(), node)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		(&http2.Server{}).ServeConn(conn, &http2.ServeConnOpts{Handler: h})
	}()
	t.Cleanup(func() { conn.Close(); <-done })
	return conn, done
}

// TestTunnelReconnectReplaces: a node's new tunnel replaces its old one
// (closed by the server), and a closed tunnel is forgotten: 503 again.
func TestTunnelReconnectReplaces(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	node, err := joinAs(t, env, joinToken(t, env, api.JoinTokenRequest{}), "node-1")
	if err != nil {
		t.Fatal(err)
	}
	p := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "web"}, Spec: api.PodSpec{NodeName: "node-1", Containers: []api.Container{{Name: "app", Image: "busybox"}}}}
	if _, err := client.For[api.Pod](env.Admin).Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	read := func() (string, error) {
		rc, err := env.Admin.Logs(context.Background(), "default", "web", client.LogOptions{})
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	_, oldDone := serveOne(t, node, "node-1", fakeNode("old"))
	eventually(t, 5*time.Second, "old tunnel serves", func() bool { s, _ := read(); return strings.HasPrefix(s, "old ") })
	newConn, newDone := serveOne(t, node, "node-1", fakeNode("new"))
	eventually(t, 5*time.Second, "new tunnel serves", func() bool { s, _ := read(); return strings.HasPrefix(s, "new ") })
	select {
	case <-oldDone:
	case <-time.After(5 * time.Second):
		t.Fatal("the replaced tunnel was not closed by the server")
	}
	newConn.Close()
	<-newDone
	eventually(t, 5*time.Second, "closed tunnel forgotten", func() bool {
		_, err := read()
		return client.Code(err) == http.StatusServiceUnavailable
	})
}

// TestTunnelConcurrentStreams: several followed logs and an exec share one
// tunnel at once; they are not counted by the in-flight limit; stopping
// the server ends the streams and the tunnel without waiting for the
// drain period.
func TestTunnelConcurrentStreams(t *testing.T) {
	te := startTunnelEnv(t, apiservertest.Options{MaxInFlight: 2, NoNamespaceController: true}) // the namespace controller's requests would take the slots
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	const streams = 4
	var wg sync.WaitGroup
	lines := make([]chan string, streams)
	for i := range streams {
		lines[i] = make(chan string, 100)
		rc, err := te.tenantA.Logs(ctx, "team-a", "web", client.LogOptions{Follow: true})
		if err != nil {
			t.Fatalf("stream %d: %v", i, err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer rc.Close()
			sc := bufio.NewScanner(rc)
			for sc.Scan() {
				select {
				case lines[i] <- sc.Text():
				default:
				}
			}
			close(lines[i])
		}()
	}
	for i := range streams {
		for want := range 3 {
			select {
			case l := <-lines[i]:
				if want > 0 && l != fmt.Sprintf("line %d", want-1) {
					t.Fatalf("stream %d line %d: %q", i, want, l)
				}
			case <-time.After(10 * time.Second):
				t.Fatalf("stream %d: no line %d", i, want)
			}
		}
	}
	// Four open streams, a limit of two: other requests still go through.
	if _, _, err := client.For[api.Pod](te.env.Admin).List(ctx, "team-a", client.ListOptions{}); err != nil {
		t.Fatalf("list while streams are open: %v", err)
	}
	var out strings.Builder
	code, err := te.tenantA.Exec(ctx, "team-a", "web", client.ExecOptions{Command: []string{"true"}}, nil, &out, nil)
	if err != nil || code != 3 || out.String() != "true\n" {
		t.Fatalf("exec beside the streams: %d %v %q", code, err, out.String())
	}
	if n := te.connects.Load(); n != 1 {
		t.Fatalf("%d tunnel connections, want 1", n)
	}
	start := time.Now()
	if err := te.env.Stop(); err != nil {
		t.Fatalf("stop with open streams: %v", err)
	}
	if d := time.Since(start); d > 4*time.Second {
		t.Errorf("stop took %v: streams held the drain", d)
	}
	wg.Wait()
}

// TestServeTunnelReconnects: when the server closes a node's tunnel (here
// because another connection of the node replaced it), ServeTunnel dials
// again after its back-off and serves on the new tunnel.
func TestServeTunnelReconnects(t *testing.T) {
	te := startTunnelEnv(t, apiservertest.Options{})
	conn, done := serveOne(t, te.node, "node-1", fakeNode("intruder"))
	eventually(t, 10*time.Second, "ServeTunnel reconnected and serves again", func() bool {
		out, err := te.logs(te.env.Admin, "web", client.LogOptions{})
		return err == nil && strings.HasPrefix(out, "n1 ") && te.connects.Load() >= 2
	})
	select {
	case <-done: // the reconnect replaced the intruder in turn
	case <-time.After(5 * time.Second):
		conn.Close()
		t.Fatal("the replaced tunnel was not closed")
	}
}
