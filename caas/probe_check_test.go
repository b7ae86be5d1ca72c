package caas

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/cloudmgr/cloud/api"
)

func TestThresholdState(t *testing.T) {
	var s thresholdState
	if s.passing(1) || s.failing(1) {
		t.Fatal("no result yet counts as passing or failing")
	}
	steps := []struct {
		ok              bool
		pass2, fail3    bool
		wantRun         int
		passing1, fail1 bool
	}{
		{ok: false, wantRun: 1, fail1: true},
		{ok: false, wantRun: 2, fail1: true},
		{ok: false, wantRun: 3, fail3: true, fail1: true},
		{ok: true, wantRun: 1, passing1: true},
		{ok: true, wantRun: 2, pass2: true, passing1: true},
		{ok: false, wantRun: 1, fail1: true},
	}
	for i, st := range steps {
		s.observe(st.ok)
		if s.run != st.wantRun || s.passing(2) != st.pass2 || s.failing(3) != st.fail3 || s.passing(1) != st.passing1 || s.failing(1) != st.fail1 {
			t.Fatalf("step %d (%v): run %d passing(2) %v failing(3) %v", i, st.ok, s.run, s.passing(2), s.failing(3))
		}
	}
}

func TestProbeAddr(t *testing.T) {
	c := &api.Container{Ports: []api.ContainerPort{{Name: "http", ContainerPort: 8080}}}
	for _, tc := range []struct {
		host      string
		port      api.IntOrString
		addr, msg string
	}{
		{"", api.FromInt(80), "127.0.0.1:80", ""},
		{"localhost", api.FromString("http"), "127.0.0.1:8080", ""},
		{"::1", api.FromInt(9000), "[::1]:9000", ""},
		{"", api.FromString("grpc"), "", `container has no port named "grpc"`},
		{"example.com", api.FromInt(80), "", `probe host "example.com" is not an IP address`},
		{"", api.FromInt(0), "", "invalid port 0"},
	} {
		addr, msg := probeAddr(tc.host, tc.port, c)
		if addr != tc.addr || msg != tc.msg {
			t.Errorf("probeAddr(%q, %v) = %q, %q; want %q, %q", tc.host, tc.port, addr, msg, tc.addr, tc.msg)
		}
	}
}

// hostProber dials in the test's own namespace, for the HTTP and TCP
// logic; dialInNetNS has its own test.
func hostProber() *prober {
	p := newProber(nil, nil, "n1", slog.New(slog.DiscardHandler))
	p.dial = func(ctx context.Context, _, network, addr string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}
	return p
}

func listenerPort(t *testing.T, addr string) api.IntOrString {
	t.Helper()
	_, port, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(port)
	if err != nil {
		t.Fatal(err)
	}
	return api.FromInt(int32(n))
}

