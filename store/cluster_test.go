package store

import (
	"context"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// freePorts reserves n loopback ports by listening and releasing them.
func freePorts(t *testing.T, n int) []int {
	t.Helper()
	var ls []net.Listener
	var ports []int
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		ls = append(ls, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	for _, l := range ls {
		l.Close()
	}
	return ports
}

// startCluster starts a real three-member etcd cluster on loopback ports,
// each member an embedded etcd with its own data dir, and returns the
// members and their client endpoints.
func startCluster(t *testing.T) ([]*Embedded, []string) {
	t.Helper()
	ports := freePorts(t, 6)
	var initial []string
	var endpoints []string
	for i := range 3 {
		initial = append(initial, fmt.Sprintf("m%d=http://127.0.0.1:%d", i, ports[2*i]))
		endpoints = append(endpoints, fmt.Sprintf("http://127.0.0.1:%d", ports[2*i+1]))
	}
	members := make([]*Embedded, 3)
	errs := make([]error, 3)
	var wg sync.WaitGroup
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			peer, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", ports[2*i]))
			client, _ := url.Parse(endpoints[i])
			members[i], errs[i] = StartEmbedded(EmbeddedConfig{
				Dir:            t.TempDir(),
				Name:           fmt.Sprintf("m%d", i),
				PeerURLs:       []url.URL{*peer},
				ClientURLs:     []url.URL{*client},
				InitialCluster: strings.Join(initial, ","),
			})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("member %d: %v", i, err)
		}
	}
	t.Cleanup(func() {
		for _, m := range members {
			if m != nil {
				m.Close()
			}
		}
	})
	return members, endpoints
}

func TestExternalThreeMemberCluster(t *testing.T) {
	members, endpoints := startCluster(t)
	ctx := context.Background()
	c, err := ConnectExternal(ctx, ExternalConfig{Endpoints: endpoints})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := New(c)

	st, err := c.MemberList(ctx)
	if err != nil || len(st.Members) != 3 {
		t.Fatalf("member list: %v members, err %v", len(st.Members), err)
	}
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	ch, err := s.Watch(wctx, "/registry/things/", 0, newThing, nil)
	if err != nil {
		t.Fatal(err)
	}
	a := mk("a", 1)
	if err := s.Create(ctx, "/registry/things/a", a); err != nil {
		t.Fatal(err)
	}
	if ev := collect(t, ch, 1)[0]; ev.Type != Added || ev.Object.GetObjectMeta().ResourceVersion != a.ResourceVersion {
		t.Fatalf("watch on cluster: %s rv %s", ev.Type, ev.Object.GetObjectMeta().ResourceVersion)
	}

	// Losing one member of three keeps a quorum: writes still succeed, and
	// a read through another member sees them.
	for i, m := range members {
		if m.etcd.Server.Leader() != m.etcd.Server.MemberID() {
			m.Close()
			members[i] = nil
			break
		}
	}
	uctx, cancel2 := context.WithTimeout(ctx, 30*time.Second)
	defer cancel2()
	if _, err := s.GuaranteedUpdate(uctx, "/registry/things/a", newThing, func(cur api.Object) (api.Object, error) {
		cur.(*thing).Spec.N = 42
		return cur, nil
	}); err != nil {
		t.Fatalf("update with one member down: %v", err)
	}
	var got thing
	if err := s.Get(uctx, "/registry/things/a", &got); err != nil || got.Spec.N != 42 {
		t.Fatalf("read back with one member down: n=%d err=%v", got.Spec.N, err)
	}
	if ev := collect(t, ch, 1)[0]; ev.Type != Modified {
		t.Fatalf("watch after member loss: %s", ev.Type)
	}
}

func TestConnectExternalUnreachable(t *testing.T) {
	port := freePorts(t, 1)[0]
	_, err := ConnectExternal(context.Background(), ExternalConfig{
		Endpoints:   []string{fmt.Sprintf("http://127.0.0.1:%d", port)},
		DialTimeout: 2 * time.Second,
	})
	if err == nil || !strings.Contains(err.Error(), "etcd unreachable") {
		t.Fatalf("got %v, want an 'etcd unreachable' error", err)
	}
}
