package openstack_test

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/providers/openstack"
	"github.com/cloudmgr/cloud/providers/openstack/openstacktest"
)

const servers = "/compute/v2.1/servers"

func TestCreateGetListDelete(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	ctx := context.Background()
	m := e.create(t, spec("web-abcde", "web"))
	srv := e.serverOf(t, m.ID)
	if !strings.HasPrefix(m.ID, "openstack://RegionOne/") || m.Name != "web-abcde" || m.Provider != "openstack" ||
		m.State != iaas.StateRunning || m.CPUs != 1 || m.MemoryMiB != 2048 || m.Created.IsZero() {
		t.Fatalf("machine %+v", m)
	}
	if !regexp.MustCompile(`^[0-9a-f]{56}$`).MatchString(m.Host) || m.Host != srv.HostID {
		t.Fatalf("host %q, want the server's hostId %q", m.Host, srv.HostID)
	}
	if len(m.Addresses) != 1 || !strings.HasPrefix(m.Addresses[0], "10.0.0.") {
		t.Fatalf("addresses %v", m.Addresses)
	}
	if m.Labels["tier"] != "web" || m.Labels["iaas.cloudmgr.dev/machine"] != "web-abcde" || len(m.Labels) != 2 {
		t.Fatalf("labels %v", m.Labels)
	}
	if srv.Metadata[openstack.MetaManaged] != "true" || srv.Metadata[openstack.MetaName] != "web-abcde" ||
		srv.Metadata[openstack.MetaGroup] != "web" || !srv.ConfigDrive || srv.FlavorID != "2" ||
		srv.ImageID != e.cloud.ImageID("cirros-0.6.3-x86_64-disk") || !slices.Equal(srv.Networks, []string{"private"}) {
		t.Fatalf("server %+v", srv)
	}
	got, err := e.p.Get(ctx, m.ID)
	if err != nil || got.ID != m.ID || got.Host != m.Host || got.State != iaas.StateRunning || got.CPUs != 1 {
		t.Fatalf("get: %+v, %v", got, err)
	}
	list, err := e.p.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != m.ID || list[0].Host != m.Host {
		t.Fatalf("list: %+v, %v", list, err)
	}
	if _, err := e.p.Create(ctx, spec("web-abcde", "web")); err == nil || !strings.Contains(err.Error(), "exists already") {
		t.Fatalf("second create of a name: %v", err)
	}

	if err := e.p.Delete(ctx, m.ID); err != nil {
		t.Fatal(err)
	}
	// Delete waits until the server is gone.
	e.wantNoServers(t)
	if _, err := e.p.Get(ctx, m.ID); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("get after delete: %v", err)
	}
	if err := e.p.Delete(ctx, m.ID); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("second delete: %v", err)
	}
	if list, err := e.p.List(ctx); err != nil || len(list) != 0 {
		t.Fatalf("list after delete: %v, %v", list, err)
	}
	for _, id := range []string{"openstack://OtherRegion/" + srv.ID, "libvirt://hv/x", "openstack://RegionOne/0c0c0c0c-0000-0000-0000-000000000000"} {
		if _, err := e.p.Get(ctx, id); !errors.Is(err, iaas.ErrNotFound) {
			t.Errorf("get %s: %v, want not found", id, err)
		}
	}
}

// cloudConfig is the part of a #cloud-config document the provider writes.
var writeFile = regexp.MustCompile(`- path: "([^"]+)"\n  encoding: b64\n  permissions: '0600'\n  owner: root:root\n  content: (\S+)\n`)

