// Command cloudlet is the node agent: it joins the cluster with a
// single-use join token, registers its Node, renews its lease and reports
// its conditions, runs its pods in containerd, and serves their logs and
// exec through a tunnel it opens to the API server (it listens on no port).
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is set at build time with -ldflags "-X main.version=...".
var version = "dev"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, out, errOut io.Writer) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd := newCommand(out, errOut)
	cmd.SetArgs(args)
	if err := cmd.ExecuteContext(ctx); err != nil {
		fmt.Fprintf(errOut, "cloudlet: %v\n", err)
		return 1
	}
	return 0
}

func newCommand(out, errOut io.Writer) *cobra.Command {
	return newCommandWith(&options{}, out, errOut)
}

func newCommandWith(o *options, out, errOut io.Writer) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "cloudlet",
		Short: "The node agent of the hybrid cloud manager",
		Long: `cloudlet joins a node to the cluster and keeps it known to the control plane.

On first start it exchanges a join token (minted by an operator with
'cloudctl node token create') for a node credential, which it keeps in
--state-dir (mode 0600); the join token is then used up, and later starts
use the stored credential. It registers a Node named --node-name with the
machine's CPU and memory (allocatable after --reserve-cpu and
--reserve-memory), renews the node's lease every --heartbeat-interval, and
reports Ready (or NotReady with the reason, such as ContainerdUnreachable),
MemoryPressure and DiskPressure. Every --usage-interval it measures the CPU
and memory use of the machine and of its pods from cgroup counters and
writes the node's figures to the Node's status.usage ('cloudctl top
nodes').

It runs the pods bound to the node in containerd. 'cloudctl logs',
'cloudctl exec' and 'cloudctl top pods' reach it through a tunnel that
cloudlet itself opens to the API server over its TLS connection
(reconnecting with back-off): the node may sit behind NAT, and cloudlet
listens on no port.`,
		Example: `  # On the control plane: mint a join token valid for one hour
  cloudctl node token create --ttl 1h

  # On the node:
  cloudlet --server https://10.0.0.1:6443 --ca-file ca.crt \
    --join-token cm_... --containerd /run/containerd/containerd.sock

  # On a node VM: everything from the config drive (the token stays off
  # the command line)
  cloudlet --bootstrap /mnt/cidata/bootstrap.json`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.applyBootstrap(cmd.Flags().Changed); err != nil {
				return err
			}
			return o.run(cmd.Context(), errOut)
		},
	}
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	cmd.AddCommand(&cobra.Command{
		Use:   "version",
		Short: "Print the version",
		Args:  cobra.NoArgs,
		Run:   func(*cobra.Command, []string) { fmt.Fprintf(out, "cloudlet %s\n", version) },
	})
	o.bind(cmd)
	return cmd
}
