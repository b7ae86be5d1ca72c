package libvirt

import (
	"encoding/hex"
	"encoding/xml"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	golibvirt "github.com/digitalocean/go-libvirt"
	"libvirt.org/go/libvirtxml"

	"github.com/cloudmgr/cloud/iaas"
)

// MetadataNamespace is the namespace of the <cloudmgr:machine> element in
// a domain's <metadata> that marks the domain as this system's.
const MetadataNamespace = "https://cloudmgr.dev/machine"

// machineMeta is what the metadata element records.
type machineMeta struct {
	XMLName xml.Name `xml:"machine"`
	Name    string   `xml:"name"`
	Group   string   `xml:"group,omitempty"`
	Image   string   `xml:"image,omitempty"`
	Created string   `xml:"created"`
	Labels  []label  `xml:"label"`
	// Volumes are the machine's own volumes in the pool (config drive,
	// console log, disks), deleted with it.
	Volumes []string `xml:"volume"`
	// Console is the volume holding the serial console log.
	Console string `xml:"console,omitempty"`
}

type label struct {
	Key   string `xml:"key,attr"`
	Value string `xml:"value,attr"`
}

// marshal writes the element with the cloudmgr: prefix libvirt keeps.
func (m machineMeta) marshal() string {
	var b strings.Builder
	esc := func(s string) string {
		var e strings.Builder
		_ = xml.EscapeText(&e, []byte(s))
		return strings.ReplaceAll(e.String(), `"`, "&#34;")
	}
	el := func(name, v string) {
		fmt.Fprintf(&b, "<cloudmgr:%s>%s</cloudmgr:%s>", name, esc(v), name)
	}
	fmt.Fprintf(&b, `<cloudmgr:machine xmlns:cloudmgr="%s">`, MetadataNamespace)
	el("name", m.Name)
	if m.Group != "" {
		el("group", m.Group)
	}
	if m.Image != "" {
		el("image", m.Image)
	}
	el("created", m.Created)
	for _, l := range m.Labels {
		fmt.Fprintf(&b, `<cloudmgr:label key="%s" value="%s"/>`, esc(l.Key), esc(l.Value))
	}
	for _, v := range m.Volumes {
		el("volume", v)
	}
	if m.Console != "" {
		el("console", m.Console)
	}
	b.WriteString("</cloudmgr:machine>")
	return b.String()
}

// parseMeta finds our element in a domain's metadata; ok is false for a
// domain that is not this system's.
func parseMeta(d *libvirtxml.Domain) (machineMeta, bool) {
	if d.Metadata == nil || !strings.Contains(d.Metadata.XML, MetadataNamespace) {
		return machineMeta{}, false
	}
	dec := xml.NewDecoder(strings.NewReader(d.Metadata.XML))
	for {
		tok, err := dec.Token()
		if err != nil {
			return machineMeta{}, false
		}
		se, ok := tok.(xml.StartElement)
		if !ok || se.Name.Space != MetadataNamespace || se.Name.Local != "machine" {
			continue
		}
		var m machineMeta
		if err := dec.DecodeElement(&m, &se); err != nil {
			return machineMeta{}, false
		}
		return m, true
	}
}

// domainName is what libvirt and the node name allow.
var domainName = regexp.MustCompile(`^[a-z0-9]([a-z0-9.-]{0,61}[a-z0-9])?$`)

// machineID is "libvirt://HYPERVISOR/UUID".
func machineID(hypervisor string, uuid golibvirt.UUID) string {
	return "libvirt://" + hypervisor + "/" + formatUUID(uuid)
}

// parseID splits a machine ID. Malformed IDs are ErrNotFound (no such
// machine can exist).
func parseID(id string) (string, golibvirt.UUID, error) {
	rest, ok := strings.CutPrefix(id, "libvirt://")
	hv, u, ok2 := strings.Cut(rest, "/")
	var uuid golibvirt.UUID
	if !ok || !ok2 || hv == "" {
		return "", uuid, fmt.Errorf("libvirt: machine ID %q is not libvirt://HYPERVISOR/UUID: %w", id, iaas.ErrNotFound)
	}
	uuid, err := parseUUID(u)
	if err != nil {
		return "", uuid, fmt.Errorf("libvirt: machine ID %q: %v: %w", id, err, iaas.ErrNotFound)
	}
	return hv, uuid, nil
}

