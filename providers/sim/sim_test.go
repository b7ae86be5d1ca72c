package sim

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/iaas"
)

func newProvider(t *testing.T, cfg Config) *Provider {
	t.Helper()
	p, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func spec(name, hv string, cpus int32, mem int64) iaas.MachineSpec {
	return iaas.MachineSpec{Name: name, Hypervisor: hv, CPUs: cpus, MemoryMiB: mem}
}

func TestNewChecksConfig(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string
	}{
		{"usage above one", Config{CPUUsage: 1.5}, "cpuUsage"},
		{"negative delay", Config{CreateDelay: -time.Second}, "may not be negative"},
		{"negative quota", Config{Quota: Quota{CPUs: -1}}, "quota"},
		{"host without size", Config{Hosts: []Host{{Name: "h"}}}, "hosts[0]"},
		{"host twice", Config{Hosts: []Host{{Name: "h", CPUs: 1, MemoryMiB: 1}, {Name: "h", CPUs: 1, MemoryMiB: 1}}}, "already exists"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want an error about %q", err, tc.want)
			}
		})
	}
	p := newProvider(t, Config{Hosts: []Host{{Name: "rack", CPUs: 8, MemoryMiB: 8192, Count: 3}}})
	if p.Name() != "sim" || p.PlacesMachines() {
		t.Fatalf("name %q, places %v", p.Name(), p.PlacesMachines())
	}
	var names []string
	for _, h := range p.Hosts() {
		names = append(names, h.Name)
	}
	if got := strings.Join(names, ","); got != "rack-0,rack-1,rack-2" {
		t.Fatalf("hosts %s", got)
	}
	fl, _ := p.Flavors(context.Background())
	if len(fl) != 3 || fl[0].Name != "small" {
		t.Fatalf("flavors %v", fl)
	}
}

// Machines on hypervisors: the host must have room; Delete frees it.
func TestHostCapacity(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, Config{Hosts: []Host{{Name: "h1", CPUs: 4, MemoryMiB: 4096}}})
	m1, err := p.Create(ctx, spec("a", "h1", 2, 1024))
	if err != nil {
		t.Fatal(err)
	}
	if m1.State != iaas.StateRunning || m1.Host != "h1" || m1.Provider != "sim" || !strings.HasPrefix(m1.ID, "sim://h1/") {
		t.Fatalf("machine %+v", m1)
	}
	if _, err := p.Create(ctx, spec("b", "h1", 2, 1024)); err != nil {
		t.Fatal(err)
	}
	_, err = p.Create(ctx, spec("c", "h1", 1, 512))
	if !errors.Is(err, iaas.ErrInsufficientCapacity) {
		t.Fatalf("third machine on a full host: %v", err)
	}
	if _, err := p.Create(ctx, spec("a", "h1", 1, 1)); err == nil || !strings.Contains(err.Error(), "exists") {
		t.Fatalf("a second machine named a: %v", err)
	}
	if _, err := p.Create(ctx, spec("d", "nowhere", 1, 1)); !errors.Is(err, iaas.ErrUnreachable) {
		t.Fatalf("unknown hypervisor: %v", err)
	}
	if _, err := p.Create(ctx, spec("e", "", 1, 1)); err == nil {
		t.Fatal("no hypervisor accepted by a provider that does not place machines")
	}
	if err := p.Delete(ctx, m1.ID); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, m1.ID); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if _, err := p.Get(ctx, m1.ID); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if _, err := p.Create(ctx, spec("c", "h1", 2, 1024)); err != nil {
		t.Fatalf("room freed by the delete: %v", err)
	}
	h := p.Hosts()[0]
	if h.Machines != 2 || h.UsedCPUs != 4 || h.UsedMemoryMiB != 2048 {
		t.Fatalf("host usage %+v", h)
	}
	ms, _ := p.List(ctx)
	if len(ms) != 2 || ms[0].Name != "b" || ms[1].Name != "c" {
		t.Fatalf("list %v", ms)
	}
	// A flavor sets the size.
	p2 := newProvider(t, Config{Hosts: []Host{{Name: "h", CPUs: 4, MemoryMiB: 8192}}})
	m, err := p2.Create(ctx, iaas.MachineSpec{Name: "f", Hypervisor: "h", Flavor: "large"})
	if err != nil || m.CPUs != 4 || m.MemoryMiB != 4096 {
		t.Fatalf("flavored machine %+v: %v", m, err)
	}
	if _, err := p2.Create(ctx, iaas.MachineSpec{Name: "g", Hypervisor: "h", Flavor: "huge"}); err == nil {
		t.Fatal("unknown flavor accepted")
	}
}