func TestUserDataCarriesTheBootstrapFiles(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	s := spec("node-1", "")
	s.ConfigDrive["ca.crt"] = []byte("-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n")
	m := e.create(t, s)
	ud := string(e.serverOf(t, m.ID).UserData)
	if !strings.HasPrefix(ud, "#cloud-config\nwrite_files:\n") {
		t.Fatalf("user data is not a cloud-config document:\n%s", ud)
	}
	files := map[string][]byte{}
	for _, f := range writeFile.FindAllStringSubmatch(ud, -1) {
		b, err := base64.StdEncoding.DecodeString(f[2])
		if err != nil {
			t.Fatal(err)
		}
		files[f[1]] = b
	}
	if len(files) != 2 || string(files["/var/lib/cloudmgr/bootstrap.json"]) != string(s.ConfigDrive["bootstrap.json"]) ||
		string(files["/var/lib/cloudmgr/ca.crt"]) != string(s.ConfigDrive["ca.crt"]) {
		t.Fatalf("files in the user data: %q\n%s", files, ud)
	}
	if strings.Contains(ud, secret) || strings.Contains(fmt.Sprint(s), secret) {
		t.Fatal("the join token is in clear in the user data or the spec's String")
	}
	// A tenant VM's own user data goes as it is.
	tenant := iaas.MachineSpec{Name: "tenant-1", Flavor: "m1.tiny", ConfigDrive: map[string][]byte{
		"user-data": []byte("#!/bin/sh\necho hello\n"), "meta-data": []byte("instance-id: x\n")}}
	tm := e.create(t, tenant)
	if got := string(e.serverOf(t, tm.ID).UserData); got != "#!/bin/sh\necho hello\n" {
		t.Fatalf("tenant user data %q", got)
	}
	if _, err := openstack.UserData(map[string][]byte{"../etc/passwd": nil}); err == nil {
		t.Fatal("a file name with a slash was accepted")
	}
	if _, err := openstack.UserData(map[string][]byte{"big": make([]byte, 60000)}); err == nil {
		t.Fatal("user data over Nova's limit was accepted")
	}
}

func TestServerGroupPerGroup(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	hosts := map[string]bool{}
	for i := range 3 {
		m := e.create(t, spec(fmt.Sprintf("web-%d", i), "web"))
		hosts[m.Host] = true
	}
	e.create(t, spec("db-0", "db"))
	groups := e.cloud.ServerGroups()
	if len(groups) != 2 || e.cloud.Requests("POST /compute/v2.1/os-server-groups") != 2 {
		t.Fatalf("server groups %+v", groups)
	}
	for _, g := range groups {
		if g.Policy != "soft-anti-affinity" || (g.Name == "cloudmgr-web") != (len(g.Members) == 3) {
			t.Fatalf("server group %+v", g)
		}
	}
	if len(hosts) != 3 {
		t.Fatalf("the group's 3 machines are on %d hosts, want 3 (soft-anti-affinity)", len(hosts))
	}
	// A provider that starts again finds the group by name.
	p2 := e.newProvider(t)
	if _, err := p2.Create(context.Background(), spec("web-3", "web")); err != nil {
		t.Fatal(err)
	}
	if n := e.cloud.Requests("POST /compute/v2.1/os-server-groups"); n != 2 {
		t.Fatalf("%d server groups created, want 2", n)
	}
	// A fourth machine shares a host: the policy is soft.
	for _, g := range e.cloud.ServerGroups() {
		if g.Name == "cloudmgr-web" && len(g.Members) != 4 {
			t.Fatalf("web group %+v", g)
		}
	}
}

