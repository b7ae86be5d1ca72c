package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/iaas/configdrive"
	"github.com/cloudmgr/cloud/test"
)

// poolName is the NodePool TestNodePoolOnLibvirt creates; its machines
// (and their domains) are named poolName-xxxxx.
const poolName = "web"

// startIaaS starts cloudd with the IaaS layer on the project's libvirtd
// (test.StartIaaS) and a connection of the test's own to libvirtd; cloudd
// is killed by its PID when the test ends, after the cleanups registered
// later.
func startIaaS(t *testing.T) (*test.IaaS, *golibvirt.Libvirt) {
	t.Helper()
	if _, err := test.LibvirtSocket(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	x, err := test.StartIaaS(context.Background(), dir, test.IaaSOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = x.Stop(syscall.SIGKILL) })
	l, err := test.DialLibvirt()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Disconnect() })
	return x, l
}

// waitUntil is waitFor for conditions that fail with an error: the last
// error goes into the failure.
func waitUntil(t *testing.T, timeout time.Duration, what string, cond func() (bool, error)) {
	t.Helper()
	waitFor(t, timeout, what, func() (bool, string) {
		ok, err := cond()
		if err != nil {
			return ok, "error: " + err.Error()
		}
		return ok, ""
	})
}

// poolMachines lists the Machines of pool.
func poolMachines(ctx context.Context, c *client.Client, pool string) ([]*api.Machine, error) {
	all, _, err := client.For[api.Machine](c).List(ctx, "", client.ListOptions{})
	if err != nil {
		return nil, err
	}
	var out []*api.Machine
	for _, m := range all {
		if m.Spec.Pool == pool {
			out = append(out, m)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// joinToken reads the single-use join token from a machine's config drive
// in the storage pool.
func joinToken(t *testing.T, x *test.IaaS, machine string) string {
	t.Helper()
	files, err := x.PoolFiles("cloudmgr-" + machine + "-")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if !strings.HasSuffix(f, "-cidata.iso") {
			continue
		}
		iso, err := os.ReadFile(filepath.Join(x.PoolDir, f))
		if err != nil {
			t.Fatal(err)
		}
		drive, err := configdrive.Read(iso)
		if err != nil {
			t.Fatalf("config drive %s: %v", f, err)
		}
		var b api.NodeBootstrap
		if err := json.Unmarshal(drive[api.NodeBootstrapFile], &b); err != nil {
			t.Fatalf("%s on %s: %v", api.NodeBootstrapFile, f, err)
		}
		if b.JoinToken == "" {
			t.Fatalf("%s on %s holds no join token", api.NodeBootstrapFile, f)
		}
		return b.JoinToken
	}
	t.Fatalf("no config drive of machine %s in the pool (files %v)", machine, files)
	return ""
}

// consoleLog reads a machine's console log from the storage pool.
func consoleLog(t *testing.T, x *test.IaaS, machine string) []byte {
	t.Helper()
	files, err := x.PoolFiles("cloudmgr-" + machine + "-")
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range files {
		if strings.HasSuffix(f, "-console.log") {
			b, err := os.ReadFile(filepath.Join(x.PoolDir, f))
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no console log of machine %s in the pool (files %v)", machine, files)
	return nil
}

// TestNodePoolOnLibvirt drives a NodePool on the project's libvirtd with
// the real binaries: `cloudctl nodepool create` makes a QEMU domain whose
// node joins Ready with the pool's and the hypervisor's labels and the
// Machine's provider ID; a pod selected onto the pool runs in the VM's
// containerd and its output comes back through `cloudctl logs`; scaling
// to 0 evicts the pod and leaves no domain, volume, Node or Machine. The
// machine's join token shows in neither cloudd's log nor the console.
func TestNodePoolOnLibvirt(t *testing.T) {
	ctx := context.Background()
	x, l := startIaaS(t)
	c := adminClient(t, x.DataDir)

	// Every machine this test saw: the last-resort cleanup removes their
	// domains and volumes (and nothing else on the shared libvirtd).
	seen := map[string]bool{}
	var token string
	t.Cleanup(func() {
		if out, err := x.Cloudctl(x.Admin, "nodepool", "delete", poolName, "--timeout", "3m"); err != nil && !strings.Contains(out, "NotFound") {
			t.Logf("cleanup: nodepool delete: %v\n%s", err, out)
		}
		if ms, err := poolMachines(ctx, c, poolName); err == nil {
			for _, m := range ms {
				seen[m.Name] = true
			}
		}
		_ = x.Stop(syscall.SIGKILL)
		for name := range seen {
			if names, _ := test.DomainNames(l, name); len(names) > 0 {
				t.Errorf("cleanup: domain %s was left behind; destroying it", name)
				if err := test.RemoveDomain(l, name); err != nil {
					t.Errorf("cleanup: remove domain %s: %v", name, err)
				}
			}
			files, _ := x.PoolFiles("cloudmgr-" + name + "-")
			for _, f := range files {
				t.Errorf("cleanup: pool volume %s was left behind; removing it", f)
				_ = os.Remove(filepath.Join(x.PoolDir, f))
			}
		}
		if t.Failed() {
			log := x.Log.String()
			if token != "" {
				log = strings.ReplaceAll(log, token, "[TOKEN]")
			}
			if len(log) > 20000 {
				log = log[len(log)-20000:]
			}
			t.Logf("cloudd log (tail):\n%s", log)
		}
	})

	var hv *api.Hypervisor
	waitUntil(t, time.Minute, "hypervisor local reachable with a hostname", func() (bool, error) {
		h, err := client.For[api.Hypervisor](c).Get(ctx, "", test.HypervisorName)
		if err != nil {
			return false, err
		}
		hv = h
		return h.Status.Hostname != "", nil
	})

	start := time.Now()
	if out, err := x.Cloudctl(x.Admin, "nodepool", "create", poolName, "--provider", "libvirt", "--hypervisor", test.HypervisorName,
		"--replicas", "1", "--vcpus", "1", "--memory", "512Mi", "--image", "cloudmgr-node"); err != nil {
		t.Fatalf("nodepool create: %v\n%s", err, out)
	}

	var m *api.Machine
	waitUntil(t, 2*time.Minute, "the pool's Machine Running with a provider ID", func() (bool, error) {
		ms, err := poolMachines(ctx, c, poolName)
		if err != nil || len(ms) == 0 {
			return false, err
		}
		for _, mm := range ms {
			seen[mm.Name] = true
		}
		if len(ms) > 1 {
			return false, fmt.Errorf("%d machines for 1 replica", len(ms))
		}
		m = ms[0]
		return m.Status.ProviderID != "" && (m.Status.Phase == api.MachineRunning || m.Status.Phase == api.MachineJoined), nil
	})
	runningAt := time.Now()
	if st, found, err := test.DomainState(l, m.Name); err != nil || !found || st != golibvirt.DomainRunning {
		t.Fatalf("domain %s: state %d, found %v, err %v; want running", m.Name, st, found, err)
	}
	token = joinToken(t, x, m.Name)

	var node *api.Node
	waitUntil(t, 5*time.Minute, "node "+m.Name+" Ready", func() (bool, error) {
		n, err := client.For[api.Node](c).Get(ctx, "", m.Name)
		if err != nil {
			return false, err
		}
		node = n
		return nodeReady(n), nil
	})
	readyAt := time.Now()
	m, err := client.For[api.Machine](c).Get(ctx, "", m.Name)
	if err != nil {
		t.Fatal(err)
	}
	if got := node.Labels[api.LabelHypervisor]; got != hv.Status.Hostname {
		t.Errorf("node label %s = %q, want the hypervisor's hostname %q", api.LabelHypervisor, got, hv.Status.Hostname)
	}
	if got := node.Labels[api.LabelNodePool]; got != poolName {
		t.Errorf("node label %s = %q, want %s", api.LabelNodePool, got, poolName)
	}
	if node.Spec.ProviderID == "" || node.Spec.ProviderID != m.Status.ProviderID {
		t.Errorf("node spec.providerID = %q, want the Machine's %q", node.Spec.ProviderID, m.Status.ProviderID)
	}
	if !strings.HasPrefix(m.Status.ProviderID, "libvirt://"+test.HypervisorName+"/") {
		t.Errorf("machine providerID = %q, want libvirt://%s/UUID", m.Status.ProviderID, test.HypervisorName)
	}

	// A pod selected onto the pool runs in the VM; its output comes back
	// through cloudctl logs.
	const marker = "hello-from-the-pool-3e9a"
	pods := client.For[api.Pod](c)
	grace := int64(1)
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "pool-hello", Namespace: "default"},
		Spec: api.PodSpec{NodeSelector: map[string]string{api.LabelNodePool: poolName}, TerminationGracePeriodSeconds: &grace,
			Containers: []api.Container{{
				Name: "main", Image: hostFromGuest + ":5055/cloudmgr/busybox:test",
				Command:   []string{"sh", "-c", "echo " + marker + "; exec sleep 3600"},
				Resources: api.ResourceRequirements{Limits: api.ResourceList{"cpu": api.MustParseQuantity("200m"), "memory": api.MustParseQuantity("32Mi")}},
			}}},
	}
	if _, err := pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	var got *api.Pod
	waitUntil(t, 4*time.Minute, "pod Running", func() (bool, error) {
		var err error
		got, err = pods.Get(ctx, "default", p.Name)
		return err == nil && got.Status.Phase == api.PodRunning, err
	})
	podAt := time.Now()
	if got.Spec.NodeName != m.Name {
		t.Fatalf("pod ran on %q, want the pool's node %s", got.Spec.NodeName, m.Name)
	}
	var logs string
	waitUntil(t, time.Minute, "the pod's output through cloudctl logs", func() (bool, error) {
		out, err := x.Cloudctl(x.Admin, "logs", p.Name, "-n", "default")
		logs = out
		return err == nil && strings.Contains(out, marker), err
	})
	console := consoleLog(t, x, m.Name)
	t.Logf("nodepool create -> machine Running %s, node Ready %s, pod Running %s",
		runningAt.Sub(start).Round(100*time.Millisecond), readyAt.Sub(start).Round(100*time.Millisecond),
		podAt.Sub(start).Round(100*time.Millisecond))
	t.Logf("guest milestones:\n%s", milestones(console))

	// Scaling to 0 drains the node (the pod is evicted) and deletes the VM.
	scaled := time.Now()
	if out, err := x.Cloudctl(x.Admin, "nodepool", "scale", poolName, "--replicas", "0"); err != nil {
		t.Fatalf("nodepool scale: %v\n%s", err, out)
	}
	waitUntil(t, 3*time.Minute, "pod evicted", func() (bool, error) {
		_, err := pods.Get(ctx, "default", p.Name)
		return client.IsNotFound(err), nil
	})
	evictedAt := time.Now()
	waitUntil(t, 3*time.Minute, "machine, node, domain and volumes gone", func() (bool, error) {
		if ms, err := poolMachines(ctx, c, poolName); err != nil || len(ms) > 0 {
			return false, err
		}
		if _, err := client.For[api.Node](c).Get(ctx, "", m.Name); !client.IsNotFound(err) {
			return false, err
		}
		if _, found, err := test.DomainState(l, m.Name); found || err != nil {
			return false, err
		}
		files, err := x.PoolFiles("cloudmgr-" + m.Name + "-")
		return err == nil && len(files) == 0, err
	})
	t.Logf("nodepool scale 0 -> pod evicted %s, VM and node gone %s",
		evictedAt.Sub(scaled).Round(100*time.Millisecond), time.Since(scaled).Round(100*time.Millisecond))

	// The join token is printed nowhere.
	if bytes.Contains(console, []byte(token)) {
		t.Error("the VM's serial console shows the join token")
	}
	if strings.Contains(x.Log.String(), token) {
		t.Error("cloudd's log shows the join token")
	}
	if strings.Contains(logs, token) {
		t.Error("the pod's logs show the join token")
	}
}
