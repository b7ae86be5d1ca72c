// Package caas is the node side of the container layer: the node agent
// that registers its Node, keeps its lease and conditions current, and
// (next) runs the pods bound to it in containerd.
package caas

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/cloudmgr/cloud/api"
)

// Machine is what the agent reads about the host it runs on.
type Machine struct {
	CPUs          int
	MemoryBytes   int64
	KernelVersion string
	OSImage       string
	MachineID     string
	Hostname      string
}

// ReadMachine reads the host's CPU count, memory, kernel and OS.
func ReadMachine() (Machine, error) {
	m := Machine{CPUs: runtime.NumCPU()}
	mem, err := memInfo()
	if err != nil {
		return m, err
	}
	m.MemoryBytes = mem["MemTotal"]
	var u syscall.Utsname
	if err := syscall.Uname(&u); err == nil {
		m.KernelVersion = cString(u.Release[:])
	}
	m.OSImage = osImage()
	if id, err := os.ReadFile("/etc/machine-id"); err == nil {
		m.MachineID = strings.TrimSpace(string(id))
	}
	m.Hostname, _ = os.Hostname()
	return m, nil
}

func cString(b []int8) string {
	out := make([]byte, 0, len(b))
	for _, c := range b {
		if c == 0 {
			break
		}
		out = append(out, byte(c))
	}
	return string(out)
}

// memInfo reads /proc/meminfo in bytes.
func memInfo() (map[string]int64, error) {
	data, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return nil, fmt.Errorf("read /proc/meminfo: %w", err)
	}
	out := map[string]int64{}
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			continue
		}
		n, err := strconv.ParseInt(f[0], 10, 64)
		if err != nil {
			continue
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		out[name] = n
	}
	return out, nil
}

func osImage() string {
	data, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, line := range strings.Split(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}

// Resources turns the machine into a Node's capacity, and its allocatable
// after subtracting what is reserved for the system.
func (m Machine) Resources(reserved api.ResourceList) (capacity, allocatable api.ResourceList) {
	capacity = api.ResourceList{
		api.ResourceCPU:    api.NewQuantity(int64(m.CPUs), api.DecimalSI),
		api.ResourceMemory: api.NewQuantity(m.MemoryBytes, api.BinarySI),
		api.ResourcePods:   api.NewQuantity(110, api.DecimalSI),
	}
	allocatable = api.ResourceList{}
	for name, c := range capacity {
		a := c
		if r, ok := reserved[name]; ok {
			a = c.Sub(r)
			if a.Sign() < 0 {
				a = api.NewQuantity(0, c.Format())
			}
		}
		allocatable[name] = a
	}
	return capacity, allocatable
}

// Addresses lists the host's addresses for the Node: the given IP, or the
// first non-loopback IPv4 address of an interface that is up, or loopback.
func Addresses(nodeIP, hostname string) []api.NodeAddress {
	ip := nodeIP
	if ip == "" {
		ip = "127.0.0.1"
		ifs, _ := net.Interfaces()
	search:
		for _, i := range ifs {
			if i.Flags&net.FlagUp == 0 || i.Flags&net.FlagLoopback != 0 {
				continue
			}
			addrs, _ := i.Addrs()
			for _, a := range addrs {
				if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil {
					ip = n.IP.String()
					break search
				}
			}
		}
	}
	return []api.NodeAddress{{Type: api.NodeInternalIP, Address: ip}, {Type: api.NodeHostName, Address: hostname}}
}
