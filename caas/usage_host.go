package caas

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// HostStats reads the whole machine's counters. ProcHostStats reads them
// from /proc; tests use a fake.
type HostStats interface {
	ReadHost() (HostSample, error)
}

// HostSample is the machine's counters at one moment.
type HostSample struct {
	Timestamp time.Time
	// CPUBusyNanos is the CPU time all CPUs spent not idle (neither idle
	// nor waiting for I/O) since boot, in nanoseconds.
	CPUBusyNanos uint64
	// MemoryUsedBytes is MemTotal less MemAvailable: what the machine could
	// not hand out without swapping.
	MemoryUsedBytes uint64
}

// ProcHostStats reads /proc/stat and /proc/meminfo.
type ProcHostStats struct {
	// ProcDir is where proc is mounted ("/proc" when empty).
	ProcDir string
}

// userHZ is the unit of /proc/stat's CPU times: fixed at 100 ticks a
// second by the kernel's user-space ABI, whatever the kernel's HZ.
const userHZ = 100

// ReadHost reads the machine's CPU and memory counters.
func (p ProcHostStats) ReadHost() (HostSample, error) {
	dir := p.ProcDir
	if dir == "" {
		dir = "/proc"
	}
	now := time.Now()
	stat, err := os.ReadFile(filepath.Join(dir, "stat"))
	if err != nil {
		return HostSample{}, fmt.Errorf("read host cpu: %w", err)
	}
	busy, err := parseProcStat(stat)
	if err != nil {
		return HostSample{}, err
	}
	meminfo, err := os.ReadFile(filepath.Join(dir, "meminfo"))
	if err != nil {
		return HostSample{}, fmt.Errorf("read host memory: %w", err)
	}
	used, err := parseMemUsed(meminfo)
	if err != nil {
		return HostSample{}, err
	}
	return HostSample{Timestamp: now, CPUBusyNanos: busy, MemoryUsedBytes: used}, nil
}

// parseProcStat sums the busy ticks of the aggregate "cpu" line: user,
// nice, system, irq, softirq and steal (guest time is already in user).
func parseProcStat(data []byte) (uint64, error) {
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 0 || f[0] != "cpu" {
			continue
		}
		if len(f) < 5 {
			return 0, fmt.Errorf("/proc/stat: cpu line has %d fields, want at least 5", len(f))
		}
		var ticks uint64
		for i, v := range f[1:] {
			n, err := strconv.ParseUint(v, 10, 64)
			if err != nil {
				return 0, fmt.Errorf("/proc/stat: cpu field %d: %w", i+1, err)
			}
			switch i {
			case 0, 1, 2, 5, 6, 7: // user nice system irq softirq steal
				ticks += n
			}
		}
		return ticks * uint64(time.Second/userHZ), nil
	}
	return 0, fmt.Errorf("/proc/stat: no cpu line")
}

// parseMemUsed is MemTotal − MemAvailable from /proc/meminfo.
func parseMemUsed(data []byte) (uint64, error) {
	var total, avail uint64
	var haveTotal, haveAvail bool
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		name, rest, ok := strings.Cut(sc.Text(), ":")
		if !ok || (name != "MemTotal" && name != "MemAvailable") {
			continue
		}
		f := strings.Fields(rest)
		if len(f) == 0 {
			return 0, fmt.Errorf("/proc/meminfo: %s has no value", name)
		}
		n, err := strconv.ParseUint(f[0], 10, 64)
		if err != nil {
			return 0, fmt.Errorf("/proc/meminfo: %s: %w", name, err)
		}
		if len(f) > 1 && f[1] == "kB" {
			n *= 1024
		}
		if name == "MemTotal" {
			total, haveTotal = n, true
		} else {
			avail, haveAvail = n, true
		}
	}
	if !haveTotal || !haveAvail {
		return 0, fmt.Errorf("/proc/meminfo: MemTotal or MemAvailable missing")
	}
	if avail > total {
		return 0, nil
	}
	return total - avail, nil
}
