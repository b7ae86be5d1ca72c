package vm

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/iaas/configdrive"
	"github.com/cloudmgr/cloud/test"
)

// The fault tests run the IaaS layer of a cloudd of their own against the
// project's libvirtd (`make deps`) and break things behind its back: a
// domain destroyed and undefined, a VM that never joins, libvirtd cut off
// in the middle of a create, a join token used twice. Each uses pools
// named fault-* so that it does not meet other tests' machines, and VMs
// of 512 MiB, one at a time.

// iaasEnv is a cloudd with the IaaS layer on, started by a test.
type iaasEnv struct {
	x       *test.IaaS
	cd      *test.Cloudd
	c       *client.Client
	dir     string
	poolDir string // the libvirt storage pool's directory
	uri     string // the project libvirtd's URI

	mu     sync.Mutex
	failed map[string]api.Machine // first Failed state seen of each machine
}

// startIaaSCloudd starts cloudd as test.StartIaaS does, with a 2 s
// hypervisor resync and extra flags, and no hypervisor: the test adds its
// own (addHypervisor).
func startIaaSCloudd(t *testing.T, extra ...string) *iaasEnv {
	t.Helper()
	dir := t.TempDir()
	x, err := test.StartIaaS(context.Background(), dir, test.IaaSOptions{Resync: 2 * time.Second, Flags: extra, NoHypervisor: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Stop(syscall.SIGKILL) })
	e := &iaasEnv{x: x, cd: x.Cloudd, c: x.Client, dir: dir, poolDir: x.PoolDir, uri: x.URI}
	e.watchMachines(t)
	return e
}

// addHypervisor registers the libvirtd at uri as hypervisor name and
// waits for it to be Reachable.
func (e *iaasEnv) addHypervisor(t *testing.T, name, uri string) {
	t.Helper()
	ctx := context.Background()
	hv := &api.Hypervisor{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.HypervisorSpec{URI: uri, Provider: "libvirt"}}
	if _, err := client.For[api.Hypervisor](e.c).Create(ctx, hv); err != nil {
		t.Fatal(err)
	}
	e.waitReachable(t, name, api.ConditionTrue, time.Minute)
}

// waitReachable waits for hypervisor name's Reachable condition to have
// status want and returns the condition.
func (e *iaasEnv) waitReachable(t *testing.T, name string, want api.ConditionStatus, timeout time.Duration) api.Condition {
	t.Helper()
	c, err := e.x.WaitReachable(context.Background(), name, want, timeout)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// createPool creates a one-machine pool of 512 MiB VMs on hypervisor hv
// and deletes it (and waits for its machines to go) when the test ends.
func (e *iaasEnv) createPool(t *testing.T, name, hv string, joinTimeout int32) {
	t.Helper()
	one := int32(1)
	p := &api.NodePool{ObjectMeta: api.ObjectMeta{Name: name}, Spec: api.NodePoolSpec{
		Provider: "libvirt", Image: "cloudmgr-node", VCPUs: 1, Memory: api.MustParseQuantity("512Mi"),
		Replicas: &one, MinSize: 0, MaxSize: 1, Hypervisors: []string{hv}, JoinTimeoutSeconds: joinTimeout,
	}}
	if _, err := client.For[api.NodePool](e.c).Create(context.Background(), p); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.cleanupPool(t, name) })
}

// cleanupPool deletes the pool if it is still there, waits for its
// machines to go, and removes by hand any domain or volume of it left on
// the project's libvirtd, so a failed test does not leave VMs running.
func (e *iaasEnv) cleanupPool(t *testing.T, name string) {
	ctx := context.Background()
	_ = client.For[api.NodePool](e.c).Delete(ctx, "", name, client.DeleteOptions{})
	deadline := time.Now().Add(90 * time.Second)
	for time.Now().Before(deadline) && len(e.machines(t, name)) > 0 {
		time.Sleep(500 * time.Millisecond)
	}
	for _, d := range e.domains(t, name+"-") {
		t.Logf("cleanup: domain %s was left: destroying it", d)
		_, _ = e.virsh("destroy", d)
		_, _ = e.virsh("undefine", d, "--nvram")
	}
	for _, v := range e.volumes(t, "cloudmgr-"+name+"-") {
		t.Logf("cleanup: volume %s was left: deleting it", v)
		_, _ = e.virsh("vol-delete", "--pool", test.LibvirtPool, v)
	}
}

// machines lists the Machines of pool.
func (e *iaasEnv) machines(t *testing.T, pool string) []api.Machine {
	t.Helper()
	l, _, err := client.For[api.Machine](e.c).List(context.Background(), "", client.ListOptions{LabelSelector: api.LabelNodePool + "=" + pool})
	if err != nil {
		t.Logf("list machines: %v", err)
		return nil
	}
	var out []api.Machine
	for _, m := range l {
		if m.Spec.Pool == pool {
			out = append(out, *m)
		}
	}
	return out
}

