package apiserver_test

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// newMachine stores a Machine as the IaaS controllers would: created, then
// its status written once the provider made the VM (an empty providerID
// leaves it unprovisioned).
func newMachine(t *testing.T, env *apiservertest.Env, name, providerID, host string) *api.Machine {
	t.Helper()
	ctx := context.Background()
	machines := client.For[api.Machine](env.Admin)
	m, err := machines.Create(ctx, &api.Machine{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.MachineSpec{
		Provider: "libvirt", Pool: "web", Hypervisor: "hv-1", VCPUs: 1, Memory: api.MustParseQuantity("512Mi"),
		Labels: map[string]string{"tier": "web"},
		Taints: []api.Taint{{Key: "dedicated", Value: "web", Effect: api.TaintEffectNoSchedule}},
	}})
	if err != nil {
		t.Fatalf("create machine %s: %v", name, err)
	}
	if providerID == "" {
		return m
	}
	m.Status.Phase, m.Status.ProviderID, m.Status.Host = api.MachineRunning, providerID, host
	if m, err = machines.UpdateStatus(ctx, m); err != nil {
		t.Fatalf("machine %s status: %v", name, err)
	}
	return m
}

func wantFieldCause(t *testing.T, err error, code int, field string) {
	t.Helper()
	var st *api.Status
	if !errors.As(err, &st) || int(st.Code) != code {
		t.Fatalf("got %v, want %d", err, code)
	}
	if st.Details != nil {
		for _, c := range st.Details.Causes {
			if c.Field == field {
				return
			}
		}
	}
	t.Fatalf("%v: no cause names %s", err, field)
}

