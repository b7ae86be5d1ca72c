// Package vm boots the node VM image (deploy/nodeimage) in bare QEMU and
// checks the guest side of node bootstrap end to end: the config drive's
// bootstrap.json, the guest's init, containerd and cloudlet joining a
// cloudd on the host and running a pod.
package vm

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/kdomanski/iso9660"

	"github.com/cloudmgr/cloud/iaas/configdrive"
	"github.com/cloudmgr/cloud/providers/openstack"
	"github.com/cloudmgr/cloud/test"
)

// hostFromGuest is the host's 127.0.0.1 as a guest on QEMU's user-mode
// network reaches it.
const hostFromGuest = "10.0.2.2"

// registry is the project registry `make deps` runs on the host.
const registry = "127.0.0.1:5055"

// TestNodeVMJoinsAndRunsPod: a VM booted from the node image with a config
// drive holding a NodeBootstrap joins cloudd, turns Ready, runs a busybox
// pod pulled from the host's registry, and the pod's logs come back
// through the API; the ACPI power button powers it off. The join token
// never reaches the serial console.
//
// The drive is NoCloud's (cidata, bootstrap.json at its root, as the
// libvirt provider makes it), and then OpenStack's (config-2, the
// bootstrap in openstack/latest/user_data as the #cloud-config that
// providers/openstack writes): the same image joins from either.
func TestNodeVMJoinsAndRunsPod(t *testing.T) {
	for _, drive := range []string{"cidata", "config-2"} {
		t.Run(drive, func(t *testing.T) { nodeVMJoinsAndRunsPod(t, drive) })
	}
}