// virsh runs virsh against the project's libvirtd.
func (e *iaasEnv) virsh(args ...string) (string, error) {
	out, err := exec.Command("virsh", append([]string{"-c", e.uri}, args...)...).CombinedOutput()
	return string(out), err
}

// domains lists the domains whose name starts with prefix.
func (e *iaasEnv) domains(t *testing.T, prefix string) []string {
	t.Helper()
	out, err := e.virsh("list", "--all", "--name")
	if err != nil {
		t.Fatalf("virsh list: %v: %s", err, out)
	}
	var ds []string
	for _, l := range strings.Fields(out) {
		if strings.HasPrefix(l, prefix) {
			ds = append(ds, l)
		}
	}
	return ds
}

// volumes lists the files of the storage pool whose name starts with
// prefix (per-machine volumes are cloudmgr-MACHINE-UUID8-*).
func (e *iaasEnv) volumes(t *testing.T, prefix string) []string {
	t.Helper()
	ents, err := os.ReadDir(e.poolDir)
	if err != nil {
		t.Fatal(err)
	}
	var vs []string
	for _, de := range ents {
		if strings.HasPrefix(de.Name(), prefix) {
			vs = append(vs, de.Name())
		}
	}
	return vs
}

// waitFor polls cond every 200 ms until it holds, failing the test after
// timeout with cond's last word.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	last := ""
	for {
		ok, s := cond()
		if ok {
			return
		}
		if s != "" {
			last = s
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s; last: %s", what, timeout, last)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitJoined waits for a Machine of pool other than those in skip to be
// Joined with a Ready node and returns it.
func (e *iaasEnv) waitJoined(t *testing.T, pool string, timeout time.Duration, skip ...string) api.Machine {
	t.Helper()
	var got api.Machine
	waitFor(t, timeout, "a machine of pool "+pool+" Joined with a Ready node", func() (bool, string) {
		var phases []string
	next:
		for _, m := range e.machines(t, pool) {
			phases = append(phases, m.Name+"="+string(m.Status.Phase)+" "+m.Status.Message)
			for _, s := range skip {
				if m.Name == s {
					continue next
				}
			}
			if m.Status.Phase != api.MachineJoined {
				continue
			}
			n, err := client.For[api.Node](e.c).Get(context.Background(), "", m.Name)
			if err == nil && nodeReady(n) {
				got = m
				return true, ""
			}
		}
		return false, strings.Join(phases, "; ")
	})
	return got
}

// watchMachines records, from a watch on the Machines of this cloudd,
// the first Failed state each machine was seen in: the pool may delete
// a Failed machine soon after, quicker than a poll would see it.
func (e *iaasEnv) watchMachines(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	e.failed = map[string]api.Machine{}
	go func() {
		for ctx.Err() == nil {
			w, err := client.For[api.Machine](e.c).Watch(ctx, "", client.ListOptions{})
			if err != nil {
				time.Sleep(200 * time.Millisecond)
				continue
			}
			for ev := range w.Events() {
				m, ok := ev.Object.(*api.Machine)
				if !ok || m.Status.Phase != api.MachineFailed {
					continue
				}
				e.mu.Lock()
				if _, seen := e.failed[m.Name]; !seen {
					e.failed[m.Name] = *m
				}
				e.mu.Unlock()
			}
			w.Stop()
		}
	}()
}

// waitFailed waits for Machine name to be seen Failed (watchMachines)
// and returns it as it was then.
func (e *iaasEnv) waitFailed(t *testing.T, name string, timeout time.Duration) api.Machine {
	t.Helper()
	var got api.Machine
	waitFor(t, timeout, "machine "+name+" Failed", func() (bool, string) {
		e.mu.Lock()
		m, ok := e.failed[name]
		e.mu.Unlock()
		if ok {
			got = m
			return true, ""
		}
		cur, err := client.For[api.Machine](e.c).Get(context.Background(), "", name)
		if err != nil {
			return false, err.Error()
		}
		return false, fmt.Sprintf("phase %s: %s", cur.Status.Phase, cur.Status.Message)
	})
	return got
}

// condition returns the condition of type typ in conds.
func condition(conds []api.Condition, typ string) (api.Condition, bool) {
	for _, c := range conds {
		if c.Type == typ {
			return c, true
		}
	}
	return api.Condition{}, false
}

// failReason is the reason of the False condition that failed m.
func failReason(m api.Machine) string {
	for _, c := range m.Status.Conditions {
		if c.Status == api.ConditionFalse && c.Type != api.ConditionReachable && c.Reason != "WaitingForNode" {
			return c.Reason
		}
	}
	return ""
}

// checkGone waits up to timeout until no domain and no volume of machine
// is left on the project's libvirtd, and fails the test (going on) with
// what is left otherwise.
func (e *iaasEnv) checkGone(t *testing.T, machine string, timeout time.Duration) {
	t.Helper()
	var left []string
	deadline := time.Now().Add(timeout)
	for {
		left = nil
		for _, d := range e.domains(t, machine) {
			if d == machine {
				left = append(left, "domain "+d)
			}
		}
		for _, v := range e.volumes(t, "cloudmgr-"+machine+"-") {
			left = append(left, "volume "+v)
		}
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Errorf("%s after machine %s failed and was replaced: left on libvirtd: %s", timeout, machine, strings.Join(left, ", "))
}

// TestFaultDomainDisappears: the domain of a joined pool machine is
// destroyed and undefined behind cloudd's back. The Machine turns Failed
// with reason VMDisappeared, the pool replaces it with a new machine whose
// node joins, and the old machine's Node goes away.
func TestFaultDomainDisappears(t *testing.T) {
	start := time.Now()
	e := startIaaSCloudd(t)
	e.addHypervisor(t, "local", e.uri)
	const pool = "fault-gone"
	e.createPool(t, pool, "local", 300)
	old := e.waitJoined(t, pool, 4*time.Minute)
	joinedAt := time.Now()
	t.Logf("machine %s joined %s after the pool was created", old.Name, joinedAt.Sub(start).Round(100*time.Millisecond))

	if out, err := e.virsh("destroy", old.Name); err != nil {
		t.Fatalf("virsh destroy %s: %v: %s", old.Name, err, out)
	}
	if out, err := e.virsh("undefine", old.Name, "--nvram"); err != nil {
		t.Fatalf("virsh undefine %s: %v: %s", old.Name, err, out)
	}
	gone := time.Now()

	failed := e.waitFailed(t, old.Name, 2*time.Minute)
	failedAt := time.Now()
	if r := failReason(failed); r != "VMDisappeared" {
		t.Errorf("machine %s failed with reason %q (%s), want VMDisappeared", old.Name, r, failed.Status.Message)
	}
	if failed.Status.Message == "" {
		t.Error("the Failed machine carries no message")
	}
	t.Logf("Failed: %s", failed.Status.Message)

	repl := e.waitJoined(t, pool, 4*time.Minute, old.Name)
	replacedAt := time.Now()
	waitFor(t, time.Minute, "the old machine and its Node gone", func() (bool, string) {
		_, merr := client.For[api.Machine](e.c).Get(context.Background(), "", old.Name)
		_, nerr := client.For[api.Node](e.c).Get(context.Background(), "", old.Name)
		return client.IsNotFound(merr) && client.IsNotFound(nerr), fmt.Sprintf("machine: %v, node: %v", merr, nerr)
	})
	if repl.Status.ProviderID == old.Status.ProviderID {
		t.Errorf("replacement %s has the old provider ID %s", repl.Name, repl.Status.ProviderID)
	}
	// The disappeared domain took its definition with it; its config drive
	// and console log volumes are the system's to remove.
	e.checkGone(t, old.Name, 30*time.Second)
	t.Logf("domain gone -> machine Failed %s, -> replacement %s joined %s; test took %s",
		failedAt.Sub(gone).Round(100*time.Millisecond), repl.Name, replacedAt.Sub(gone).Round(100*time.Millisecond),
		time.Since(start).Round(100*time.Millisecond))
}

// TestFaultNeverJoins: the VMs of a pool are told an API server URL that
// answers nothing (https://10.0.2.2:1), so their nodes never join. After
// the pool's join timeout (40 s) the Machine turns Failed with reason
// JoinTimeout and its domain and volumes are deleted; the pool creates a
// replacement. Deleting the pool then leaves no machine, domain or volume.
func TestFaultNeverJoins(t *testing.T) {
	start := time.Now()
	e := startIaaSCloudd(t, "--vm-server-url", "https://10.0.2.2:1")
	e.addHypervisor(t, "local", e.uri)
	const pool = "fault-nojoin"
	e.createPool(t, pool, "local", 40)

	var first api.Machine
	waitFor(t, 2*time.Minute, "the pool's first machine Running", func() (bool, string) {
		ms := e.machines(t, pool)
		if len(ms) == 1 && ms[0].Status.Phase == api.MachineRunning {
			first = ms[0]
			return true, ""
		}
		return false, fmt.Sprintf("%d machines", len(ms))
	})
	if len(e.domains(t, first.Name)) == 0 {
		t.Fatalf("machine %s is Running but libvirt has no domain of it", first.Name)
	}
	running := time.Now()
	failed := e.waitFailed(t, first.Name, 3*time.Minute)
	failedAt := time.Now()
	if r := failReason(failed); r != "JoinTimeout" {
		t.Errorf("machine %s failed with reason %q (%s), want JoinTimeout", first.Name, r, failed.Status.Message)
	}
	t.Logf("Failed after %s Running: %s", failedAt.Sub(running).Round(100*time.Millisecond), failed.Status.Message)
	// The VM was deleted before the machine was marked Failed.
	for _, d := range e.domains(t, first.Name) {
		if d == first.Name {
			t.Errorf("domain %s still defined after JoinTimeout", d)
		}
	}
	if vs := e.volumes(t, "cloudmgr-"+first.Name+"-"); len(vs) > 0 {
		t.Errorf("volumes %v of machine %s left after JoinTimeout", vs, first.Name)
	}

	var repl api.Machine
	waitFor(t, 2*time.Minute, "a replacement machine provisioned", func() (bool, string) {
		for _, m := range e.machines(t, pool) {
			if m.Name != first.Name && (m.Status.Phase == api.MachineRunning || m.Status.Phase == api.MachineProvisioning) {
				repl = m
				return true, ""
			}
		}
		return false, ""
	})
	t.Logf("replacement %s %s %s after the failure", repl.Name, repl.Status.Phase, time.Since(failedAt).Round(100*time.Millisecond))

	if err := client.For[api.NodePool](e.c).Delete(context.Background(), "", pool, client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "pool "+pool+" and its machines gone", func() (bool, string) {
		_, err := client.For[api.NodePool](e.c).Get(context.Background(), "", pool)
		ms := e.machines(t, pool)
		return client.IsNotFound(err) && len(ms) == 0, fmt.Sprintf("pool: %v, %d machines", err, len(ms))
	})
	if ds := e.domains(t, pool+"-"); len(ds) > 0 {
		t.Errorf("domains %v left after the pool was deleted", ds)
	}
	if vs := e.volumes(t, "cloudmgr-"+pool+"-"); len(vs) > 0 {
		t.Errorf("volumes %v left after the pool was deleted", vs)
	}
	t.Logf("test took %s", time.Since(start).Round(100*time.Millisecond))
}

// TestFaultTokenReuse: the join token on the config drive of a joined
// pool machine, read back from its volume, is refused a second time
// (401), and it shows neither in cloudd's log nor on the VM's console.
// That an expired machine token is refused is TestMachineBoundJoin's
// (apiserver) "expired" case.
func TestFaultTokenReuse(t *testing.T) {
	start := time.Now()
	e := startIaaSCloudd(t)
	e.addHypervisor(t, "local", e.uri)
	const pool = "fault-token"
	e.createPool(t, pool, "local", 300)
	m := e.waitJoined(t, pool, 4*time.Minute)

	var iso, console []byte
	for _, v := range e.volumes(t, "cloudmgr-"+m.Name+"-") {
		b, err := os.ReadFile(filepath.Join(e.poolDir, v))
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasSuffix(v, "-cidata.iso"):
			iso = b
		case strings.HasSuffix(v, "-console.log"):
			console = b
		}
	}
	if iso == nil {
		t.Fatalf("no config drive volume of machine %s in %s", m.Name, e.poolDir)
	}
	files, err := configdrive.Read(iso)
	if err != nil {
		t.Fatal(err)
	}
	var boot api.NodeBootstrap
	if err := json.Unmarshal(files[api.NodeBootstrapFile], &boot); err != nil {
		t.Fatalf("%s on the config drive: %v", api.NodeBootstrapFile, err)
	}
	if boot.JoinToken == "" || boot.NodeName != m.Name {
		t.Fatalf("bootstrap names node %q with a token of %d bytes, want node %s and a token", boot.NodeName, len(boot.JoinToken), m.Name)
	}
	ca, err := os.ReadFile(filepath.Join(e.dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	jc, err := client.New(client.Config{Server: "https://" + e.cd.Addr, CAData: ca, Token: boot.JoinToken}, api.NewScheme())
	if err != nil {
		t.Fatal(err)
	}
	_, err = jc.Join(context.Background(), m.Name)
	if code := client.Code(err); code != http.StatusUnauthorized && code != http.StatusForbidden {
		t.Errorf("second join with the machine's token: %v (code %d), want 401 or 403", err, code)
	}
	t.Logf("second join refused: code %d", client.Code(err))
	if strings.Contains(e.cd.Log.String(), boot.JoinToken) {
		t.Error("cloudd's log shows the join token")
	}
	if len(console) > 0 && strings.Contains(string(console), boot.JoinToken) {
		t.Error("the VM's console log shows the join token")
	}
	t.Logf("test took %s", time.Since(start).Round(100*time.Millisecond))
}