func TestMachineBoundJoin(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{AuthCacheTTL: 50 * time.Millisecond})
	ctx := context.Background()
	newMachine(t, env, "m-a", "libvirt://hv-1/aaaa", "host-1")
	newMachine(t, env, "m-b", "libvirt://hv-2/bbbb", "host-2")

	var tok api.JoinToken
	err := env.Admin.Do(ctx, "POST", "/api/v1/jointokens", nil, api.JoinTokenRequest{Machine: "m-a", NodeName: "m-b"}, &tok)
	if client.Code(err) != http.StatusBadRequest {
		t.Fatalf("token for machine m-a naming node m-b: %v, want 400", err)
	}
	a, err := env.Admin.CreateMachineJoinToken(ctx, time.Minute, "m-a")
	if err != nil {
		t.Fatal(err)
	}
	if a.NodeName != "m-a" || a.Machine != "m-a" {
		t.Fatalf("token bound to %q/%q, want m-a", a.NodeName, a.Machine)
	}

	t.Run("bound to A, joining as B", func(t *testing.T) {
		if _, err := joinAs(t, env, a.Token, "m-b"); client.Code(err) != http.StatusForbidden {
			t.Fatalf("join as m-b: %v, want 403", err)
		}
	})

	n, err := joinAs(t, env, a.Token, "m-a")
	if err != nil {
		t.Fatalf("join: %v", err)
	}
	t.Run("reused", func(t *testing.T) {
		if _, err := joinAs(t, env, a.Token, "m-a"); client.Code(err) != http.StatusUnauthorized {
			t.Fatalf("second use: %v, want 401", err)
		}
	})
	t.Run("the Node carries the machine's record", func(t *testing.T) {
		node, err := client.For[api.Node](env.Admin).Get(ctx, "", "m-a")
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]string{api.LabelHypervisor: "host-1", api.LabelNodePool: "web", api.LabelProvider: "libvirt", "tier": "web"}
		for k, v := range want {
			if node.Labels[k] != v {
				t.Errorf("label %s = %q, want %q", k, node.Labels[k], v)
			}
		}
		if node.Spec.ProviderID != "libvirt://hv-1/aaaa" {
			t.Errorf("providerID %q", node.Spec.ProviderID)
		}
		if len(node.Spec.Taints) != 1 || node.Spec.Taints[0].Key != "dedicated" {
			t.Errorf("taints %v", node.Spec.Taints)
		}
	})

	nodes := client.For[api.Node](n)
	t.Run("the agent's own claim is overridden", func(t *testing.T) {
		// As cloudlet registers: get, merge its labels (its --hypervisor
		// flag among them), update.
		me, err := nodes.Get(ctx, "", "m-a")
		if err != nil {
			t.Fatal(err)
		}
		me.Labels[api.LabelHypervisor] = "host-2"
		_, err = nodes.Update(ctx, me)
		wantFieldCause(t, err, http.StatusUnprocessableEntity, "metadata.labels["+api.LabelHypervisor+"]")

		me, _ = nodes.Get(ctx, "", "m-a")
		me.Spec.ProviderID = "libvirt://hv-2/bbbb"
		_, err = nodes.Update(ctx, me)
		wantFieldCause(t, err, http.StatusUnprocessableEntity, "spec.providerID")

		// Labels left out are kept; others may change.
		me, _ = nodes.Get(ctx, "", "m-a")
		delete(me.Labels, api.LabelHypervisor)
		delete(me.Labels, api.LabelNodePool)
		me.Labels["extra"] = "yes"
		got, err := nodes.Update(ctx, me)
		if err != nil {
			t.Fatalf("update leaving the machine labels out: %v", err)
		}
		if got.Labels[api.LabelHypervisor] != "host-1" || got.Labels[api.LabelNodePool] != "web" || got.Labels["extra"] != "yes" {
			t.Fatalf("labels after update: %v", got.Labels)
		}
		got.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue, Reason: "CloudletReady"}}
		if _, err := nodes.UpdateStatus(ctx, got); err != nil {
			t.Fatalf("status update: %v", err)
		}

		// A Node deleted and created again by the agent gets the
		// machine's values whatever it claims.
		if err := client.For[api.Node](env.Admin).Delete(ctx, "", "m-a", client.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		created, err := nodes.Create(ctx, &api.Node{ObjectMeta: api.ObjectMeta{Name: "m-a",
			Labels: map[string]string{api.LabelHypervisor: "host-2"}}, Spec: api.NodeSpec{ProviderID: "libvirt://hv-2/bbbb"}})
		if err != nil {
			t.Fatalf("agent creating its Node: %v", err)
		}
		if created.Labels[api.LabelHypervisor] != "host-1" || created.Spec.ProviderID != "libvirt://hv-1/aaaa" {
			t.Fatalf("created node claims %q %q", created.Labels[api.LabelHypervisor], created.Spec.ProviderID)
		}
	})

	t.Run("expired", func(t *testing.T) {
		short, err := env.Admin.CreateMachineJoinToken(ctx, time.Second, "m-b")
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(1100 * time.Millisecond) // the expiry itself is what is tested
		if _, err := joinAs(t, env, short.Token, "m-b"); client.Code(err) != http.StatusUnauthorized {
			t.Fatalf("expired token: %v, want 401", err)
		}
	})

	t.Run("machine not provisioned yet, then gone", func(t *testing.T) {
		m := newMachine(t, env, "m-c", "", "")
		tok, err := env.Admin.CreateMachineJoinToken(ctx, time.Minute, "m-c")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := joinAs(t, env, tok.Token, "m-c"); client.Code(err) != http.StatusConflict {
			t.Fatalf("join before the provider ID is known: %v, want 409", err)
		}
		m.Status.ProviderID, m.Status.Host = "libvirt://hv-1/cccc", "host-1"
		if _, err := client.For[api.Machine](env.Admin).UpdateStatus(ctx, m); err != nil {
			t.Fatal(err)
		}
		nc, err := env.Client(t, tok.Token).Join(ctx, "m-c")
		if err != nil {
			t.Fatalf("join once provisioned, same token: %v", err)
		}
		if nc.Machine != "m-c" || nc.NodeName != "m-c" {
			t.Fatalf("credential for %q bound to %q", nc.NodeName, nc.Machine)
		}
		gone, err := env.Admin.CreateMachineJoinToken(ctx, time.Minute, "m-gone")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := joinAs(t, env, gone.Token, "m-gone"); client.Code(err) != http.StatusForbidden {
			t.Fatalf("join for a machine that does not exist: %v, want 403", err)
		}
	})
}
