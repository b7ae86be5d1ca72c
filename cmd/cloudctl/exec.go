package main

import (
	"context"
	"io"

	"github.com/spf13/cobra"

	"github.com/cloudmgr/cloud/client"
)

// execOptions is `cloudctl exec`.
type execOptions struct {
	root      *rootOptions
	container string
	stdin     bool
}

func newExecOptions(root *rootOptions) *execOptions { return &execOptions{root: root} }

func (o *execOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "exec POD [-c CONTAINER] [-i] -- COMMAND [ARGS...]",
		Short: "Run a command in a container of a pod",
		Long: `Run a command in a running container of a pod and print its stdout and
stderr. cloudctl exits with the command's exit code.

The pod's node runs the command, reached through the tunnel its agent keeps
open to the API server. A pod with several containers needs -c. -i sends
cloudctl's standard input to the command; it ends when the input does.
There is no terminal (-t): interactive shells that need one will not work.`,
		Example: `  # List the files of the pod's only container
  cloudctl exec web -- ls /

  # Run a shell command in the sidecar; cloudctl exits 7
  cloudctl exec web -c sidecar -- sh -c 'echo hi; exit 7'

  # Feed a file to a command
  cloudctl exec -i db -- sh -c 'cat > /tmp/dump.sql' < dump.sql`,
		Args: func(cmd *cobra.Command, args []string) error {
			dash := cmd.ArgsLenAtDash()
			switch {
			case len(args) == 0:
				return usageErrorf("a pod name is required: cloudctl exec POD -- COMMAND")
			case dash < 0 && len(args) > 1:
				return usageErrorf("put the command after --: cloudctl exec %s -- %s", args[0], args[1])
			case dash > 1:
				return usageErrorf("exec takes one pod, then -- and the command; got %q before --", args[:dash])
			case len(args) < 2:
				return usageErrorf("a command is required after --: cloudctl exec %s -- COMMAND", args[0])
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0], args[1:]) },
	}
	f := cmd.Flags()
	f.StringVarP(&o.container, "container", "c", "", "container to run in (default: the pod's only container)")
	f.BoolVarP(&o.stdin, "stdin", "i", false, "pass cloudctl's standard input to the command")
	return cmd
}

func (o *execOptions) run(ctx context.Context, arg string, command []string) error {
	pod, err := podArg(arg)
	if err != nil {
		return err
	}
	ns, _, err := o.root.namespace()
	if err != nil {
		return err
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	var in io.Reader
	if o.stdin {
		in = o.root.in
	}
	code, err := c.Exec(ctx, ns, pod, client.ExecOptions{Container: o.container, Command: command}, in, o.root.out, o.root.errOut)
	if err != nil {
		return err
	}
	if code != 0 {
		return &exitCodeError{code: code}
	}
	return nil
}
