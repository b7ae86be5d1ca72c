package containerd

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/pkg/cio"

	"github.com/cloudmgr/cloud/caas"
)

// Exec runs spec.Command in the running container id, with the
// container's environment, user and working directory, and returns the
// process's exit code once it has ended and its output has been copied.
// When ctx ends first the process is killed.
func (r *Runtime) Exec(ctx context.Context, id string, spec caas.ExecSpec) (int, error) {
	ctx = r.ctx(ctx)
	if len(spec.Command) == 0 {
		return -1, errors.New("exec: no command")
	}
	ctr, err := r.client.LoadContainer(ctx, id)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	task, err := ctr.Task(ctx, nil)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w: %w", id, caas.ErrContainerNotRunning, err)
	}
	ociSpec, err := ctr.Spec(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: spec: %w", id, err)
	}
	pspec := *ociSpec.Process
	pspec.Args = spec.Command
	pspec.Terminal = spec.TTY
	if len(spec.Env) > 0 {
		pspec.Env = append(append([]string{}, pspec.Env...), spec.Env...)
	}
	stdout, stderr := spec.Stdout, spec.Stderr
	if stdout == nil {
		stdout = io.Discard
	}
	if stderr == nil {
		stderr = io.Discard
	}
	var stdin io.Reader
	var stdinDone chan struct{}
	if spec.Stdin != nil {
		stdinDone = make(chan struct{})
		stdin = &eofReader{r: spec.Stdin, done: stdinDone}
	}
	opts := []cio.Opt{cio.WithStreams(stdin, stdout, stderr)}
	if spec.TTY {
		opts = append(opts, cio.WithTerminal)
	}
	if r.cfg.FIFODir != "" {
		opts = append(opts, cio.WithFIFODir(r.cfg.FIFODir))
	}
	execID := newExecID()
	proc, err := task.Exec(ctx, execID, &pspec, cio.NewCreator(opts...))
	if err != nil {
		return -1, fmt.Errorf("exec in %s: %w", id, err)
	}
	defer func() {
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_, _ = proc.Delete(cctx, containerd.WithProcessKill)
	}()
	exitC, err := proc.Wait(ctx)
	if err != nil {
		return -1, fmt.Errorf("exec in %s: wait: %w", id, err)
	}
	if err := proc.Start(ctx); err != nil {
		return -1, fmt.Errorf("exec in %s: start %q: %w", id, spec.Command[0], err)
	}
	if stdinDone != nil {
		// The shim keeps the stdin FIFO open: tell it the input ended.
		go func() {
			select {
			case <-stdinDone:
				_ = proc.CloseIO(ctx, containerd.WithStdinCloser)
			case <-ctx.Done():
			}
		}()
	}
	select {
	case st := <-exitC:
		code, _, err := st.Result()
		if err != nil {
			return -1, fmt.Errorf("exec in %s: %w", id, err)
		}
		// Output may still be in flight after the exit; wait for the copy.
		proc.IO().Wait()
		return int(code), nil
	case <-ctx.Done():
		cctx, cancel := cleanupContext(ctx)
		defer cancel()
		_ = proc.Kill(cctx, 9)
		return -1, fmt.Errorf("exec in %s: %w", id, ctx.Err())
	}
}

// newExecID names an exec process uniquely within its task.
func newExecID() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return "exec-" + hex.EncodeToString(b)
}

// eofReader closes done once r is exhausted.
type eofReader struct {
	r    io.Reader
	done chan struct{}
	once bool
}

func (e *eofReader) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && !e.once {
		e.once = true
		close(e.done)
	}
	return n, err
}
