package test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// LibvirtSocketPath is the project's libvirtd socket that `make deps`
// (deploy/deps.sh) starts, relative to the repository root.
const LibvirtSocketPath = ".run/libvirt/libvirt-sock"

// LibvirtSocket returns the absolute path of the project's libvirtd socket,
// or an error saying to run `make deps` when it is missing.
func LibvirtSocket() (string, error) {
	p, err := filepath.Abs(filepath.Join(RepoRoot(), LibvirtSocketPath))
	if err != nil {
		return "", err
	}
	if real, err := filepath.EvalSymlinks(filepath.Dir(p)); err == nil {
		p = filepath.Join(real, filepath.Base(p))
	}
	fi, err := os.Stat(p)
	if err != nil {
		return "", fmt.Errorf("libvirtd socket %s: %w; run `make deps` to start libvirtd", p, err)
	}
	if fi.Mode()&os.ModeSocket == 0 {
		return "", fmt.Errorf("%s is not a socket; run `make deps` to start libvirtd", p)
	}
	return p, nil
}

// LibvirtURI returns the URI of the project's libvirtd for driver
// (qemu:///system?socket=..., or test:///default?socket=... for "test").
func LibvirtURI(driver string) (string, error) {
	sock, err := LibvirtSocket()
	if err != nil {
		return "", err
	}
	switch driver {
	case "", "qemu":
		return "qemu:///system?socket=" + sock, nil
	case "test":
		return "test:///default?socket=" + sock, nil
	}
	return "", fmt.Errorf("unknown libvirt driver %q (qemu or test)", driver)
}

// LibvirtPool is the dir storage pool (.run/libvirt/pool) `make deps`
// defines for providers/libvirt.
const LibvirtPool = "cloudmgr"

// LockLibvirt takes the lock that orders the users of the project's
// libvirtd across test processes: shared for tests that only use it,
// exclusive for one that stops it (RestartLibvirtd). `go test ./...` runs
// packages in parallel; without it a package's tests would see the daemon
// vanish under them. Call unlock when done.
func LockLibvirt(exclusive bool) (unlock func(), err error) {
	dir := filepath.Join(RepoRoot(), ".run", "libvirt")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, "tests.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	how := syscall.LOCK_SH
	if exclusive {
		how = syscall.LOCK_EX
	}
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
	}
	return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
}

// KillLibvirtd ends the project's libvirtd at once (SIGKILL, as a crash or
// `systemctl kill`): the process deploy/deps.sh started and recorded in
// .run/libvirt/libvirtd.pid, checked to be libvirtd. Running domains stay
// up, as they do when a real libvirtd goes away. Hold LockLibvirt(true).
func KillLibvirtd() error {
	pidFile := filepath.Join(RepoRoot(), ".run", "libvirt", "libvirtd.pid")
	b, err := os.ReadFile(pidFile)
	if err != nil {
		return fmt.Errorf("libvirtd pid file: %w; run `make deps`", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("libvirtd pid file %s: %w", pidFile, err)
	}
	cmd, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil || !strings.Contains(string(cmd), "libvirtd") {
		return fmt.Errorf("pid %d of %s is not a libvirtd (%q, %v); run `make deps`", pid, pidFile, cmd, err)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		return fmt.Errorf("kill libvirtd (pid %d): %w", pid, err)
	}
	for range 100 {
		if syscall.Kill(pid, 0) != nil {
			return nil
		}
		if st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil && strings.Contains(string(st), ") Z ") {
			return nil // a zombie until deps.sh's shell reaps it: gone
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("libvirtd (pid %d) still runs 5s after SIGKILL", pid)
}

// StartLibvirtd starts the project's libvirtd again (deploy/deps.sh
// start-libvirtd) and waits for it to answer.
func StartLibvirtd() error {
	cmd := exec.Command(filepath.Join(RepoRoot(), "deploy", "deps.sh"), "start-libvirtd")
	cmd.Dir = RepoRoot()
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("deploy/deps.sh start-libvirtd: %w\n%s", err, out)
	}
	return nil
}