func TestPruneServerGroups(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	ctx := context.Background()
	a := e.create(t, spec("a-0", "a"))
	e.create(t, spec("b-0", "b"))
	if err := e.p.Delete(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	pruned, err := e.p.PruneServerGroups(ctx)
	if err != nil || !slices.Equal(pruned, []string{"cloudmgr-a"}) {
		t.Fatalf("pruned %v, %v", pruned, err)
	}
	if g := e.cloud.ServerGroups(); len(g) != 1 || g[0].Name != "cloudmgr-b" {
		t.Fatalf("server groups %+v", g)
	}
	// The group is made again when a machine needs it.
	e.create(t, spec("a-1", "a"))
	if g := e.cloud.ServerGroups(); len(g) != 2 {
		t.Fatalf("server groups %+v", g)
	}
}

func TestHardAntiAffinityRunsOutOfHosts(t *testing.T) {
	e := start(t, openstacktest.Options{Hosts: []string{"c1", "c2"}}, func(c *openstack.Config) { c.ServerGroupPolicy = "anti-affinity" })
	e.create(t, spec("web-0", "web"))
	e.create(t, spec("web-1", "web"))
	_, err := e.p.Create(context.Background(), spec("web-2", "web"))
	if !errors.Is(err, iaas.ErrInsufficientCapacity) || !strings.Contains(err.Error(), "No valid host was found") {
		t.Fatalf("third machine on two hosts: %v", err)
	}
	if n := len(e.cloud.Servers()); n != 2 {
		t.Fatalf("%d servers, want the 2 that fit", n)
	}
	if g := e.cloud.ServerGroups(); len(g) != 1 || g[0].Policy != "anti-affinity" {
		t.Fatalf("server groups %+v", g)
	}
}

func TestFlavorByNameIDOrSize(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	cases := []struct {
		name, flavor string
		cpus         int32
		mem          int64
		want         string // flavor ID, or "" for an error
		err          error
	}{
		{"by-name", "m1.medium", 0, 0, "3", nil},
		{"by-id", "4", 0, 0, "4", nil},
		{"by-size", "", 2, 3000, "3", nil},
		{"smallest", "", 1, 300, "1", nil},
		{"memory-only", "", 0, 256, "c1", nil},
		{"too-big", "", 16, 1024, "", iaas.ErrInsufficientCapacity},
		{"unknown", "m9.huge", 0, 0, "", nil},
		{"nothing", "", 0, 0, "", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := iaas.MachineSpec{Name: tc.name, Flavor: tc.flavor, CPUs: tc.cpus, MemoryMiB: tc.mem}
			m, err := e.p.Create(context.Background(), s)
			if tc.want == "" {
				if err == nil || (tc.err != nil && !errors.Is(err, tc.err)) {
					t.Fatalf("create: %v, want an error (%v)", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := e.serverOf(t, m.ID).FlavorID; got != tc.want {
				t.Fatalf("flavor %s, want %s", got, tc.want)
			}
		})
	}
	fs, err := e.p.Flavors(context.Background())
	if err != nil || len(fs) != 6 || !slices.Contains(fs, iaas.Flavor{Name: "m1.large", CPUs: 4, MemoryMiB: 8192}) {
		t.Fatalf("flavors %v, %v", fs, err)
	}
}

func TestImageAndNetworkByNameOrID(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	ubuntu := e.cloud.ImageID("ubuntu-24.04")
	public := e.cloud.NetworkID("public")
	for _, tc := range []struct{ image, network, wantImage, wantNet string }{
		{"ubuntu-24.04", "network:public", ubuntu, "public"},
		{ubuntu, public, ubuntu, "public"},
		{"", "", e.cloud.ImageID("cirros-0.6.3-x86_64-disk"), "private"},
	} {
		s := iaas.MachineSpec{Name: fmt.Sprintf("m-%d", len(e.cloud.Servers())), Flavor: "m1.tiny", Image: tc.image, Network: tc.network}
		srv := e.serverOf(t, e.create(t, s).ID)
		if srv.ImageID != tc.wantImage || !slices.Equal(srv.Networks, []string{tc.wantNet}) {
			t.Fatalf("%+v: server image %s networks %v", tc, srv.ImageID, srv.Networks)
		}
	}
	for _, s := range []iaas.MachineSpec{
		{Name: "no-image", Flavor: "m1.tiny", Image: "windows-95"},
		{Name: "no-net", Flavor: "m1.tiny", Network: "network:nowhere"},
		{Name: "bridge", Flavor: "m1.tiny", Network: "bridge:br0"},
	} {
		if _, err := e.p.Create(context.Background(), s); err == nil {
			t.Errorf("%s: created", s.Name)
		}
	}
}

func TestQuota(t *testing.T) {
	e := start(t, openstacktest.Options{MaxInstances: 1}, nil)
	ctx := context.Background()
	e.create(t, spec("first", ""))
	// The limits show no room: no create is sent.
	posts := e.cloud.Requests("POST " + servers)
	_, err := e.p.Create(ctx, spec("second", ""))
	if !errors.Is(err, iaas.ErrQuota) || e.cloud.Requests("POST "+servers) != posts {
		t.Fatalf("create over the instance limit: %v (%d creates sent)", err, e.cloud.Requests("POST "+servers)-posts)
	}
	e.cloud.SetQuota(10, 2, -1)
	if _, err := e.p.Create(ctx, iaas.MachineSpec{Name: "cores", Flavor: "m1.medium"}); !errors.Is(err, iaas.ErrQuota) {
		t.Fatalf("create over the core limit: %v", err)
	}
	// Nova refuses the create itself (403 with its quota message).
	e.cloud.SetQuota(-1, -1, -1)
	e.cloud.InjectQuota(1)
	_, err = e.p.Create(ctx, spec("refused", ""))
	if !errors.Is(err, iaas.ErrQuota) || !strings.Contains(err.Error(), "Quota exceeded for instances") {
		t.Fatalf("create refused by Nova: %v", err)
	}
	if n := len(e.cloud.Servers()); n != 1 {
		t.Fatalf("%d servers, want 1", n)
	}
}

// TestCheckCapacity: the project's limits answer whether n more servers
// of a flavor could be made, without making any (iaas.CapacityChecker,
// asked by the node autoscaler).
func TestCheckCapacity(t *testing.T) {
	e := start(t, openstacktest.Options{MaxInstances: 3, MaxCores: 4}, nil)
	ctx := context.Background()
	var cc iaas.CapacityChecker = e.p
	e.create(t, spec("first", ""))
	posts := e.cloud.Requests("POST " + servers)
	tiny := iaas.MachineSpec{Flavor: "m1.tiny"}
	if err := cc.CheckCapacity(ctx, tiny, 2); err != nil {
		t.Fatalf("2 more under a limit of 3 instances: %v", err)
	}
	if err := cc.CheckCapacity(ctx, tiny, 3); !errors.Is(err, iaas.ErrQuota) || !strings.Contains(err.Error(), "instances") {
		t.Fatalf("3 more: %v, want ErrQuota on instances", err)
	}
	if err := cc.CheckCapacity(ctx, iaas.MachineSpec{Flavor: "m1.medium"}, 2); !errors.Is(err, iaas.ErrQuota) || !strings.Contains(err.Error(), "cores") {
		t.Fatalf("2 of 2 cores more: %v, want ErrQuota on cores", err)
	}
	if n := e.cloud.Requests("POST " + servers); n != posts {
		t.Fatalf("asking made %d creates", n-posts)
	}
}

func TestNoValidHostIsInsufficientCapacityAndCleanedUp(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	e.cloud.InjectNoValidHost(1)
	_, err := e.p.Create(context.Background(), spec("unlucky", "web"))
	if !errors.Is(err, iaas.ErrInsufficientCapacity) || !strings.Contains(err.Error(), "No valid host was found") {
		t.Fatalf("create: %v", err)
	}
	e.wantNoServers(t)
	if n := e.cloud.Requests("DELETE " + servers + "/{id}"); n != 1 {
		t.Fatalf("%d deletes, want 1", n)
	}
	// The next one works, in the same server group.
	e.create(t, spec("lucky", "web"))
	if g := e.cloud.ServerGroups(); len(g) != 1 || len(g[0].Members) != 1 {
		t.Fatalf("server groups %+v", g)
	}
}

func TestTokenExpiryReauthenticates(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	ctx := context.Background()
	if n := e.cloud.TokensIssued(); n != 1 {
		t.Fatalf("%d tokens, want 1", n)
	}
	e.cloud.ExpireTokens()
	if _, err := e.p.List(ctx); err != nil {
		t.Fatalf("list with an expired token: %v", err)
	}
	if e.cloud.TokensIssued() != 2 || e.cloud.Unauthorized() != 1 {
		t.Fatalf("tokens %d, 401s %d: want 2 and 1", e.cloud.TokensIssued(), e.cloud.Unauthorized())
	}
	// The token expires in the middle of a create.
	e.cloud.SetBuildDelay(200 * time.Millisecond)
	go func() { time.Sleep(60 * time.Millisecond); e.cloud.ExpireTokens() }()
	e.create(t, spec("during", ""))
	if e.cloud.TokensIssued() != 3 {
		t.Fatalf("tokens %d, want 3", e.cloud.TokensIssued())
	}
}

func TestSlowBuildAndBuildTimeout(t *testing.T) {
	e := start(t, openstacktest.Options{BuildDelay: 300 * time.Millisecond}, func(c *openstack.Config) { c.BuildTimeout = 3 * time.Second })
	gets := e.cloud.Requests("GET " + servers + "/{id}")
	m := e.create(t, spec("slow", ""))
	polls := e.cloud.Requests("GET "+servers+"/{id}") - gets
	if m.State != iaas.StateRunning || polls < 2 {
		t.Fatalf("state %s after %d polls", m.State, polls)
	}
	// With a poll interval of 10ms doubling to 80ms, 300ms takes about 7.
	t.Logf("a build of 300ms took %d polls", polls)

	e.cloud.SetBuildDelay(time.Hour)
	p := e.newProviderWith(t, func(c *openstack.Config) { c.BuildTimeout = 200 * time.Millisecond })
	_, err := p.Create(context.Background(), spec("stuck", ""))
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "still BUILD") {
		t.Fatalf("create of a server that stays in BUILD: %v", err)
	}
	if n := len(e.cloud.Servers()); n != 1 {
		t.Fatalf("%d servers, want only the first", n)
	}
}

func (e *env) newProviderWith(t *testing.T, tune func(*openstack.Config)) *openstack.Provider {
	t.Helper()
	cfg := e.cfg
	tune(&cfg)
	p, err := openstack.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestListIgnoresServersNotOurs(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	ctx := context.Background()
	foreign := e.cloud.AddServer("web-abcde", nil)
	e.cloud.AddServer("other", map[string]string{openstack.MetaManaged: "false", openstack.MetaName: "other"})
	m := e.create(t, spec("web-abcde", ""))
	list, err := e.p.List(ctx)
	if err != nil || len(list) != 1 || list[0].ID != m.ID {
		t.Fatalf("list %+v, %v", list, err)
	}
	if _, err := e.p.Get(ctx, e.p.ID(foreign)); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("get of a server not ours: %v", err)
	}
	if err := e.p.Delete(ctx, e.p.ID(foreign)); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("delete of a server not ours: %v", err)
	}
	if _, ok := e.cloud.Server(foreign); !ok {
		t.Fatal("a server not ours was deleted")
	}
}

func TestPowerAndConsole(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	ctx := context.Background()
	m := e.create(t, spec("tenant", ""))
	state := func(want iaas.MachineState) {
		t.Helper()
		if got, err := e.p.Get(ctx, m.ID); err != nil || got.State != want {
			t.Fatalf("state %s, %v; want %s", got.State, err, want)
		}
	}
	for _, step := range []struct {
		name string
		do   func(context.Context, string) error
		want iaas.MachineState
	}{
		{"stop", e.p.Stop, iaas.StateStopped}, {"stop again", e.p.Stop, iaas.StateStopped},
		{"start", e.p.Start, iaas.StateRunning}, {"start again", e.p.Start, iaas.StateRunning},
		{"reboot", e.p.Reboot, iaas.StateRunning},
	} {
		if err := step.do(ctx, m.ID); err != nil {
			t.Fatalf("%s: %v", step.name, err)
		}
		state(step.want)
	}
	e.cloud.AppendConsole(e.serverOf(t, m.ID).ID, "hello from the console")
	all, err := e.p.ConsoleLog(ctx, m.ID, 0)
	if err != nil || !strings.Contains(string(all), "tenant login:") || !strings.HasSuffix(string(all), "hello from the console\n") {
		t.Fatalf("console %q, %v", all, err)
	}
	tail, err := e.p.ConsoleLog(ctx, m.ID, 10)
	if err != nil || string(tail) != "e console\n" {
		t.Fatalf("console tail %q, %v", tail, err)
	}
	if err := e.p.Stop(ctx, "openstack://RegionOne/0c0c0c0c-0000-0000-0000-000000000000"); !errors.Is(err, iaas.ErrNotFound) {
		t.Fatalf("stop of no server: %v", err)
	}
	if !iaas.PlacesItself(e.p) {
		t.Fatal("the provider does not place machines itself")
	}
}

func TestUnreachable(t *testing.T) {
	e := start(t, openstacktest.Options{}, nil)
	ctx := context.Background()
	m := e.create(t, spec("far", ""))
	e.cloud.InjectFault(1, 503)
	if _, err := e.p.Get(ctx, m.ID); !errors.Is(err, iaas.ErrUnreachable) {
		t.Fatalf("get on a 503: %v", err)
	}
	e.cloud.InjectFault(1, 500)
	if _, err := e.p.Create(ctx, spec("five-hundred", "")); !errors.Is(err, iaas.ErrUnreachable) {
		t.Fatalf("create on a 500: %v", err)
	}
	e.cloud.Close()
	if _, err := e.p.List(ctx); !errors.Is(err, iaas.ErrUnreachable) {
		t.Fatalf("list of a cloud gone: %v", err)
	}
	if _, err := e.p.Create(ctx, spec("nowhere", "")); !errors.Is(err, iaas.ErrUnreachable) {
		t.Fatalf("create in a cloud gone: %v", err)
	}
}

func TestConfigRedactsSecrets(t *testing.T) {
	cfg := openstack.Config{Username: "demo", Password: "pw-8d7f6a", ApplicationCredentialID: "ac",
		ApplicationCredentialSecret: "acs-1b2c3d"}
	var b logBuffer
	slog.New(slog.NewJSONHandler(&b, nil)).Info("config", "cfg", cfg)
	for _, out := range []string{fmt.Sprint(cfg), fmt.Sprintf("%+v", cfg), fmt.Sprintf("%#v", cfg), b.String()} {
		if strings.Contains(out, "pw-8d7f6a") || strings.Contains(out, "acs-1b2c3d") || !strings.Contains(out, "REDACTED") {
			t.Fatalf("config printed as %s", out)
		}
	}
}
