package caas

import (
	"context"
	"errors"
	"io"
	"time"
)

// Errors EnsureImage wraps so that the caller can tell why a pull failed
// (ErrImagePull reasons: not found, registry down, credentials refused).
var (
	// ErrImageNotFound: the registry answered but has no such image.
	ErrImageNotFound = errors.New("image not found")
	// ErrRegistryUnavailable: the registry could not be reached or failed.
	ErrRegistryUnavailable = errors.New("registry unavailable")
	// ErrUnauthorized: the registry refused the credentials (or their lack).
	ErrUnauthorized = errors.New("registry unauthorized")
)

// Runtime is what the node agent needs from a container engine. The
// containerd implementation lives in caas/containerd; the pod sync loop
// sees only this.
type Runtime interface {
	// Version names the engine and its version, for the Node's info.
	Version(ctx context.Context) (string, error)
	// EnsureImage makes ref available locally, pulling it when it is
	// missing or when always is set, and returns the image's digest.
	EnsureImage(ctx context.Context, ref string, always bool, auth *RegistryAuth) (string, error)
	// CreateSandbox prepares what the containers of a pod share: a network
	// namespace with loopback up. It is idempotent per pod UID.
	CreateSandbox(ctx context.Context, podUID string) (Sandbox, error)
	// RemoveSandbox releases a pod's sandbox; a missing one is not an error.
	RemoveSandbox(ctx context.Context, podUID string) error
	// StartContainer creates and starts a container and returns its ID.
	StartContainer(ctx context.Context, spec ContainerSpec) (string, error)
	// StopContainer sends SIGTERM, then SIGKILL after grace, and returns
	// once the container has stopped; a stopped or missing one is not an
	// error.
	StopContainer(ctx context.Context, id string, grace time.Duration) error
	// RemoveContainer deletes a stopped container with its task and
	// snapshot; a missing one is not an error.
	RemoveContainer(ctx context.Context, id string) error
	// ListContainers lists the containers this agent created, with their
	// state, so a restarted agent adopts them.
	ListContainers(ctx context.Context) ([]ContainerStatus, error)
	// PodContainers lists the containers of one pod.
	PodContainers(ctx context.Context, podUID string) ([]ContainerStatus, error)
	// Exec runs a process in a running container and returns its exit
	// code once it ended and its output was copied; ErrContainerNotRunning
	// when the container has no running task.
	Exec(ctx context.Context, id string, spec ExecSpec) (int, error)
	// Stats reads the cumulative counters of this agent's running
	// containers; exited ones are left out.
	Stats(ctx context.Context) ([]ContainerStats, error)
}

// ContainerStats is one container's counters at one moment, read from its
// cgroup.
type ContainerStats struct {
	ID                            string
	PodUID, PodNamespace, PodName string
	Name                          string
	// Timestamp is when the counters were read.
	Timestamp time.Time
	// CPUUsageNanos is the CPU time the container used since it started
	// (user and system), in nanoseconds.
	CPUUsageNanos uint64
	// MemoryWorkingSetBytes is memory usage less inactive file pages
	// (what the kernel could reclaim first), as Kubernetes counts it.
	MemoryWorkingSetBytes uint64
}

// StartError is StartContainer's error when the container was made but its
// process could not start (a missing command, a permission denied). The
// container is kept as an exited attempt (exit code 128, reason
// StartError), so that it counts as a restart, as in Kubernetes.
type StartError struct {
	ID  string
	Err error
}

func (e *StartError) Error() string { return "start " + e.ID + ": " + e.Err.Error() }
func (e *StartError) Unwrap() error { return e.Err }

// ErrContainerNotRunning: the container has no running process to exec in.
var ErrContainerNotRunning = errors.New("container not running")

// ExecSpec is a process to run in a running container.
type ExecSpec struct {
	Command []string
	// Env is added to the container's environment (KEY=value).
	Env []string
	// TTY gives the process a terminal (stderr then goes to Stdout).
	TTY bool
	// Stdin, Stdout and Stderr are the process's streams; nil ones are
	// closed (Stdin) or discarded.
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// RegistryAuth is a registry credential.
type RegistryAuth struct {
	Username, Password string
}

// Sandbox is what a pod's containers share.
type Sandbox struct {
	PodUID string
	// NetNSPath is the network namespace every container of the pod joins.
	NetNSPath string
}

// ContainerSpec is one container to run.
type ContainerSpec struct {
	PodUID, PodNamespace, PodName string
	Name                          string // the container's name in the pod
	Attempt                       int    // restarts so far; part of the ID
	Image                         string
	Command, Args                 []string
	Env                           []string // KEY=value
	WorkingDir                    string
	NetNSPath                     string
	// Cgroup settings from requests and limits: CPU shares from the CPU
	// request; CFS quota over period from the CPU limit; the memory limit
	// in bytes (0: none).
	CPUShares   uint64
	CPUQuota    int64
	CPUPeriod   uint64
	MemoryLimit int64
	// LogPath receives the container's stdout and stderr.
	LogPath string
}

// ContainerState is where a container is in its life.
type ContainerState string

// Container states.
const (
	ContainerCreated ContainerState = "created"
	ContainerRunning ContainerState = "running"
	ContainerExited  ContainerState = "exited"
	ContainerUnknown ContainerState = "unknown"
)

// ContainerStatus is a container as the engine reports it.
type ContainerStatus struct {
	ID                            string
	PodUID, PodNamespace, PodName string
	Name                          string
	Attempt                       int
	Image, ImageID                string
	State                         ContainerState
	ExitCode                      int32
	OOMKilled                     bool
	// Reason and Message explain an exit the exit code alone does not:
	// "StartError" for a process that could not start.
	Reason, Message       string
	StartedAt, FinishedAt time.Time
}
