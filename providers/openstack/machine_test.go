package openstack_test

import (
	"context"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/iaas/machine"
	"github.com/cloudmgr/cloud/providers/openstack/openstacktest"
)

// countingPlacer fails placement and counts the calls: a provider that
// places machines itself must not be asked for.
type countingPlacer struct{ calls atomic.Int32 }

func (p *countingPlacer) Place(context.Context, iaas.PlacementRequest) (string, error) {
	p.calls.Add(1)
	return "", iaas.ErrInsufficientCapacity
}

// TestMachineControllerOnOpenStack runs the Machine controller, with the
// real API server, over the provider and the double: a machine becomes a
// server whose hostId labels the node, its node joins (SIMULATED: the test
// registers a Ready node), and deleting the machine deletes the server;
// Nova's failures fail machines with the controller's reasons.
func TestMachineControllerOnOpenStack(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	apiEnv := apiservertest.Start(t, apiservertest.Options{})
	c := apiEnv.Admin
	placer := &countingPlacer{}
	o := machine.Options{
		Providers: iaas.Providers{"openstack": e.p}, Placer: placer,
		Bootstrap: func(_ context.Context, m *api.Machine) (map[string][]byte, error) {
			return map[string][]byte{api.NodeBootstrapFile: []byte(`{"token":"` + secret + `","nodeName":"` + m.Name + `"}`)}, nil
		},
		CheckInterval: 200 * time.Millisecond,
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	controllerstest.RunManager(t, apiEnv.IaaSController(t), log, func(m *controllers.Manager) error {
		_, err := machine.Setup(m, o)
		return err
	})
	ctx := context.Background()
	machines := client.For[api.Machine](c)
	create := func(name string) {
		t.Helper()
		m := &api.Machine{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.MachineSpec{Provider: "openstack", Pool: "web",
			VCPUs: 1, Memory: api.MustParseQuantity("512Mi"), Image: "cirros-0.6.3-x86_64-disk"}}
		if _, err := machines.Create(ctx, m); err != nil {
			t.Fatal(err)
		}
	}
	wait := func(name string, phase api.MachinePhase) *api.Machine {
		t.Helper()
		var m *api.Machine
		controllerstest.WaitFor(t, func() bool {
			var err error
			m, err = machines.Get(ctx, "", name)
			return err == nil && m.Status.Phase == phase
		}, name+" "+string(phase))
		return m
	}

	create("web-1")
	m := wait("web-1", api.MachineRunning)
	srv := e.serverOf(t, m.Status.ProviderID)
	if !strings.HasPrefix(m.Status.ProviderID, "openstack://RegionOne/") || m.Status.Host != srv.HostID || m.Status.Host == "" ||
		m.Spec.Hypervisor != "" || placer.calls.Load() != 0 || len(m.Status.Addresses) != 1 {
		t.Fatalf("machine %+v %+v (placer asked %d times)", m.Spec, m.Status, placer.calls.Load())
	}
	if !strings.Contains(string(srv.UserData), "/var/lib/cloudmgr/bootstrap.json") || srv.Metadata["iaas.cloudmgr.dev/machine"] != "web-1" ||
		srv.Group == "" {
		t.Fatalf("server %+v", srv)
	}
	n := &api.Node{ObjectMeta: api.ObjectMeta{Name: "web-1"},
		Status: api.NodeStatus{Conditions: []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, LastHeartbeatTime: api.Now()}}}}
	if _, err := client.For[api.Node](c).Create(ctx, n); err != nil {
		t.Fatal(err)
	}
	wait("web-1", api.MachineJoined)
	controllerstest.WaitFor(t, func() bool {
		n, err := client.For[api.Node](c).Get(ctx, "", "web-1")
		return err == nil && n.Labels[api.LabelHypervisor] == srv.HostID && n.Spec.ProviderID == m.Status.ProviderID
	}, "the server's hostId as the node's hypervisor label")

	failures := []struct {
		name, reason string
		inject       func()
	}{
		{"no-host", "InsufficientCapacity", func() { e.cloud.InjectNoValidHost(1) }},
		{"no-quota", "Quota", func() { e.cloud.InjectQuota(1) }},
	}
	for _, f := range failures {
		f.inject()
		create(f.name)
		m := wait(f.name, api.MachineFailed)
		var cond *api.Condition
		for i := range m.Status.Conditions {
			if m.Status.Conditions[i].Type == api.ConditionProvisioned {
				cond = &m.Status.Conditions[i]
			}
		}
		if cond == nil || cond.Status != api.ConditionFalse || cond.Reason != f.reason {
			t.Fatalf("%s: condition %+v (message %q)", f.name, cond, m.Status.Message)
		}
	}
	if ss := e.cloud.Servers(); len(ss) != 1 {
		t.Fatalf("servers %+v, want web-1's only", ss)
	}

	for _, name := range []string{"web-1", "no-host", "no-quota"} {
		if err := machines.Delete(ctx, "", name, client.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool {
		l, _, err := machines.List(ctx, "", client.ListOptions{})
		return err == nil && len(l) == 0
	}, "the machines to go")
	e.wantNoServers(t)
}