// InspectHost answers for sim://HOST and maps the Hypervisor object's name
// to the host.
func TestInspectHost(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, Config{Hosts: []Host{{Name: "h", CPUs: 16, MemoryMiB: 65536, Count: 2}}})
	info, err := p.InspectHost(ctx, "first", "sim://h-1")
	if err != nil || info.Hostname != "h-1" || info.CPUs != 16 || info.MemoryMiB != 65536 || info.DomainType != Simulated {
		t.Fatalf("inspect: %+v %v", info, err)
	}
	m, err := p.Create(ctx, spec("a", "first", 1, 512))
	if err != nil || m.Host != "h-1" || m.Hypervisor != "first" {
		t.Fatalf("machine on hypervisor first: %+v %v", m, err)
	}
	for _, uri := range []string{"sim://h-9", "qemu:///system", "sim://"} {
		if _, err := p.InspectHost(ctx, "x", uri); err == nil {
			t.Fatalf("%s accepted", uri)
		}
	}
	cloud := newProvider(t, Config{Cloud: true})
	if _, err := cloud.InspectHost(ctx, "x", "sim://sim-host"); err == nil {
		t.Fatal("a simulated cloud accepted a hypervisor")
	}
}

// A simulated cloud spreads a group's machines over its hosts, then
// fills them, then runs out.
func TestCloudPlacement(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, Config{Cloud: true, Hosts: []Host{{Name: "h", CPUs: 4, MemoryMiB: 4096, Count: 3}}})
	if !p.PlacesMachines() || !iaas.PlacesItself(p) {
		t.Fatal("a simulated cloud does not place machines itself")
	}
	hosts := map[string]int{}
	for i := range 3 {
		s := spec(fmt.Sprintf("g-%d", i), "", 1, 512)
		s.Group = "web"
		m, err := p.Create(ctx, s)
		if err != nil {
			t.Fatal(err)
		}
		hosts[m.Host]++
	}
	if len(hosts) != 3 {
		t.Fatalf("a group's machines on %v, want three hosts", hosts)
	}
	for i := range 9 {
		if _, err := p.Create(ctx, spec(fmt.Sprintf("f-%d", i), "", 1, 512)); err != nil {
			t.Fatalf("machine %d of 12 CPUs: %v", i+4, err)
		}
	}
	if _, err := p.Create(ctx, spec("over", "", 1, 512)); !errors.Is(err, iaas.ErrInsufficientCapacity) {
		t.Fatalf("13th machine: %v", err)
	}
	for _, h := range p.Hosts() {
		if h.UsedCPUs != 4 {
			t.Fatalf("host %+v not full", h)
		}
	}
}

func TestQuota(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name  string
		quota Quota
		fits  int // machines of 2 CPUs and 1 GiB that fit
	}{
		{"instances", Quota{Instances: 2}, 2},
		{"cpus", Quota{CPUs: 5}, 2},
		{"memory", Quota{MemoryMiB: 3 << 10}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := newProvider(t, Config{Cloud: true, Quota: tc.quota})
			for i := range tc.fits {
				if _, err := p.Create(ctx, spec(fmt.Sprint(i), "", 2, 1024)); err != nil {
					t.Fatal(err)
				}
			}
			_, err := p.Create(ctx, spec("over", "", 2, 1024))
			if !errors.Is(err, iaas.ErrQuota) {
				t.Fatalf("over quota: %v", err)
			}
		})
	}
}

