package autoscaler_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"log/slog"
	"maps"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/providers/openstack"
	"github.com/cloudmgr/cloud/providers/openstack/openstacktest"
	"github.com/cloudmgr/cloud/providers/sim"
)

// bootstrapFile is the write_files entry of the bootstrap file in the
// #cloud-config user data the OpenStack provider writes (openstack.UserData).
var bootstrapFile = regexp.MustCompile(`- path: "` + regexp.QuoteMeta(openstack.BootstrapDir+"/"+api.NodeBootstrapFile) +
	`"\n  encoding: b64\n  permissions: '0600'\n  owner: root:root\n  content: (\S+)\n`)

// openStackCloud is the public cloud of TestAutoscalerBurstsToOpenStack:
// the real OpenStack provider (gophercloud) against the OpenStack TEST
// DOUBLE (openstacktest: Keystone and Nova in memory, not OpenStack),
// whose servers run simulated node agents (guests) once ACTIVE.
type openStackCloud struct {
	double *openstacktest.Cloud
	// guests runs the simulated node agents of the double's servers.
	guests *sim.Provider
}

// flavorSizes are the double's flavors (DevStack's) the public pool may
// get: the guest's node reports its flavor's size.
var flavorSizes = map[string]struct {
	cpus int32
	mem  int64
}{"3": {2, 4096}, "4": {4, 8192}}