func TestHTTPProbe(t *testing.T) {
	var mu sync.Mutex
	var gotHeader, gotHost, gotUA string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		gotHeader, gotHost, gotUA = r.Header.Get("X-Probe"), r.Host, r.UserAgent()
		mu.Unlock()
		switch r.URL.Path {
		case "/ok":
			_, _ = w.Write([]byte(strings.Repeat("x", 1<<20)))
		case "/moved":
			http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
		case "/slow":
			time.Sleep(300 * time.Millisecond)
		default:
			http.Error(w, "boom", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	port := listenerPort(t, srv.Listener.Addr().String())
	p := hostProber()
	ctx := context.Background()
	for _, tc := range []struct {
		path string
		ok   bool
		msg  string
	}{
		{"/ok", true, ""},
		{"/moved", true, ""},
		{"/broken", false, "HTTP probe failed with statuscode: 500"},
		{"/slow", false, "Client.Timeout exceeded"},
	} {
		h := &api.HTTPGetAction{Path: tc.path, Port: port, Scheme: api.URISchemeHTTP,
			HTTPHeaders: []api.HTTPHeader{{Name: "X-Probe", Value: "1"}, {Name: "Host", Value: "app.local"}}}
		ok, msg, err := p.httpProbe(ctx, "", &api.Container{}, h, 100*time.Millisecond)
		if err != nil || ok != tc.ok || !strings.Contains(msg, tc.msg) {
			t.Errorf("GET %s: ok %v msg %q err %v; want ok %v msg containing %q", tc.path, ok, msg, err, tc.ok, tc.msg)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if gotHeader != "1" || gotHost != "app.local" || !strings.HasPrefix(gotUA, "cloudlet-probe/") {
		t.Errorf("request headers: X-Probe %q, Host %q, User-Agent %q", gotHeader, gotHost, gotUA)
	}
	srv.Close()
	ok, msg, err := p.httpProbe(ctx, "", &api.Container{}, &api.HTTPGetAction{Path: "/", Port: port}, time.Second)
	if err != nil || ok || !strings.Contains(msg, "connection refused") {
		t.Errorf("closed port: ok %v msg %q err %v", ok, msg, err)
	}
}

func TestTCPProbe(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := listenerPort(t, l.Addr().String())
	p := hostProber()
	c := &api.Container{Ports: []api.ContainerPort{{Name: "svc", ContainerPort: port.IntVal}}}
	ok, msg, err := p.tcpProbe(context.Background(), "", c, &api.TCPSocketAction{Port: api.FromString("svc")}, time.Second)
	if !ok || msg != "" || err != nil {
		t.Fatalf("open port: ok %v msg %q err %v", ok, msg, err)
	}
	l.Close()
	ok, msg, err = p.tcpProbe(context.Background(), "", c, &api.TCPSocketAction{Port: port}, time.Second)
	if ok || err != nil || !strings.Contains(msg, "connection refused") {
		t.Fatalf("closed port: ok %v msg %q err %v", ok, msg, err)
	}
}

// newTestNetNS makes a network namespace with loopback up, bound at a
// file in dir, and a listener inside it; the test's own namespace has no
// listener on that port.
func newTestNetNS(t *testing.T) (path string, port int) {
	t.Helper()
	path = filepath.Join(t.TempDir(), "netns")
	if err := os.WriteFile(path, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	type result struct {
		l   net.Listener
		err error
	}
	ch := make(chan result, 1)
	go func() {
		// The thread goes back to its namespace and is unlocked; were it
		// left locked, Go could not end it if it is the main thread.
		runtime.LockOSThread()
		self, err := unix.Open(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- result{err: err}
			return
		}
		defer unix.Close(self)
		defer func() {
			if unix.Setns(self, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
		}()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- result{err: fmt.Errorf("unshare (needs root): %w", err)}
			return
		}
		if err := unix.Mount(fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid()), path, "", unix.MS_BIND, ""); err != nil {
			ch <- result{err: err}
			return
		}
		fd, _ := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM, 0)
		ifr, _ := unix.NewIfreq("lo")
		_ = unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr)
		ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
		err = unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr)
		unix.Close(fd)
		if err != nil {
			ch <- result{err: err}
			return
		}
		l, err := net.Listen("tcp", "127.0.0.1:0")
		ch <- result{l, err}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	t.Cleanup(func() {
		r.l.Close()
		_ = unix.Unmount(path, unix.MNT_DETACH)
	})
	go func() {
		for {
			c, err := r.l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	return path, r.l.Addr().(*net.TCPAddr).Port
}

// TestDialInNetNS: a connection to 127.0.0.1 made through dialInNetNS
// reaches the listener inside the namespace, which the test's own
// namespace cannot, and no thread stays in the pod's namespace.
func TestDialInNetNS(t *testing.T) {
	ns, port := newTestNetNS(t)
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatalf("port %d is open in the test's namespace too: the test cannot tell the namespaces apart", port)
	}
	for range 20 {
		c, err := dialInNetNS(context.Background(), ns, "tcp", addr)
		if err != nil {
			t.Fatalf("dial in netns: %v", err)
		}
		c.Close()
	}
	// No thread of the process is left in the pod's namespace.
	var st unix.Stat_t
	if err := unix.Stat(ns, &st); err != nil {
		t.Fatal(err)
	}
	podNS := fmt.Sprintf("net:[%d]", st.Ino)
	deadline := time.Now().Add(2 * time.Second)
	for {
		tasks, _ := filepath.Glob("/proc/self/task/*/ns/net")
		var in []string
		for _, task := range tasks {
			if l, _ := os.Readlink(task); l == podNS {
				in = append(in, task)
			}
		}
		if len(in) == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("threads left in the pod's namespace %s: %v", podNS, in)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("host namespace reaches the pod's listener: the dial did not switch namespaces")
	}
	p := newProber(nil, nil, "n1", slog.New(slog.DiscardHandler))
	ok, msg, err := p.tcpProbe(context.Background(), ns, &api.Container{}, &api.TCPSocketAction{Port: api.FromInt(int32(port))}, time.Second)
	if !ok || err != nil {
		t.Fatalf("tcp probe in netns: ok %v msg %q err %v", ok, msg, err)
	}
	if _, _, err := p.tcpProbe(context.Background(), filepath.Join(t.TempDir(), "gone"), &api.Container{}, &api.TCPSocketAction{Port: api.FromInt(80)}, time.Second); err == nil {
		t.Fatal("missing namespace counted as a probe result, want an error")
	}
}