func TestInjectedFailures(t *testing.T) {
	ctx := context.Background()
	p := newProvider(t, Config{Cloud: true})
	p.FailNextCreates(iaas.ErrQuota, 1)
	p.FailNextCreates(iaas.ErrInsufficientCapacity, 1)
	if _, err := p.Create(ctx, spec("a", "", 1, 512)); !errors.Is(err, iaas.ErrQuota) {
		t.Fatalf("first: %v", err)
	}
	if _, err := p.Create(ctx, spec("a", "", 1, 512)); !errors.Is(err, iaas.ErrInsufficientCapacity) {
		t.Fatalf("second: %v", err)
	}
	if _, err := p.Create(ctx, spec("a", "", 1, 512)); err != nil {
		t.Fatalf("third: %v", err)
	}
	p.FailCreates(ErrHang)
	hctx, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	if _, err := p.Create(hctx, spec("b", "", 1, 512)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("hung create: %v", err)
	}
	p.ClearFaults()
	if _, err := p.Create(ctx, spec("b", "", 1, 512)); err != nil {
		t.Fatal(err)
	}
	// From the config too.
	p2 := newProvider(t, Config{Cloud: true, Faults: Faults{InsufficientCapacity: true}})
	if _, err := p2.Create(ctx, spec("a", "", 1, 512)); !errors.Is(err, iaas.ErrInsufficientCapacity) {
		t.Fatalf("configured fault: %v", err)
	}
	// A machine that disappears.
	if !p.Disappear("a") || p.Disappear("a") {
		t.Fatal("disappear")
	}
	ms, _ := p.List(ctx)
	if len(ms) != 1 || ms[0].Name != "b" {
		t.Fatalf("machines %v", ms)
	}
}

// A Create that times out during its delay leaves nothing behind.
func TestCreateDelayAndCancel(t *testing.T) {
	p := newProvider(t, Config{Cloud: true, CreateDelay: time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.Create(ctx, spec("a", "", 1, 512)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("create: %v", err)
	}
	if ms, _ := p.List(context.Background()); len(ms) != 0 {
		t.Fatalf("left behind: %v", ms)
	}
	if h := p.Hosts()[0]; h.Machines != 0 || h.UsedCPUs != 0 {
		t.Fatalf("room not freed: %+v", h)
	}
	// A Delete cut short during its delay leaves the machine.
	p2 := newProvider(t, Config{Cloud: true, DeleteDelay: time.Hour})
	m, err := p2.Create(context.Background(), spec("b", "", 1, 512))
	if err != nil {
		t.Fatal(err)
	}
	dctx, dcancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer dcancel()
	if err := p2.Delete(dctx, m.ID); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("delete: %v", err)
	}
	if _, err := p2.Get(context.Background(), m.ID); err != nil {
		t.Fatalf("machine gone after a cut delete: %v", err)
	}
}

func TestCPUUsageSettings(t *testing.T) {
	p := newProvider(t, Config{CPUUsage: 0.1})
	if err := p.SetPoolCPUUsage("web", 0.5); err != nil {
		t.Fatal(err)
	}
	if err := p.SetNodeCPUUsage("web-1", 0.9); err != nil {
		t.Fatal(err)
	}
	if err := p.SetNodeCPUUsage("x", 2); err == nil {
		t.Fatal("usage 2 accepted")
	}
	for _, tc := range []struct {
		node, pool string
		want       float64
	}{{"web-1", "web", 0.9}, {"web-2", "web", 0.5}, {"db-1", "db", 0.1}, {"other", "", 0.1}} {
		if got := p.cpuUsage(tc.node, tc.pool); got != tc.want {
			t.Errorf("%s of %s: %v, want %v", tc.node, tc.pool, got, tc.want)
		}
	}
}

// The bootstrap file's errors never quote it: it holds a join token.
func TestBadBootstrapIsNotQuoted(t *testing.T) {
	p := newProvider(t, Config{Cloud: true})
	for _, data := range []string{`{"joinToken":"cm_SECRET", "server":`, `{"joinToken":"cm_SECRET"}`, `["cm_SECRET"]`} {
		s := spec("a", "", 1, 512)
		s.ConfigDrive = map[string][]byte{"bootstrap.json": []byte(data)}
		_, err := p.Create(context.Background(), s)
		if err == nil || strings.Contains(err.Error(), "SECRET") {
			t.Fatalf("bootstrap %s: %v", data, err)
		}
	}
}
