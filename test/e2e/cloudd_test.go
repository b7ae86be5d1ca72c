// Package e2e runs the built binaries as a user would: cloudd as a process
// with its real embedded or external etcd, cloudctl against it.
package e2e

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/store"
	"github.com/cloudmgr/cloud/test"
)

func testBinaries() (string, error) { return test.Binaries("cloudd", "cloudctl") }

func binaries(t *testing.T) string {
	t.Helper()
	bin, err := test.Binaries("cloudd")
	if err != nil {
		t.Fatalf("build binaries: %v", err)
	}
	return bin
}

func addr(t *testing.T) string {
	t.Helper()
	p, err := test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", p)
}

// startReady starts cloudd and waits for /readyz; it is stopped when the
// test ends.
func startReady(t *testing.T, bin, dir, address string, extra ...string) *test.Cloudd {
	t.Helper()
	c, err := test.StartCloudd(bin, dir, address, extra...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Stop(syscall.SIGKILL) })
	if err := c.WaitReady(context.Background(), time.Minute); err != nil {
		t.Fatal(err)
	}
	return c
}

// adminClient reads DATA-DIR/admin.yaml as cloudctl would.
func adminClient(t *testing.T, dir string) *client.Client {
	t.Helper()
	c, err := client.NewFromConfigFile(filepath.Join(dir, "admin.yaml"), api.NewScheme())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func newPod(name string) *api.Pod {
	return &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: "default"},
		Spec:       api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox:1.36"}}},
	}
}