func formatUUID(u golibvirt.UUID) string {
	h := hex.EncodeToString(u[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func parseUUID(s string) (golibvirt.UUID, error) {
	var u golibvirt.UUID
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != len(u) {
		return u, fmt.Errorf("bad UUID %q", s)
	}
	copy(u[:], b)
	return u, nil
}

// domainSpec is everything the domain XML is made of.
type domainSpec struct {
	Type, Arch, Name     string
	UUID                 string
	CPUs                 int32
	MemoryMiB            int64
	Loader               string
	Kernel, Initrd, Cmdl string
	ConfigDrive          string // path of the ISO volume
	Console              string // path of the console log volume
	Network              string
	Meta                 machineMeta
}

// parseNetwork checks spec.Network: "", "network:NAME" or "bridge:NAME".
func parseNetwork(n string) (kind, name string, err error) {
	if n == "" {
		return "user", "", nil
	}
	kind, name, ok := strings.Cut(n, ":")
	if !ok || name == "" || (kind != "network" && kind != "bridge") {
		return "", "", fmt.Errorf("network %q: want empty (user-mode), network:NAME or bridge:NAME", n)
	}
	return kind, name, nil
}

// domainXML builds the domain: direct kernel boot with the qboot ROM,
// ACPI (so that poweroff ends it), the config drive as a read-only virtio
// disk, one virtio NIC and the serial console into a file.
func domainXML(s domainSpec) (string, error) {
	port := uint(0)
	kind, netName, err := parseNetwork(s.Network)
	if err != nil {
		return "", err
	}
	nic := libvirtxml.DomainInterface{Model: &libvirtxml.DomainInterfaceModel{Type: "virtio"}}
	switch kind {
	case "user":
		nic.Source = &libvirtxml.DomainInterfaceSource{User: &libvirtxml.DomainInterfaceSourceUser{}}
	case "network":
		nic.Source = &libvirtxml.DomainInterfaceSource{Network: &libvirtxml.DomainInterfaceSourceNetwork{Network: netName}}
	case "bridge":
		nic.Source = &libvirtxml.DomainInterfaceSource{Bridge: &libvirtxml.DomainInterfaceSourceBridge{Bridge: netName}}
	}
	d := libvirtxml.Domain{
		Type:     s.Type,
		Name:     s.Name,
		UUID:     s.UUID,
		Metadata: &libvirtxml.DomainMetadata{XML: s.Meta.marshal()},
		Memory:   &libvirtxml.DomainMemory{Value: uint(s.MemoryMiB), Unit: "MiB"},
		VCPU:     &libvirtxml.DomainVCPU{Value: uint(s.CPUs)},
		OS: &libvirtxml.DomainOS{
			Type:    &libvirtxml.DomainOSType{Arch: "x86_64", Machine: "pc", Type: "hvm"},
			Kernel:  s.Kernel,
			Initrd:  s.Initrd,
			Cmdline: s.Cmdl,
		},
		Features:   &libvirtxml.DomainFeatureList{ACPI: &libvirtxml.DomainFeature{}},
		OnPoweroff: "destroy",
		OnReboot:   "restart",
		OnCrash:    "destroy",
		Devices: &libvirtxml.DomainDeviceList{
			Disks: []libvirtxml.DomainDisk{{
				Device:   "disk",
				Driver:   &libvirtxml.DomainDiskDriver{Name: "qemu", Type: "raw"},
				Source:   &libvirtxml.DomainDiskSource{File: &libvirtxml.DomainDiskSourceFile{File: s.ConfigDrive}},
				Target:   &libvirtxml.DomainDiskTarget{Dev: "vdb", Bus: "virtio"},
				ReadOnly: &libvirtxml.DomainDiskReadOnly{},
			}},
			Interfaces: []libvirtxml.DomainInterface{nic},
			Serials: []libvirtxml.DomainSerial{{
				Source: &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: s.Console, Append: "on"}},
				Target: &libvirtxml.DomainSerialTarget{Port: &port},
			}},
			Consoles: []libvirtxml.DomainConsole{{
				Source: &libvirtxml.DomainChardevSource{File: &libvirtxml.DomainChardevSourceFile{Path: s.Console, Append: "on"}},
				Target: &libvirtxml.DomainConsoleTarget{Type: "serial", Port: &port},
			}},
		},
	}
	if s.Type == "kvm" || s.Type == "qemu" {
		d.OS.Type.Machine = "pc"
	}
	if s.Loader != "" {
		d.OS.Loader = &libvirtxml.DomainLoader{Path: s.Loader, Type: "rom"}
	}
	return d.Marshal()
}

// machineFrom turns a domain of ours into a Machine.
func (p *Provider) machineFrom(hv, host string, d *libvirtxml.Domain, m machineMeta, state int32, reason int32) iaas.Machine {
	uuid, _ := parseUUID(d.UUID)
	mc := iaas.Machine{
		ID:         machineID(hv, uuid),
		Name:       m.Name,
		Provider:   p.cfg.Name,
		Hypervisor: hv,
		Host:       host,
		State:      stateOf(golibvirt.DomainState(state)),
	}
	if d.VCPU != nil {
		mc.CPUs = int32(d.VCPU.Value)
	}
	if d.Memory != nil {
		mc.MemoryMiB = memoryMiB(d.Memory.Value, d.Memory.Unit)
	}
	if len(m.Labels) > 0 {
		mc.Labels = map[string]string{}
		for _, l := range m.Labels {
			mc.Labels[l.Key] = l.Value
		}
	}
	if t, err := time.Parse(time.RFC3339, m.Created); err == nil {
		mc.Created = t
	}
	if mc.State == iaas.StateError {
		mc.Message = fmt.Sprintf("domain crashed (reason %d)", reason)
	}
	return mc
}

func stateOf(s golibvirt.DomainState) iaas.MachineState {
	switch s {
	case golibvirt.DomainRunning, golibvirt.DomainBlocked, golibvirt.DomainPaused, golibvirt.DomainPmsuspended:
		return iaas.StateRunning
	case golibvirt.DomainShutoff, golibvirt.DomainShutdown:
		return iaas.StateStopped
	case golibvirt.DomainCrashed:
		return iaas.StateError
	}
	return iaas.StateUnknown
}

func memoryMiB(v uint, unit string) int64 {
	switch strings.ToLower(unit) {
	case "b", "bytes":
		return int64(v) >> 20
	case "mib", "m":
		return int64(v)
	case "gib", "g":
		return int64(v) << 10
	}
	return int64(v) >> 10 // KiB, libvirt's default
}

// sortMachines orders by hypervisor then name.
func sortMachines(ms []iaas.Machine) {
	slices.SortFunc(ms, func(a, b iaas.Machine) int {
		if c := strings.Compare(a.Hypervisor, b.Hypervisor); c != 0 {
			return c
		}
		return strings.Compare(a.Name, b.Name)
	})
}