// newOpenStack starts the double and returns the OpenStack provider on it.
func (o *openStackCloud) newOpenStack(t testing.TB, env *apiservertest.Env) iaas.Provider {
	t.Helper()
	guests, err := sim.New(sim.Config{Name: "openstack-guests", Cloud: true, HeartbeatInterval: 300 * time.Millisecond,
		StatusInterval: 200 * time.Millisecond, CPUUsage: 0.1, Watch: env.Scheduler, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = guests.Close() })
	o.guests = guests
	o.double = openstacktest.Start(t, openstacktest.Options{BuildDelay: 200 * time.Millisecond, DeleteDelay: 100 * time.Millisecond,
		// What cloud-init and the node agent would do in the server: read
		// the bootstrap file of the user data, and join.
		OnActive: func(s openstacktest.ServerInfo) {
			m := bootstrapFile.FindSubmatch(s.UserData)
			if m == nil {
				t.Errorf("server %s: no %s in its user data:\n%s", s.Name, api.NodeBootstrapFile, s.UserData)
				return
			}
			boot, err := base64.StdEncoding.DecodeString(string(m[1]))
			if err != nil {
				t.Errorf("server %s: %s: %v", s.Name, api.NodeBootstrapFile, err)
				return
			}
			size, ok := flavorSizes[s.FlavorID]
			if !ok {
				t.Errorf("server %s: unexpected flavor %s", s.Name, s.FlavorID)
				return
			}
			if err := guests.Attach(sim.Guest{Name: s.Name, Bootstrap: boot, CPUs: size.cpus, MemoryMiB: size.mem,
				Pool: s.Metadata[api.LabelNodePool], Host: s.HostID}); err != nil {
				t.Errorf("server %s: %v", s.Name, err)
			}
		},
		OnDeleted: func(s openstacktest.ServerInfo) { guests.Detach(s.Name) },
	})
	d := o.double.Options()
	p, err := openstack.New(context.Background(), openstack.Config{
		AuthURL: o.double.AuthURL(), Username: d.Username, Password: d.Password, UserDomainName: d.UserDomain,
		ProjectName: d.ProjectName, ProjectDomainName: d.UserDomain, Region: o.double.Region(),
		Network: "private", Image: "cirros-0.6.3-x86_64-disk", HTTPClient: o.double.Client(),
		PollInterval: 20 * time.Millisecond, BuildTimeout: 10 * time.Second, DeleteTimeout: 10 * time.Second,
		Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// loops counts the autoscaler's loops run.
func (c *cluster) loops(t *testing.T) uint64 {
	t.Helper()
	mf, err := c.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range mf {
		if f.GetName() == "cloud_autoscaler_loop_duration_seconds" && len(f.GetMetric()) > 0 {
			return f.GetMetric()[0].GetHistogram().GetSampleCount()
		}
	}
	return 0
}

// nodes returns the Nodes of a pool.
func (c *cluster) nodes(t *testing.T, pool string) []*api.Node {
	t.Helper()
	ns, _, err := client.For[api.Node](c.env.Admin).List(context.Background(), "", client.ListOptions{LabelSelector: api.LabelNodePool + "=" + pool})
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// usedBelow reports whether every node of a pool reports its pods using
// at most frac of its CPU.
func (c *cluster) usedBelow(t *testing.T, pool string, frac float64) bool {
	t.Helper()
	for _, n := range c.nodes(t, pool) {
		if n.Status.Usage == nil {
			return false
		}
		alloc, used := n.Status.Allocatable[api.ResourceCPU], n.Status.Usage.Pods[api.ResourceCPU]
		if float64(used.MilliValue()) > frac*float64(alloc.MilliValue())+1 {
			return false
		}
	}
	return true
}

func isReady(n *api.Node) bool {
	return slices.ContainsFunc(n.Status.Conditions, func(c api.NodeCondition) bool {
		return c.Type == api.NodeReady && c.Status == api.ConditionTrue
	})
}

// TestAutoscalerBurstsToOpenStack: the private pool's provider answering
// no capacity, the autoscaler takes the pool on the real OpenStack
// provider (against the OpenStack TEST DOUBLE) in the same loop; the
// double's server boots a simulated node agent that joins through the API
// server as an openstack node. A full project quota is seen ahead by the
// provider's capacity check. With the private cloud back, the next growth
// goes to the private pool first; once idle, the OpenStack node goes first
// and its server is deleted.
func TestAutoscalerBurstsToOpenStack(t *testing.T) {
	const backoffMax = time.Second
	ostk := &openStackCloud{}
	c := startWith(t, options{public: ostk.newOpenStack, backoffInitial: 500 * time.Millisecond, backoffMax: backoffMax})
	c.createPool(t, "private", "private-sim", 0, 1, 4)
	c.createPool(t, "public", openstack.ProviderName, 10, 0, 3)
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "private") == 1 }, "the private pool's first node")
	defer c.logDecisions(t)

	// Hot: the private pool grows.
	if err := c.private.SetPoolCPUUsage("private", 0.85); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return c.replicas(t, "private") >= 2 }, "the private pool to grow")
	first := c.await(t, "the first growth's decision", func(d *api.ScaleDecision) bool { return d.Spec.Outcome.Type == api.OutcomeScaledUp })
	if first.Spec.Outcome.Pool != "private" {
		t.Fatalf("the first growth: %+v", first)
	}
	if err := c.private.SetPoolCPUUsage("private", 0.6); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "private") == c.replicas(t, "private") }, "the new private nodes to join")
	privateSize := c.replicas(t, "private")

	// The private cloud is full and so is the OpenStack project's quota:
	// the capacity checks refuse both, and nothing is created.
	ostk.double.SetQuota(0, -1, -1)
	c.private.FailCreates(iaas.ErrInsufficientCapacity)
	if err := c.private.SetPoolCPUUsage("private", 0.95); err != nil {
		t.Fatal(err)
	}
	full := c.await(t, "a decision that finds the OpenStack quota full", func(d *api.ScaleDecision) bool {
		return len(d.Spec.Pools) == 2 && d.Spec.Pools[1].Pool == "public" && d.Spec.Pools[1].Reason == api.ReasonQuota
	})
	if full.Spec.Pools[0].Pool != "private" || full.Spec.Pools[0].Reason != api.ReasonInsufficientCapacity ||
		full.Spec.Outcome.Type != api.OutcomeNoAction || full.Spec.Outcome.Reason != api.ReasonQuota ||
		!slices.ContainsFunc(full.Spec.Calls, func(call api.ScaleCall) bool {
			return call.Operation == "CheckCapacity" && call.Pool == "public" && strings.Contains(call.Error, "instances: 0 used of 0")
		}) {
		t.Fatalf("the quota decision: %+v", full.Spec)
	}
	if ss := ostk.double.Servers(); len(ss) != 0 || c.replicas(t, "public") != 0 {
		t.Fatalf("servers %+v and %d public replicas while the quota is full", ss, c.replicas(t, "public"))
	}

	// The quota raised: once the pools' back-offs pass, the private pool
	// is refused again and the OpenStack pool taken in the same decision.
	ostk.double.SetQuota(10, 20, 51200)
	controllerstest.WaitFor(t, func() bool { return c.replicas(t, "public") >= 1 }, "the OpenStack pool to grow")
	burstSeen := time.Now() // after the decision (whose time the API keeps to the second)
	burst := c.await(t, "the burst's decision", func(d *api.ScaleDecision) bool {
		return d.Spec.Outcome.Type == api.OutcomeScaledUp && d.Spec.Outcome.Pool == "public"
	})
	if len(burst.Spec.Pools) != 2 || burst.Spec.Pools[0].Pool != "private" || burst.Spec.Pools[0].Reason != api.ReasonInsufficientCapacity ||
		burst.Spec.Pools[1].Pool != "public" || !burst.Spec.Pools[1].Taken || burst.Spec.Trigger.Pool != "private" {
		t.Fatalf("the burst decision: %+v", burst)
	}
	if got := c.replicas(t, "private"); got != privateSize {
		t.Fatalf("the private pool went from %d to %d replicas while its cloud is full", privateSize, got)
	}
	publicSize := c.replicas(t, "public")
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "public") == publicSize }, "the OpenStack nodes to join")
	servers := map[string]openstacktest.ServerInfo{}
	for _, s := range ostk.double.Servers() {
		servers[s.Name] = s
	}
	for _, n := range c.nodes(t, "public") {
		s, ok := servers[n.Name]
		if !ok || s.Status != "ACTIVE" || s.Metadata[openstack.MetaGroup] != "public" || s.FlavorID != "3" {
			t.Fatalf("node %s: its server in the double %+v (servers %+v)", n.Name, s, servers)
		}
		cpu := n.Status.Capacity[api.ResourceCPU]
		if !isReady(n) || n.Labels[api.LabelProvider] != openstack.ProviderName || n.Labels[sim.LabelSimulated] != "true" ||
			!strings.HasPrefix(n.Spec.ProviderID, "openstack://") || !strings.HasSuffix(n.Spec.ProviderID, "/"+s.ID) ||
			n.Labels[api.LabelHypervisor] != s.HostID || cpu.Value() != 2 {
			t.Fatalf("the OpenStack node %s: labels %v, provider ID %q, capacity %v", n.Name, n.Labels, n.Spec.ProviderID, n.Status.Capacity)
		}
	}
	if len(servers) != int(publicSize) {
		t.Fatalf("%d servers in the double for %d public replicas", len(servers), publicSize)
	}
	t.Logf("burst: %d private refused (%s), %d OpenStack servers: %v", privateSize, burst.Spec.Pools[0].Message, publicSize, slices.Sorted(maps.Keys(servers)))

	// The private cloud is back. The load falls below the threshold (the
	// autoscaler sees it: what was lent to the private pool is returned),
	// then rises again once the private pool's back-off has passed: the
	// private pool grows first.
	c.private.ClearFaults()
	for pool, p := range map[string]*sim.Provider{"private": c.private, "public": ostk.guests} {
		if err := p.SetPoolCPUUsage(pool, 0.6); err != nil {
			t.Fatal(err)
		}
	}
	controllerstest.WaitFor(t, func() bool { return c.usedBelow(t, "private", 0.6) }, "the private nodes to report 60%")
	seen := c.loops(t)
	controllerstest.WaitFor(t, func() bool {
		return c.loops(t) >= seen+3 && time.Since(burstSeen) > backoffMax
	}, "the autoscaler to see the load fall and the private back-off to pass")
	if err := c.private.SetPoolCPUUsage("private", 0.95); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return c.replicas(t, "private") > privateSize }, "the private pool to grow again")
	back := c.await(t, "the decision to grow again", func(d *api.ScaleDecision) bool {
		return d.Spec.Outcome.Type == api.OutcomeScaledUp && d.Name != first.Name && d.Name != burst.Name
	})
	if back.Spec.Outcome.Pool != "private" || len(back.Spec.Pools) == 0 || back.Spec.Pools[0].Pool != "private" ||
		!back.Spec.Pools[0].Taken {
		t.Fatalf("the growth after the private cloud came back: %+v", back)
	}
	if got := c.replicas(t, "public"); got != publicSize {
		t.Fatalf("the OpenStack pool went from %d to %d replicas with the private cloud back", publicSize, got)
	}
	if err := c.private.SetPoolCPUUsage("private", 0.6); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return c.ready(t, "private") == c.replicas(t, "private") }, "the new private node to join")

	// Idle (the OpenStack nodes first, so that they are idle as long as
	// the private ones or longer: the order of nodes idle together is
	// scaledown_test's): the OpenStack nodes go first, and their servers
	// are deleted.
	if err := ostk.guests.SetPoolCPUUsage("public", 0.05); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool { return c.usedBelow(t, "public", 0.05) }, "the OpenStack nodes to report 5%")
	if err := c.private.SetPoolCPUUsage("private", 0.05); err != nil {
		t.Fatal(err)
	}
	controllerstest.WaitFor(t, func() bool {
		return c.replicas(t, "public") == 0 && len(ostk.double.Servers()) == 0 && len(ostk.guests.Nodes()) == 0
	}, "the OpenStack pool to shrink and its servers to be deleted")
	var downs []string
	for _, d := range c.decisions(t) {
		if d.Spec.Outcome.Type == api.OutcomeScaledDown {
			downs = append(downs, d.Spec.Outcome.Pool)
		}
	}
	if len(downs) == 0 || downs[0] != "public" {
		t.Fatalf("scale-downs by pool %v, want the OpenStack one first", downs)
	}
	controllerstest.WaitFor(t, func() bool {
		ms, _, err := client.For[api.Machine](c.env.Admin).List(context.Background(), "", client.ListOptions{LabelSelector: api.LabelNodePool + "=public"})
		return err == nil && len(ms) == 0
	}, "the OpenStack machines deleted")
	// A delete retried by the machine controller (its reconcile retried
	// after a write conflict) asks Nova again, which is harmless: what
	// counts is that every server is gone, checked above.
	if n := ostk.double.Requests("DELETE /compute/v2.1/servers/{id}"); n < int(publicSize) {
		t.Fatalf("%d server deletes for %d servers", n, publicSize)
	} else {
		t.Logf("%d server deletes for %d servers", n, publicSize)
	}
}

// logDecisions logs the scale decisions, oldest first.
func (c *cluster) logDecisions(t *testing.T) {
	t.Helper()
	for _, d := range c.decisions(t) {
		var pools []string
		for _, p := range d.Spec.Pools {
			pools = append(pools, fmt.Sprintf("%s:%s", p.Pool, p.Reason))
		}
		t.Logf("  %s %s %s %.0f%% -> %s %s %+d %s (%s) %v", d.Spec.DecidedTime.Format(time.StampMilli), d.Spec.Trigger.Type, d.Spec.Trigger.Pool,
			d.Spec.Trigger.UtilizationPercent, d.Spec.Outcome.Type, d.Spec.Outcome.Pool, d.Spec.Outcome.Delta, d.Spec.Outcome.Node, d.Spec.Outcome.Reason, pools)
	}
}
