// Package containerd implements caas.Runtime over the containerd v2 client.
// It works against containerd 1.6 and later: it uses only the services 1.6
// has (containers, tasks, images, content, snapshots, events), pulls in
// process through the docker resolver, runs every container with runc v2
// and writes its output straight to a log file from the shim, so that a
// restarted agent needs no FIFOs to adopt running containers.
package containerd

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/remotes/docker"
	"github.com/containerd/containerd/v2/pkg/namespaces"
	"google.golang.org/grpc"
	"google.golang.org/grpc/backoff"

	"github.com/cloudmgr/cloud/caas"
)

// DefaultNamespace is the containerd namespace the runtime works in when
// Config names none.
const DefaultNamespace = "cloudmgr"

// Config says which containerd to use and where local state goes.
type Config struct {
	// Socket is containerd's gRPC socket.
	Socket string
	// Namespace is the containerd namespace of every object the runtime
	// makes (DefaultNamespace when empty).
	Namespace string
	// Snapshotter unpacks images and holds container root filesystems
	// (containerd's default when empty).
	Snapshotter string
	// RuncRoot is runc's state directory (runc's default when empty).
	RuncRoot string
	// FIFODir is where I/O FIFOs would go. Nothing uses it yet: the shim
	// writes container output straight to ContainerSpec.LogPath, so no
	// FIFOs are made; it is kept for attach and exec.
	FIFODir string
	// StateDir holds the runtime's own state: network namespace bind
	// mounts under netns/.
	StateDir string
	// LogDriver is the absolute path of an executable that runs
	// RunLogDriver when called as `LogDriver log-driver FILE` (cloudlet
	// and cloudd do). When empty, containerd's own file logging is used,
	// which can lose the end of stderr.
	LogDriver string
	// PlainHTTPRegistries are registry hosts (host:port) pulled from over
	// plain HTTP instead of HTTPS.
	PlainHTTPRegistries []string
	// Mirror, when set, pulls through the control plane first (images
	// loaded with `cloudctl image load`), then from the image's registry.
	Mirror *MirrorConfig
}

// Runtime is a caas.Runtime backed by containerd. It is safe for
// concurrent use.
type Runtime struct {
	cfg    Config
	client *containerd.Client
	oom    *oomWatcher
	mirror *docker.RegistryHost // nil: no mirror

	// sandboxMu makes creating and removing network namespaces atomic.
	sandboxMu sync.Mutex
}

var _ caas.Runtime = (*Runtime)(nil)

// New connects to containerd and checks that it answers. The connection
// is re-established by itself when containerd restarts; meanwhile calls
// wait for it until their context ends, so callers should pass contexts
// with deadlines.
func New(cfg Config) (*Runtime, error) {
	if cfg.Socket == "" {
		return nil, errors.New("containerd: no socket given")
	}
	if abs, err := filepath.Abs(cfg.Socket); err == nil {
		cfg.Socket = abs // gRPC reads a relative unix path as a URL authority
	}
	if cfg.Namespace == "" {
		cfg.Namespace = DefaultNamespace
	}
	if cfg.LogDriver != "" && !filepath.IsAbs(cfg.LogDriver) {
		return nil, fmt.Errorf("containerd: log driver %q: must be an absolute path", cfg.LogDriver)
	}
	mirror, err := mirrorHost(cfg.Mirror)
	if err != nil {
		return nil, fmt.Errorf("containerd: %w", err)
	}
	if cfg.StateDir == "" {
		return nil, errors.New("containerd: no state directory given")
	}
	if err := os.MkdirAll(filepath.Join(cfg.StateDir, "netns"), 0o755); err != nil {
		return nil, fmt.Errorf("containerd: state directory: %w", err)
	}
	// After a containerd restart gRPC redials with exponential backoff; cap
	// it at a second, and let calls wait for the connection (within their
	// context's deadline) instead of failing while it is re-established.
	reconnect := grpc.WithConnectParams(grpc.ConnectParams{
		Backoff:           backoff.Config{BaseDelay: 100 * time.Millisecond, Multiplier: 1.6, Jitter: 0.2, MaxDelay: time.Second},
		MinConnectTimeout: 5 * time.Second,
	})
	c, err := containerd.New(cfg.Socket, containerd.WithTimeout(10*time.Second),
		containerd.WithDefaultNamespace(cfg.Namespace),
		containerd.WithExtraDialOpts([]grpc.DialOption{reconnect}),
		containerd.WithCallOpts([]grpc.CallOption{grpc.WaitForReady(true)}))
	if err != nil {
		return nil, fmt.Errorf("containerd: connect to %s: %w", cfg.Socket, err)
	}
	vctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := c.Version(vctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("containerd: %s does not answer: %w", cfg.Socket, err)
	}
	r := &Runtime{cfg: cfg, client: c, mirror: mirror}
	r.oom = startOOMWatcher(c, cfg.Namespace)
	return r, nil
}

// Close stops watching events and closes the connection to containerd.
// Containers keep running.
func (r *Runtime) Close() error {
	r.oom.stop()
	return r.client.Close()
}

// Version returns "containerd://<version>".
func (r *Runtime) Version(ctx context.Context) (string, error) {
	v, err := r.client.Version(r.ctx(ctx))
	if err != nil {
		return "", fmt.Errorf("containerd version: %w", err)
	}
	return "containerd://" + v.Version, nil
}

// ctx puts the runtime's namespace on ctx.
func (r *Runtime) ctx(ctx context.Context) context.Context {
	return namespaces.WithNamespace(ctx, r.cfg.Namespace)
}
