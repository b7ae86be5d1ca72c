package test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"
)

// Containerd is a containerd process of one test's own: its own config,
// root, state, socket and shim runtime root under a short directory, so
// that a test may stop and restart it without disturbing the project's
// shared containerd (which other tests and helpers use). Containers it ran
// keep running while it is stopped: their shims outlive it.
type Containerd struct {
	// Dir holds everything: config.toml, root/, state/, containerd.sock,
	// containerd.log.
	Dir string
	// Socket is the gRPC socket to give clients.
	Socket string
	// Config is the path of its config.toml.
	Config string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
	log  *os.File
}

// StartContainerd writes a configuration like the one deploy/deps.sh
// writes for the shared containerd (no CRI, no TCP, debug or metrics
// listener) into a new directory under /tmp, whose name is short enough
// for unix socket paths (108 bytes), starts containerd on it and waits
// until it answers. Call Close when done: it stops the process and removes
// the directory (remove the containers first).
func StartContainerd() (*Containerd, error) {
	dir, err := os.MkdirTemp("/tmp", "cmcd-")
	if err != nil {
		return nil, err
	}
	c := &Containerd{Dir: dir, Socket: filepath.Join(dir, "containerd.sock"), Config: filepath.Join(dir, "config.toml")}
	for _, d := range []string{"root", "state", "opt", "runc-v1"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o700); err != nil {
			return nil, err
		}
	}
	config := fmt.Sprintf(`# A test's private containerd, configured as deploy/deps.sh configures
# the shared one.
version = 2
root = %[1]q
state = %[2]q
disabled_plugins = ["io.containerd.grpc.v1.cri", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs"]

[grpc]
  address = %[3]q
  tcp_address = ""

[ttrpc]
  address = %[4]q

[debug]
  address = ""
  level = "info"

[metrics]
  address = ""

[plugins."io.containerd.internal.v1.opt"]
  path = %[5]q

[plugins."io.containerd.runtime.v1.linux"]
  runtime_root = %[6]q
`, filepath.Join(dir, "root"), filepath.Join(dir, "state"), c.Socket, c.Socket+".ttrpc",
		filepath.Join(dir, "opt"), filepath.Join(dir, "runc-v1"))
	if err := os.WriteFile(c.Config, []byte(config), 0o600); err != nil {
		return nil, err
	}
	if err := c.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	return c, nil
}

// PID returns the process id of the running containerd, or 0.
func (c *Containerd) PID() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.cmd == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Start runs containerd on the directory's configuration (again, after
// Stop) and waits up to 30s until it answers on its socket.
func (c *Containerd) Start() error {
	c.mu.Lock()
	if c.cmd != nil {
		c.mu.Unlock()
		return errors.New("containerd already running")
	}
	log, err := os.OpenFile(filepath.Join(c.Dir, "containerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		c.mu.Unlock()
		return err
	}
	cmd := exec.Command("containerd", "--config", c.Config)
	cmd.Stdout, cmd.Stderr = log, log
	// Its own process group, so a terminal's signals reach only the test.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		log.Close()
		c.mu.Unlock()
		return fmt.Errorf("start containerd (run `make setup`): %w", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); log.Close(); close(done) }()
	c.cmd, c.done, c.log = cmd, done, log
	c.mu.Unlock()

	deadline := time.Now().Add(30 * time.Second)
	for {
		select {
		case <-done:
			c.mu.Lock()
			c.cmd = nil
			c.mu.Unlock()
			return fmt.Errorf("containerd exited at start; see %s", filepath.Join(c.Dir, "containerd.log"))
		default:
		}
		if c.answers() {
			return nil
		}
		if time.Now().After(deadline) {
			_ = c.Stop()
			return fmt.Errorf("containerd not answering on %s after 30s", c.Socket)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (c *Containerd) answers() bool {
	if _, err := os.Stat(c.Socket); err != nil {
		return false
	}
	cl, err := containerd.New(c.Socket, containerd.WithTimeout(time.Second))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err = cl.Version(ctx)
	return err == nil
}

// Stop sends SIGTERM to the containerd process (by its PID) and waits for
// it to exit, SIGKILL after 10s. The containers' shims keep running.
func (c *Containerd) Stop() error {
	c.mu.Lock()
	cmd, done := c.cmd, c.done
	c.cmd = nil
	c.mu.Unlock()
	if cmd == nil {
		return nil
	}
	if err := syscall.Kill(cmd.Process.Pid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("stop containerd %d: %w", cmd.Process.Pid, err)
	}
	select {
	case <-done:
		return nil
	case <-time.After(10 * time.Second):
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
		<-done
		return fmt.Errorf("containerd %d ignored SIGTERM for 10s: killed", cmd.Process.Pid)
	}
}

// Close stops containerd and removes its directory. Whatever still runs
// in it (shims, containers) must have been removed before.
func (c *Containerd) Close() error {
	err := c.Stop()
	// Snapshots may leave mounts behind when a test failed half-way.
	_ = unmountUnder(c.Dir)
	return errors.Join(err, os.RemoveAll(c.Dir))
}

// LogTail returns the last bytes of containerd's log, for failure messages.
func (c *Containerd) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(c.Dir, "containerd.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// unmountUnder detaches every mount whose mount point lies under dir.
func unmountUnder(dir string) error {
	b, err := os.ReadFile("/proc/mounts")
	if err != nil {
		return err
	}
	var errs []error
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || !strings.HasPrefix(f[1], dir+"/") {
			continue
		}
		if err := unix.Unmount(f[1], unix.MNT_DETACH); err != nil {
			errs = append(errs, fmt.Errorf("unmount %s: %w", f[1], err))
		}
	}
	return errors.Join(errs...)
}
