package libvirt

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/cloudmgr/cloud/iaas"
	"github.com/cloudmgr/cloud/test"
)

// TestQEMUNetworkAndBridgeNICs boots real TCG domains with the two NIC
// kinds a real deployment names instead of user-mode networking: a
// libvirt network ("network:NAME") and a host bridge ("bridge:NAME").
// The test makes a bridge of its own (no address, no traffic leaves it)
// and a transient libvirt network over it (forward mode bridge, so
// libvirt touches no firewall). Each domain's tap joins the bridge, the
// guest sees a NIC with the domain's MAC address, and Delete takes the tap
// away.
func TestQEMUNetworkAndBridgeNICs(t *testing.T) {
	p, _, uri := qemuProvider(t)
	raw := rawConn(t, uri)
	br := fmt.Sprintf("cmtbr%d", os.Getpid()%100000)
	if out, err := exec.Command("ip", "link", "add", br, "type", "bridge").CombinedOutput(); err != nil {
		t.Fatalf("ip link add %s type bridge: %v: %s (iproute2 comes with make setup)", br, err, out)
	}
	t.Cleanup(func() { _ = exec.Command("ip", "link", "del", br).Run() })
	if out, err := exec.Command("ip", "link", "set", br, "up").CombinedOutput(); err != nil {
		t.Fatalf("ip link set %s up: %v: %s", br, err, out)
	}
	netName := "cloudmgr-test-" + br
	n, err := raw.NetworkCreateXML(fmt.Sprintf(`<network><name>%s</name><forward mode='bridge'/><bridge name='%s'/></network>`, netName, br))
	if err != nil {
		t.Fatalf("libvirt network %s: %v", netName, err)
	}
	t.Cleanup(func() { _ = raw.NetworkDestroy(n) })

	ctx := ctxT(t, 5*time.Minute)
	for kind, nic := range map[string]string{"net": "network:" + netName, "br": "bridge:" + br} {
		spec := iaas.MachineSpec{Name: "lvtest-nic-" + kind, Hypervisor: "hv1", CPUs: 1, MemoryMiB: 256, Image: "test",
			Network: nic, ConfigDrive: map[string][]byte{"hello.txt": []byte("nic\n")}}
		m, err := p.Create(ctx, spec)
		if err != nil {
			t.Fatalf("Create with %s: %v", nic, err)
		}
		deleted := false
		t.Cleanup(func() {
			if !deleted {
				_ = p.Delete(ctxT(t, time.Minute), m.ID)
			}
		})
		x, err := raw.DomainGetXMLDesc(mustDomain(t, raw, spec.Name), 0)
		if err != nil {
			t.Fatal(err)
		}
		var d libvirtxml.Domain
		if err := d.Unmarshal(x); err != nil {
			t.Fatal(err)
		}
		if d.Devices == nil || len(d.Devices.Interfaces) != 1 {
			t.Fatalf("%s: want one interface in the domain XML:\n%s", nic, x)
		}
		ifc := d.Devices.Interfaces[0]
		if ifc.Target == nil || ifc.MAC == nil {
			t.Fatalf("%s: the running domain's interface has no tap or MAC:\n%s", nic, x)
		}
		tap := filepath.Join("/sys/class/net", br, "brif", ifc.Target.Dev)
		if _, err := os.Stat(tap); err != nil {
			t.Fatalf("%s: tap %s is not on bridge %s: %v", nic, ifc.Target.Dev, br, err)
		}
		waitConsole(t, p, m.ID, 2*time.Minute, "CLOUDMGR-TEST-NIC: "+strings.ToLower(ifc.MAC.Address))
		t.Logf("%s: tap %s on %s, guest NIC %s", nic, ifc.Target.Dev, br, ifc.MAC.Address)

		if err := p.Delete(ctx, m.ID); err != nil {
			t.Fatal(err)
		}
		deleted = true
		if _, err := os.Stat(tap); err == nil {
			t.Fatalf("%s: tap %s still on %s after Delete", nic, ifc.Target.Dev, br)
		}
		assertGone(t, raw, test.LibvirtPool, spec.Name)
	}
}
