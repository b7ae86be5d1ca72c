package iaas_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/iaasfake"
	"github.com/prometheus/client_golang/prometheus"
)

func TestInstrumentTimesEveryCallByResult(t *testing.T) {
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	fake := iaasfake.New("fake")
	p := iaas.Instrument(fake, reg)
	if p.Name() != "fake" {
		t.Fatalf("name %q", p.Name())
	}
	m, err := p.Create(ctx, iaas.MachineSpec{Name: "a", CPUs: 1, MemoryMiB: 512})
	if err != nil {
		t.Fatal(err)
	}
	fake.FailNext(iaasfake.OpCreate, iaas.ErrInsufficientCapacity)
	fake.FailNext(iaasfake.OpCreate, iaas.ErrQuota)
	fake.FailNext(iaasfake.OpCreate, iaas.ErrUnreachable)
	fake.FailNext(iaasfake.OpCreate, errors.New("boom"))
	for range 4 {
		if _, err := p.Create(ctx, iaas.MachineSpec{Name: "b"}); err == nil {
			t.Fatal("injected create failure did not fail")
		}
	}
	if _, err := p.Get(ctx, "nope"); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("get: %v", err)
	}
	_, _ = p.List(ctx)
	_, _ = p.Flavors(ctx)
	pm := p.(iaas.PowerManager)
	_ = pm.Stop(ctx, m.ID)
	_ = pm.Start(ctx, m.ID)
	_ = pm.Reboot(ctx, m.ID)
	_, _ = p.(iaas.ConsoleReader).ConsoleLog(ctx, m.ID, 100)
	_ = p.Delete(ctx, m.ID)

	want := map[string]int{
		"create/ok": 1, "create/capacity": 1, "create/quota": 1, "create/unreachable": 1, "create/error": 1,
		"get/not_found": 1, "list/ok": 1, "flavors/ok": 1, "stop/ok": 1, "start/ok": 1, "reboot/ok": 1,
		"console_log/ok": 1, "delete/ok": 1,
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
	for _, mf := range mfs {
		if mf.GetName() != "cloud_iaas_provider_call_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			l := map[string]string{}
			for _, lp := range m.GetLabel() {
				l[lp.GetName()] = lp.GetValue()
			}
			if l["provider"] != "fake" {
				t.Errorf("provider label %q", l["provider"])
			}
			got[l["operation"]+"/"+l["result"]] = int(m.GetHistogram().GetSampleCount())
		}
	}
	for k, n := range want {
		if got[k] != n {
			t.Errorf("%s: %d samples, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if len(got) != len(want) {
		t.Errorf("series %v, want %v", got, want)
	}
}

func TestInstrumentKeepsOnlyTheAbilitiesTheProviderHas(t *testing.T) {
	reg := prometheus.NewRegistry()
	full := iaas.Instrument(iaasfake.New("full"), reg)
	if _, ok := full.(iaas.PowerManager); !ok {
		t.Error("power manager lost")
	}
	if _, ok := full.(iaas.ConsoleReader); !ok {
		t.Error("console reader lost")
	}
	if _, ok := full.(iaas.HostInspector); ok {
		t.Error("host inspector invented")
	}
	// A second Instrument on the same registry reuses the histogram.
	bare := iaas.Instrument(iaasfake.Bare(iaasfake.New("bare")), reg)
	if _, ok := bare.(iaas.PowerManager); ok {
		t.Error("power manager invented")
	}
	if _, ok := bare.(iaas.ConsoleReader); ok {
		t.Error("console reader invented")
	}
	if iaas.PlacesItself(bare) || iaas.PlacesItself(full) {
		t.Error("a provider that does not place machines claims to")
	}
	cloud := iaas.Instrument(selfPlacing{iaasfake.New("cloud")}, reg)
	if !iaas.PlacesItself(cloud) {
		t.Error("self placement lost")
	}
	if _, ok := cloud.(iaas.PowerManager); !ok {
		t.Error("power manager of a self-placing provider lost")
	}
	if _, err := bare.List(context.Background()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	if len(mfs) != 1 || len(mfs[0].GetMetric()) != 1 || mfs[0].GetMetric()[0].GetLabel()[0].GetValue() != "list" {
		t.Errorf("metrics %v, want one series for the bare list", mfs)
	}
}

func TestFakeHangsUntilTheContextEnds(t *testing.T) {
	fake := iaasfake.New("fake")
	fake.FailNext(iaasfake.OpCreate, iaasfake.ErrHang)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := fake.Create(ctx, iaas.MachineSpec{Name: "x", ConfigDrive: map[string][]byte{"token": []byte("s3cret")}})
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err %v, want deadline exceeded", err)
	}
	calls := fake.Calls()
	if len(calls) != 1 || strings.Contains(calls[0].String(), "s3cret") || string(calls[0].Spec.ConfigDrive["token"]) != "s3cret" {
		t.Fatalf("calls %v: want the spec recorded and redacted in String", calls)
	}
	if len(fake.Machines()) != 0 {
		t.Fatal("a failed create left a machine")
	}
}

func TestFakeDisappear(t *testing.T) {
	ctx := context.Background()
	fake := iaasfake.New("fake")
	m, _ := fake.Create(ctx, iaas.MachineSpec{Name: "a", Hypervisor: "hv-1"})
	if m.Host != "host-hv-1" || !strings.HasPrefix(m.ID, "fake://hv-1/") {
		t.Fatalf("machine %+v", m)
	}
	if !fake.Disappear("a") {
		t.Fatal("nothing disappeared")
	}
	if _, err := fake.Get(ctx, m.ID); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("get after disappearing: %v", err)
	}
	if err := fake.Delete(ctx, m.ID); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("delete after disappearing: %v", err)
	}
}

// selfPlacing is a fake cloud that places its machines itself.
type selfPlacing struct{ *iaasfake.Provider }

func (selfPlacing) PlacesMachines() bool { return true }