func nodeVMJoinsAndRunsPod(t *testing.T, drive string) {
	qemu, err := exec.LookPath("qemu-system-x86_64")
	if err != nil {
		t.Fatal("qemu-system-x86_64 not found: run make setup (installs qemu-system-x86)")
	}
	if c, err := net.DialTimeout("tcp", registry, time.Second); err != nil {
		t.Fatalf("the project registry %s is not up (%v): run make deps", registry, err)
	} else {
		c.Close()
	}
	img, err := test.NodeImage()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := test.Binaries("cloudd")
	if err != nil {
		t.Fatal(err)
	}
	port, err := test.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cd, err := test.StartCloudd(bin, dir, fmt.Sprintf("127.0.0.1:%d", port), "--tls-san", hostFromGuest)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cd.Stop(syscall.SIGKILL) })
	ctx := context.Background()
	if err := cd.WaitReady(ctx, time.Minute); err != nil {
		t.Fatal(err)
	}
	c := adminClient(t, dir)

	const node = "vm-node-1"
	tok, err := c.CreateJoinToken(ctx, 10*time.Minute, node)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(dir, "pki", "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	hv, _ := os.Hostname()
	boot := api.NodeBootstrap{
		Server: fmt.Sprintf("https://%s:%d", hostFromGuest, port), CA: string(ca), JoinToken: tok.Token, NodeName: node,
		Labels: map[string]string{"cloudmgr.io/test": "vm"}, Hypervisor: strings.ToLower(hv),
		InsecureRegistries: []string{hostFromGuest + ":5055"},
	}
	bj, err := json.Marshal(boot)
	if err != nil {
		t.Fatal(err)
	}
	iso, err := configdrive.Build(map[string][]byte{api.NodeBootstrapFile: bj})
	if drive == "config-2" {
		iso, err = novaConfigDrive(t, node, map[string][]byte{api.NodeBootstrapFile: bj})
	}
	if err != nil {
		t.Fatal(err)
	}
	vmDir := t.TempDir()
	isoPath, console := filepath.Join(vmDir, "cidata.iso"), filepath.Join(vmDir, "console.log")
	if err := os.WriteFile(isoPath, iso, 0o600); err != nil {
		t.Fatal(err)
	}

	start := time.Now()
	vm := startQEMU(t, qemu, img, isoPath, console)
	consoleTail := func() string {
		b, _ := os.ReadFile(console)
		if len(b) > 8000 {
			b = b[len(b)-8000:]
		}
		return strings.ReplaceAll(string(b), tok.Token, "[TOKEN]")
	}

	// The node joins and turns Ready.
	var n *api.Node
	deadline := time.Now().Add(4 * time.Minute)
	for n == nil {
		if err, done := vm.exited(); done {
			t.Fatalf("QEMU exited (%v) before the node was Ready; console:\n%s", err, consoleTail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("node %s not Ready within 4m; console:\n%s", node, consoleTail())
		}
		got, err := client.For[api.Node](c).Get(ctx, "", node)
		if err == nil && nodeReady(got) {
			n = got
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	readyAt := time.Now()
	if n.Labels["cloudmgr.io/test"] != "vm" || n.Labels[api.LabelHypervisor] != strings.ToLower(hv) {
		t.Errorf("node labels = %v, want cloudmgr.io/test=vm and %s=%s from the bootstrap", n.Labels, api.LabelHypervisor, strings.ToLower(hv))
	}

	// A pod pulled from the host's registry runs on it; its log comes back.
	const marker = "hello-from-the-vm-7c1f"
	pods := client.For[api.Pod](c)
	grace := int64(1)
	p := &api.Pod{
		ObjectMeta: api.ObjectMeta{Name: "vm-hello", Namespace: "default"},
		Spec: api.PodSpec{TerminationGracePeriodSeconds: &grace, Containers: []api.Container{{
			Name: "main", Image: hostFromGuest + ":5055/cloudmgr/busybox:test",
			Command:   []string{"sh", "-c", "echo " + marker + "; exec sleep 3600"},
			Resources: api.ResourceRequirements{Limits: api.ResourceList{"cpu": api.MustParseQuantity("200m"), "memory": api.MustParseQuantity("32Mi")}},
		}}},
	}
	if _, err := pods.Create(ctx, p); err != nil {
		t.Fatal(err)
	}
	var got *api.Pod
	deadline = time.Now().Add(4 * time.Minute)
	for {
		got, err = pods.Get(ctx, "default", p.Name)
		if err == nil && got.Status.Phase == api.PodRunning {
			break
		}
		if err, done := vm.exited(); done {
			t.Fatalf("QEMU exited (%v) before the pod ran; console:\n%s", err, consoleTail())
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod not Running within 4m: %+v\nconsole:\n%s", got, consoleTail())
		}
		time.Sleep(250 * time.Millisecond)
	}
	runningAt := time.Now()
	if got.Spec.NodeName != node {
		t.Fatalf("pod ran on %q, want %s", got.Spec.NodeName, node)
	}
	var logs string
	deadline = time.Now().Add(time.Minute)
	for !strings.Contains(logs, marker) {
		if time.Now().After(deadline) {
			t.Fatalf("pod logs through the API = %q, want %q; console:\n%s", logs, marker, consoleTail())
		}
		rc, err := c.Logs(ctx, "default", p.Name, client.LogOptions{})
		if err == nil {
			b, _ := io.ReadAll(rc)
			rc.Close()
			logs = string(b)
		}
		time.Sleep(250 * time.Millisecond)
	}

	logsAt := time.Now()

	// The ACPI power button shuts the guest down.
	if err := vm.powerdown(); err != nil {
		t.Fatal(err)
	}
	if err, done := vm.wait(2 * time.Minute); !done {
		t.Errorf("the guest did not power off within 2m of the ACPI power button; console:\n%s", consoleTail())
	} else if err != nil {
		t.Errorf("QEMU exited with %v after the power button", err)
	}

	// The token is never printed.
	out, err := os.ReadFile(console)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(out, []byte(tok.Token)) {
		t.Error("the serial console shows the join token")
	}
	for _, m := range []string{"cloudmgr-init: network up", "cloudmgr-init: containerd up", "cloudmgr-init: cloudlet starting", "cloudmgr-init: power off"} {
		if !bytes.Contains(out, []byte(m)) {
			t.Errorf("console lacks %q:\n%s", m, consoleTail())
		}
	}
	if strings.Contains(cd.Log.String(), tok.Token) {
		t.Error("cloudd's log shows the join token")
	}
	t.Logf("qemu start -> node Ready %s, -> pod Running %s (%s after Ready), -> logs through the API %s",
		readyAt.Sub(start).Round(100*time.Millisecond), runningAt.Sub(start).Round(100*time.Millisecond),
		runningAt.Sub(readyAt).Round(100*time.Millisecond), logsAt.Sub(start).Round(100*time.Millisecond))
	t.Logf("guest milestones:\n%s", milestones(out))
}

func nodeReady(n *api.Node) bool {
	for _, cond := range n.Status.Conditions {
		if cond.Type == api.NodeReady && cond.Status == api.ConditionTrue {
			return true
		}
	}
	return false
}

// milestones are the init's lines of the console log.
func milestones(console []byte) string {
	var out []string
	for _, l := range strings.Split(string(console), "\n") {
		if strings.HasPrefix(l, "cloudmgr-init:") {
			out = append(out, "  "+l)
		}
	}
	return strings.Join(out, "\n")
}

// adminClient reads DATA-DIR/admin.yaml as cloudctl would.
func adminClient(t *testing.T, dir string) *client.Client {
	t.Helper()
	c, err := test.AdminClient(filepath.Join(dir, "admin.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// novaConfigDrive is a config drive as Nova makes one (ISO 9660 labelled
// config-2) for a server created by providers/openstack with the given
// bootstrap files: openstack/latest/user_data holds the #cloud-config
// that writes them, meta_data.json the server's host name.
func novaConfigDrive(t *testing.T, hostname string, files map[string][]byte) ([]byte, error) {
	t.Helper()
	ud, err := openstack.UserData(files)
	if err != nil {
		return nil, err
	}
	meta, err := json.Marshal(map[string]any{"uuid": "3d5c9c7e-0000-4000-8000-000000000001", "hostname": hostname, "name": hostname})
	if err != nil {
		return nil, err
	}
	w, err := iso9660.NewWriter()
	if err != nil {
		return nil, err
	}
	defer w.Cleanup()
	for path, b := range map[string][]byte{"openstack/latest/user_data": ud, "openstack/latest/meta_data.json": meta} {
		if err := w.AddFile(bytes.NewReader(b), path); err != nil {
			return nil, err
		}
	}
	var out bytes.Buffer
	if err := w.WriteTo(&out, "config-2"); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}
