package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"

	containerd "github.com/containerd/containerd/v2/client"
	"golang.org/x/sys/unix"

	"github.com/cloudmgr/cloud/caas"
)

// CreateSandbox makes the pod's network namespace, with loopback up, bind
// mounted at StateDir/netns/<podUID> so it outlives any process in it. It
// returns the existing one when the pod already has it. When the bind
// mount is gone but a container of the pod still runs (the mount was lost
// with the previous agent's mount namespace, or unmounted while the pod
// ran), it binds that container's namespace again instead of making a new
// one, so containers started later share localhost with the running ones.
func (r *Runtime) CreateSandbox(ctx context.Context, podUID string) (caas.Sandbox, error) {
	if err := validName(podUID); err != nil {
		return caas.Sandbox{}, fmt.Errorf("sandbox: pod uid: %w", err)
	}
	r.sandboxMu.Lock()
	defer r.sandboxMu.Unlock()
	path := r.netnsPath(podUID)
	sb := caas.Sandbox{PodUID: podUID, NetNSPath: path}
	if isNetNS(path) {
		return sb, nil
	}
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDONLY, 0o444)
	if err != nil {
		return caas.Sandbox{}, fmt.Errorf("sandbox %s: %w", podUID, err)
	}
	f.Close()
	src, err := r.runningNetNS(ctx, podUID)
	if err != nil {
		_ = os.Remove(path)
		return caas.Sandbox{}, fmt.Errorf("sandbox %s: %w", podUID, err)
	}
	if src != "" {
		if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
			_ = os.Remove(path)
			return caas.Sandbox{}, fmt.Errorf("sandbox %s: bind the running containers' network namespace: %w", podUID, err)
		}
		return sb, nil
	}
	if err := newNetNS(path); err != nil {
		_ = unix.Unmount(path, unix.MNT_DETACH)
		_ = os.Remove(path)
		return caas.Sandbox{}, fmt.Errorf("sandbox %s: %w", podUID, err)
	}
	return sb, nil
}

// RemoveSandbox unmounts and removes the pod's network namespace; the
// kernel frees it once its last container is gone.
func (r *Runtime) RemoveSandbox(ctx context.Context, podUID string) error {
	if err := validName(podUID); err != nil {
		return fmt.Errorf("sandbox: pod uid: %w", err)
	}
	r.sandboxMu.Lock()
	defer r.sandboxMu.Unlock()
	path := r.netnsPath(podUID)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && !errors.Is(err, unix.EINVAL) && !errors.Is(err, unix.ENOENT) {
		return fmt.Errorf("remove sandbox %s: %w", podUID, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove sandbox %s: %w", podUID, err)
	}
	return nil
}

// runningNetNS returns /proc/<pid>/ns/net of a running container of the
// pod that has a network namespace of its own, or "" when none runs.
func (r *Runtime) runningNetNS(ctx context.Context, podUID string) (string, error) {
	ctx = r.ctx(ctx)
	ctrs, err := r.client.Containers(ctx, fmt.Sprintf("labels.%q==%q", labelPodUID, podUID))
	if err != nil {
		return "", fmt.Errorf("list the pod's containers: %w", err)
	}
	host, err := hostNetNS()
	if err != nil {
		return "", err
	}
	for _, ctr := range ctrs {
		task, err := ctr.Task(ctx, nil)
		if err != nil {
			continue // no task, or gone meanwhile
		}
		st, err := task.Status(ctx)
		if err != nil || st.Status != containerd.Running && st.Status != containerd.Paused {
			continue
		}
		src := fmt.Sprintf("/proc/%d/ns/net", task.Pid())
		var ns unix.Stat_t
		if unix.Stat(src, &ns) != nil || ns.Ino == host.Ino && ns.Dev == host.Dev {
			continue // exited meanwhile, or shares the host's network
		}
		return src, nil
	}
	return "", nil
}

// hostNetNS stats the network namespace the agent's threads run in. It
// reads the calling thread's own (/proc/thread-self), not /proc/self,
// which is the main thread's and may have been left in another namespace.
func hostNetNS() (unix.Stat_t, error) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var host unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/net", &host); err != nil {
		return host, fmt.Errorf("host network namespace: %w", err)
	}
	return host, nil
}

func (r *Runtime) netnsPath(podUID string) string {
	return filepath.Join(r.cfg.StateDir, "netns", podUID)
}

// isNetNS reports whether path is a namespace bind mount.
func isNetNS(path string) bool {
	var st unix.Statfs_t
	return unix.Statfs(path, &st) == nil && st.Type == unix.NSFS_MAGIC
}

// newNetNS creates a network namespace on a thread of its own, binds it
// onto path and brings its loopback up, then moves the thread back to the
// namespace it came from. If that fails the thread is left locked, so Go
// discards it instead of reusing it in the wrong namespace. Going back
// matters: when the goroutine happens to run on the main thread, a locked
// exit wedges that thread in the pod's namespace for good, and /proc/self
// (the main thread) then names the pod's namespace instead of the host's.
func newNetNS(path string) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			errc <- fmt.Errorf("network namespace of the thread: %w", err)
			return
		}
		defer func() {
			if unix.Setns(orig, unix.CLONE_NEWNET) == nil {
				runtime.UnlockOSThread()
			}
			unix.Close(orig)
		}()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			errc <- fmt.Errorf("unshare network namespace: %w", err)
			return
		}
		src := fmt.Sprintf("/proc/self/task/%d/ns/net", unix.Gettid())
		if err := unix.Mount(src, path, "", unix.MS_BIND, ""); err != nil {
			errc <- fmt.Errorf("bind network namespace: %w", err)
			return
		}
		errc <- loopbackUp()
	}()
	return <-errc
}

// loopbackUp sets IFF_UP on lo in the calling thread's network namespace.
func loopbackUp() error {
	fd, err := unix.Socket(unix.AF_INET, unix.SOCK_DGRAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer unix.Close(fd)
	ifr, err := unix.NewIfreq("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := unix.IoctlIfreq(fd, unix.SIOCGIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback flags: %w", err)
	}
	ifr.SetUint16(ifr.Uint16() | unix.IFF_UP)
	if err := unix.IoctlIfreq(fd, unix.SIOCSIFFLAGS, ifr); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// validName rejects names that could escape a directory or break an ID.
func validName(s string) error {
	if s == "" || s == "." || s == ".." || len(s) > 128 {
		return fmt.Errorf("invalid name %q", s)
	}
	for _, c := range s {
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.'
		if !ok {
			return fmt.Errorf("invalid name %q", s)
		}
	}
	return nil
}
