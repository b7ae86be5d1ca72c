package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"libvirt.org/go/libvirtxml"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/iaas/configdrive"
	"github.com/cloudmgr/cloud/test"
)

// reference boots one node VM without the IaaS layer: a join token made
// through the API, a config drive with its NodeBootstrap written by hand,
// and a domain like the libvirt provider's (TCG, qboot, direct kernel
// boot of the node image, 1 vCPU, 512 MiB, user-mode NIC, serial console
// into a file) defined and started through go-libvirt. It measures from
// the start to the domain running, the node Ready and a first pod Running,
// then removes the domain, the pod and the node.
func (e *iaasEnv) reference(b *testing.B, run int) scaleRun {
	ctx := context.Background()
	node := fmt.Sprintf("benchref-%d-%d", os.Getpid(), run)
	dir := b.TempDir()
	iso, console := filepath.Join(dir, "cidata.iso"), filepath.Join(dir, "console.log")
	tok, err := e.c.CreateJoinToken(ctx, 10*time.Minute, node)
	if err != nil {
		b.Fatal(err)
	}
	ca, err := os.ReadFile(filepath.Join(e.x.DataDir, "pki", "ca.crt"))
	if err != nil {
		b.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(e.x.Addr)
	hv, _ := os.Hostname()
	boot, err := json.Marshal(api.NodeBootstrap{Server: "https://" + net.JoinHostPort(hostFromGuest, port), CA: string(ca),
		JoinToken: tok.Token, NodeName: node, Hypervisor: strings.ToLower(hv), InsecureRegistries: []string{hostFromGuest + ":5055"}})
	if err != nil {
		b.Fatal(err)
	}
	drive, err := configdrive.Build(map[string][]byte{api.NodeBootstrapFile: boot})
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(iso, drive, 0o600); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(console, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	img, err := test.NodeImage()
	if err != nil {
		b.Fatal(err)
	}
	doc, err := referenceXML(node, img, iso, console)
	if err != nil {
		b.Fatal(err)
	}
	dom, err := e.l.DomainDefineXML(doc)
	if err != nil {
		b.Fatalf("define the reference domain: %v", err)
	}
	e.machines[node] = true
	defer func() {
		if err := test.RemoveDomain(e.l, node); err != nil {
			b.Errorf("remove the reference domain %s: %v", node, err)
		}
		zero := int64(0)
		_ = client.For[api.Pod](e.c).Delete(ctx, "default", "first-"+node, client.DeleteOptions{GracePeriodSeconds: &zero})
		_ = client.For[api.Node](e.c).Delete(ctx, "", node, client.DeleteOptions{})
	}()

	start := time.Now()
	if err := e.l.DomainCreate(dom); err != nil {
		b.Fatalf("start the reference domain: %v", err)
	}
	p := newProgress(e.c, start)
	p.running[node] = time.Since(start)
	for {
		if err := p.observe([]string{node}); err != nil {
			b.Fatal(err)
		}
		if r, ok := p.result(1); ok {
			r.detail = []string{fmt.Sprintf("  %s: guest (uptime): %s", node, consoleMilestones(console))}
			return r
		}
		if time.Since(start) > scaleTimeout {
			b.Fatalf("reference node %s: not Ready with a pod within %s (ready %v, pod %v); console milestones: %s",
				node, scaleTimeout, p.ready, p.podAt, consoleMilestones(console))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// referenceXML is a domain as the libvirt provider defines one
// (providers/libvirt domainXML), without its metadata.
func referenceXML(name, img, iso, console string) (string, error) {
	port := uint(0)
	src := &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: console, Append: "on"}}
	d := libvirtxml.Domain{
		Type:   "qemu",
		Name:   name,
		Memory: &libvirtxml.DomainMemory{Value: 512, Unit: "MiB"},
		VCPU:   &libvirtxml.DomainVCPU{Value: 1},
		OS: &libvirtxml.DomainOS{
			Type:    &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "pc", Type: "hvm"},
			Loader:  &libvirtxml.DomainLoader{Path: "/usr/share/qemu/qboot.rom", Type: "rom"},
			Kernel:  filepath.Join(img, "vmlinuz"),
			Initrd:  filepath.Join(img, "initrd.img"),
			Cmdline: "console=ttyS0 quiet panic=-1",
		},
		Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{{
				Device:   "disk",
				Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
				Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: iso}},
				Target:   &libvirtxml.DomainDiskTarget{Dev: "vdb", Bus: "virtio"},
				ReadOnly: &libvirtxml.DomainDiskReadOnly{},
			}},
			Interfaces: []libvirtxml.DomainInterface{{
				Model:  &libvirtxml.DomainInterfaceModel{Type: "virtio"},
				Source: &libvirtxml.DomainInterfaceSource{User: &libvirtxml.DomainInterfaceSourceUser{}},
			}},
			Serials:  []libvirtxml.DomainSerial{{Source: src, Target: &libvirtxml.DomainSerialTarget{Port: &port}}},
			Consoles: []libvirtxml.DomainConsole{{Source: src, Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port}}},
		},
	}
	return d.Marshal()
}
