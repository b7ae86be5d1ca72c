package e2e

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// slowRegistry is a reverse proxy on 127.0.0.1 in front of the project's
// registry that serves its cloudmgr/busybox repository under another name
// and sends blob bodies slowly, so a pull stays in flight for a while.
type slowRegistry struct {
	host string // host:port of the proxy
	repo string // repository name it serves
	// blobStarted is closed when the first blob body starts to flow;
	// blobAborted counts blob downloads the client gave up.
	blobStarted chan struct{}
	started     atomic.Bool
	blobAborted atomic.Int32
}

// startSlowRegistry serves upstream's cloudmgr/busybox as repo, writing
// blob bodies at chunk bytes per tick. It stops when the test ends.
func startSlowRegistry(t *testing.T, upstream, repo string, chunk int, tick time.Duration) *slowRegistry {
	t.Helper()
	target := &url.URL{Scheme: "http", Host: upstream}
	s := &slowRegistry{repo: repo, blobStarted: make(chan struct{})}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1
	handler := func(w http.ResponseWriter, r *http.Request) {
		r.URL.Path = strings.Replace(r.URL.Path, "/v2/"+repo+"/", "/v2/cloudmgr/busybox/", 1)
		r.Host = upstream
		if r.Method != http.MethodGet || !strings.Contains(r.URL.Path, "/blobs/") {
			proxy.ServeHTTP(w, r)
			return
		}
		proxy.ServeHTTP(&throttled{ResponseWriter: w, s: s, ctx: r.Context(), chunk: chunk, tick: tick}, r)
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(handler), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(l) }()
	t.Cleanup(func() { _ = srv.Close() })
	s.host = l.Addr().String()
	return s
}

// throttled writes a response body chunk bytes per tick, and counts the
// download as aborted when the client goes away before it is done.
type throttled struct {
	http.ResponseWriter
	s     *slowRegistry
	ctx   context.Context
	chunk int
	tick  time.Duration
}

func (w *throttled) Write(b []byte) (int, error) {
	if w.s.started.CompareAndSwap(false, true) {
		close(w.s.blobStarted)
	}
	n := 0
	for len(b) > 0 {
		part := b[:min(len(b), w.chunk)]
		select {
		case <-time.After(w.tick):
		case <-w.ctx.Done():
			w.s.blobAborted.Add(1)
			return n, w.ctx.Err()
		}
		m, err := w.ResponseWriter.Write(part)
		n += m
		if err != nil {
			return n, err
		}
		if f, ok := w.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		b = b[len(part):]
	}
	return n, nil
}

// TestPodDeletedWhilePulling: a pod deleted (gracefully, or forced) while
// its image is still being pulled (through a proxy that makes the pull take about half a minute)
// goes from the API soon, the pull is abandoned, and nothing is left in
// containerd or on the node: no container, task, snapshot, network
// namespace, lease or content ingest. A private containerd makes sure no
// blob is already in the content store (it is shared by namespaces).
func TestPodDeletedWhilePulling(t *testing.T) {
	for _, mode := range []string{"graceful", "forced"} {
		t.Run(mode, func(t *testing.T) { podDeletedWhilePulling(t, mode == "forced") })
	}
}

// podDeletedWhilePulling deletes a pod mid-pull, with the pod's grace
// period (the node then finishes the delete) or forced with grace 0 (the
// pod leaves the API at once and the node only cleans up).
func podDeletedWhilePulling(t *testing.T, forced bool) {
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
	repo := fmt.Sprintf("slow%d/busybox", time.Now().UnixNano())
	// 16 KiB every 250ms: the 2 MiB layer takes over 30s.
	reg := startSlowRegistry(t, envOr(envRegistry, defaultRegistry), repo, 16<<10, 250*time.Millisecond)
	n := startJoinedNode(t, ctrd.Socket, snapshotter, "pull-1", "--insecure-registry", reg.host, "--heartbeat-interval", "200ms")
	ctx := context.Background()
	p := n.sleeper("pulling")
	p.Spec.Containers[0].Image = reg.host + "/" + repo + ":test"
	two := int64(2)
	p.Spec.TerminationGracePeriodSeconds = &two
	p, err = n.pods.Create(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	select {
	case <-reg.blobStarted:
	case <-time.After(30 * time.Second):
		t.Fatalf("no blob download through the proxy within 30s\ncloudlet log:\n%s", n.log.String())
	}
	time.Sleep(500 * time.Millisecond) // well into the pull
	if got, err := n.pods.Get(ctx, "default", "pulling"); err != nil || got.Status.Phase == api.PodRunning {
		t.Fatalf("pod should still be pulling: %v %+v", err, got)
	}

	deleted := time.Now()
	opts := client.DeleteOptions{}
	if forced {
		zero := int64(0)
		opts.GracePeriodSeconds = &zero
	}
	if err := n.pods.Delete(ctx, "default", "pulling", opts); err != nil {
		t.Fatal(err)
	}
	eventually(t, 15*time.Second, "pod gone from the API while its pull would still run", func() (bool, string) {
		_, err := n.pods.Get(ctx, "default", "pulling")
		return client.IsNotFound(err), fmt.Sprintf("%v\ncloudlet log:\n%s", err, n.log.String())
	})
	t.Logf("pod gone %s after delete", time.Since(deleted).Round(time.Millisecond))
	eventually(t, 10*time.Second, "nothing left of the pod", func() (bool, string) {
		left := n.leftovers(t, p.UID, true)
		return len(left) == 0, fmt.Sprint(left)
	})
	if reg.blobAborted.Load() == 0 {
		t.Error("the pull went on after the pod was deleted (no blob download was abandoned)")
	}
	c, cctx := n.containerdClient(t)
	if imgs, err := c.ImageService().List(cctx); err != nil || len(imgs) != 0 {
		t.Errorf("images after the abandoned pull: %v %+v", err, imgs)
	}
	// The node still works: a pod of an image on the shared registry runs.
	if _, err := n.pods.Create(ctx, n.sleeper("after")); err != nil {
		t.Fatal(err)
	}
	n.runningPod(t, "after", 60*time.Second)
}
