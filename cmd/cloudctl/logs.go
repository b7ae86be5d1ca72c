package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"

	"github.com/cloudmgr/cloud/client"
)

// logsOptions is `cloudctl logs`.
type logsOptions struct {
	root      *rootOptions
	container string
	follow    bool
	tail      int64
	previous  bool
}

func newLogsOptions(root *rootOptions) *logsOptions {
	return &logsOptions{root: root, tail: -1}
}

func (o *logsOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "logs POD [-c CONTAINER]",
		Short: "Print the logs of a container in a pod",
		Long: `Print what a container of a pod wrote to stdout and stderr.

The pod's node serves the log through the tunnel its agent keeps open to
the API server. A pod with several containers needs -c. --previous reads
the attempt before a restart; -f follows the log until the container
exits or you press Ctrl-C.`,
		Example: `  # The log of the pod's only container
  cloudctl logs web

  # The last 20 lines of the sidecar, then follow
  cloudctl logs web -c sidecar --tail 20 -f

  # What the container wrote before it crashed and restarted
  cloudctl logs web --previous -n team-a`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "container to read (default: the pod's only container)")
	f.BoolVarP(&o.follow, "follow", "f", false, "stream the log as it grows, until the container exits")
	f.Int64Var(&o.tail, "tail", -1, "lines of the end of the log to show; -1 shows all")
	f.BoolVarP(&o.previous, "previous", "p", false, "print the log of the previous attempt of the container")
	return cmd
}

func (o *logsOptions) run(ctx context.Context, arg string) error {
	pod, err := podArg(arg)
	if err != nil {
		return err
	}
	if o.tail < -1 {
		return usageErrorf("--tail must be -1 (all lines) or a number of lines, got %d", o.tail)
	}
	if o.follow && o.previous {
		return usageErrorf("--follow and --previous cannot be used together: the previous attempt has ended")
	}
	ns, _, err := o.root.namespace()
	if err != nil {
		return err
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	opts := client.LogOptions{Container: o.container, Follow: o.follow, Previous: o.previous}
	if o.tail >= 0 {
		opts.TailLines = &o.tail
	}
	rc, err := c.Logs(ctx, ns, pod, opts)
	if err != nil {
		return err
	}
	defer rc.Close()
	if _, err := io.Copy(o.root.out, rc); err != nil && ctx.Err() == nil {
		return fmt.Errorf("read log: %w", err)
	}
	return nil
}

// podArg accepts POD, pod/POD or pods/POD, as kubectl does.
func podArg(arg string) (string, error) {
	kind, name, ok := strings.Cut(arg, "/")
	if !ok {
		name = arg
	} else if kind != "pod" && kind != "pods" && kind != "po" {
		return "", usageErrorf("%q: only pods have logs and exec; give POD or pod/POD", arg)
	}
	if name == "" {
		return "", usageErrorf("a pod name is required")
	}
	return name, nil
}

// exitCodeError ends cloudctl with the exit code of a remote command,
// printing nothing.
type exitCodeError struct{ code int }

func (e *exitCodeError) Error() string {
	return fmt.Sprintf("command terminated with exit code %d", e.code)
}

// exitCode returns the code an exitCodeError carries.
func exitCode(err error) (int, bool) {
	var ec *exitCodeError
	if errors.As(err, &ec) {
		return ec.code, true
	}
	return 0, false
}