func TestAdminConfigIsPrivateAndWorks(t *testing.T) {
	bin, dir := binaries(t), t.TempDir()
	startReady(t, bin, dir, addr(t))
	st, err := os.Stat(filepath.Join(dir, "admin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("admin.yaml mode %o, want 600", st.Mode().Perm())
	}
	ns, err := client.For[api.Namespace](adminClient(t, dir)).Get(context.Background(), "", "default")
	if err != nil {
		t.Fatalf("default namespace after first start: %v", err)
	}
	if ns.Status.Phase != "Active" {
		t.Fatalf("default namespace phase %q", ns.Status.Phase)
	}
}

// TestSIGKILLRestartKeepsEverything kills cloudd without warning and
// restarts it on the same data dir: every object is back with the same
// resourceVersion, and the admin config still works.
func TestSIGKILLRestartKeepsEverything(t *testing.T) {
	bin, dir, address := binaries(t), t.TempDir(), addr(t)
	// No scheduler: it would write the pods' PodScheduled condition (there
	// are no nodes) and so change their resourceVersions.
	c := startReady(t, bin, dir, address, "--scheduler=false")
	ctx := context.Background()
	pods := client.For[api.Pod](adminClient(t, dir))
	want := map[string]string{}
	for i := range 20 {
		p, err := pods.Create(ctx, newPod(fmt.Sprintf("p%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		want[p.Name] = p.ResourceVersion
	}
	p, err := pods.Get(ctx, "default", "p3")
	if err != nil {
		t.Fatal(err)
	}
	p.Labels = map[string]string{"changed": "yes"}
	if p, err = pods.Update(ctx, p); err != nil {
		t.Fatal(err)
	}
	want["p3"] = p.ResourceVersion

	if err := c.Cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if _, done := c.Exited(10 * time.Second); !done {
		t.Fatal("cloudd did not die on SIGKILL")
	}
	startReady(t, bin, dir, address, "--scheduler=false")
	got, _, err := client.For[api.Pod](adminClient(t, dir)).List(ctx, "default", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(want) {
		t.Fatalf("after restart %d pods, want %d", len(got), len(want))
	}
	for _, p := range got {
		if want[p.Name] != p.ResourceVersion {
			t.Errorf("pod %s: resourceVersion %s after restart, want %s", p.Name, p.ResourceVersion, want[p.Name])
		}
	}
	if got := findPod(got, "p3"); got == nil || got.Labels["changed"] != "yes" {
		t.Errorf("p3 lost its update: %+v", got)
	}
}

func findPod(ps []*api.Pod, name string) *api.Pod {
	for _, p := range ps {
		if p.Name == name {
			return p
		}
	}
	return nil
}

func TestSIGTERMShutsDownCleanly(t *testing.T) {
	bin, dir := binaries(t), t.TempDir()
	c := startReady(t, bin, dir, addr(t))
	if err := c.Stop(syscall.SIGTERM); err != nil {
		t.Fatalf("exit after SIGTERM: %v\n%s", err, c.Log.String())
	}
}

// TestStartupFailuresExitNonZero: each start-up fault is reported and makes
// cloudd exit non-zero.
func TestStartupFailuresExitNonZero(t *testing.T) {
	bin := binaries(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	unwritable := filepath.Join(t.TempDir(), "ro")
	if err := os.MkdirAll(unwritable, 0o500); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		dir     string
		address string
		extra   []string
		want    string
	}{
		{"port taken", t.TempDir(), taken.Addr().String(), nil, "address already in use"},
		{"data dir not writable", "/proc/cloudmgr-test/data", addr(t), nil, "data dir"},
		{"etcd unreachable", t.TempDir(), addr(t), []string{"--etcd-endpoints", "http://" + addr(t)}, "etcd unreachable"},
		{"bad flag", t.TempDir(), addr(t), []string{"--no-such-flag"}, "unknown flag"},
	}
	if os.Geteuid() != 0 { // root writes anywhere; /proc covers the root case
		cases = append(cases, struct {
			name, dir, address string
			extra              []string
			want               string
		}{"read-only dir", unwritable + "/data", addr(t), nil, "data dir"})
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := test.StartCloudd(bin, tc.dir, tc.address, tc.extra...)
			if err != nil {
				t.Fatal(err)
			}
			exitErr, done := c.Exited(60 * time.Second)
			if !done {
				_ = c.Stop(syscall.SIGKILL)
				t.Fatalf("cloudd kept running: %s", c.Log.String())
			}
			if exitErr == nil {
				t.Fatalf("cloudd exited 0; log: %s", c.Log.String())
			}
			if !strings.Contains(c.Log.String(), tc.want) {
				t.Fatalf("error output %q does not mention %q", c.Log.String(), tc.want)
			}
		})
	}
}

// TestExternalEtcdCluster runs cloudd against a real three-member etcd
// cluster on loopback ports and checks the objects land in that cluster.
func TestExternalEtcdCluster(t *testing.T) {
	endpoints := startEtcdCluster(t)
	bin, dir := binaries(t), t.TempDir()
	// No scheduler: the revision of the pod read below is that of its create.
	startReady(t, bin, dir, addr(t), "--etcd-endpoints", strings.Join(endpoints, ","), "--scheduler=false")
	if _, err := os.Stat(filepath.Join(dir, "etcd")); err == nil {
		t.Fatal("cloudd started an embedded etcd although --etcd-endpoints was given")
	}
	ctx := context.Background()
	p, err := client.For[api.Pod](adminClient(t, dir)).Create(ctx, newPod("on-cluster"))
	if err != nil {
		t.Fatal(err)
	}
	// Read the key straight from a member other than the first.
	ec, err := clientv3.New(clientv3.Config{Endpoints: endpoints[2:], DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer ec.Close()
	resp, err := ec.Get(ctx, "/registry/pods/default/on-cluster")
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 1 || fmt.Sprint(resp.Kvs[0].ModRevision) != p.ResourceVersion {
		t.Fatalf("key in cluster: %d kvs, want 1 at revision %s", len(resp.Kvs), p.ResourceVersion)
	}
	if strings.Contains(string(resp.Kvs[0].Value), "resourceVersion") {
		t.Fatal("stored value carries a resourceVersion; it must be derived from the revision")
	}
}

func startEtcdCluster(t *testing.T) []string {
	t.Helper()
	var initial, peers, endpoints []string
	for i := range 3 {
		peers = append(peers, "http://"+addr(t))
		endpoints = append(endpoints, "http://"+addr(t))
		initial = append(initial, fmt.Sprintf("m%d=%s", i, peers[i]))
	}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pu, _ := url.Parse(peers[i])
			cu, _ := url.Parse(endpoints[i])
			m, err := store.StartEmbedded(store.EmbeddedConfig{
				Dir: t.TempDir(), Name: fmt.Sprintf("m%d", i),
				PeerURLs: []url.URL{*pu}, ClientURLs: []url.URL{*cu},
				InitialCluster: strings.Join(initial, ","),
			})
			errs[i] = err
			if err == nil {
				t.Cleanup(m.Close)
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("etcd member %d: %v", i, err)
		}
	}
	return endpoints
}
