// Command cloudctl is the command-line client of the cloudmgr control plane,
// shaped like kubectl: it applies manifests, lists, describes and deletes
// resources, manages tenants and edits its own configuration file. Every
// action goes through the cloudd HTTP API (package client).
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"
)

// version is the client version, set at build time with
// -ldflags "-X main.version=v0.1.0".
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes one cloudctl invocation and returns its exit code. It holds
// no state outside its arguments, so tests call it in-process.
func run(ctx context.Context, args []string, in io.Reader, out, errOut io.Writer) int {
	return execute(ctx, newRootOptions(in, out, errOut), args)
}

// execute runs the command tree built over o and turns the outcome into an
// exit code, printing the error the way kubectl does.
func execute(ctx context.Context, o *rootOptions, args []string) int {
	root := newRootCommand(o)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return 0
	}
	if code, ok := exitCode(err); ok {
		return code // exec: the remote command's own exit code
	}
	printError(o.errOut, err)
	var ue *usageError
	if errors.As(err, &ue) && cmd != nil {
		fmt.Fprintf(o.errOut, "\n%s", cmd.UsageString())
	}
	return 1
}

// newRootCommand wires every verb explicitly; there is no init-time
// registration.
func newRootCommand(o *rootOptions) *cobra.Command {
	root := &cobra.Command{
		Use:   "cloudctl",
		Short: "cloudctl controls the cloudmgr hybrid cloud manager",
		Long: `cloudctl controls the cloudmgr hybrid cloud manager.

It talks to the cloudd API server named by the current context of its
configuration file: --config, else $CLOUDCTL_CONFIG, else cloudctl/config
in the user's config directory (e.g. ~/.config/cloudctl/config). Every
global flag can also be set in the environment as CLOUDCTL_<FLAG>, e.g.
CLOUDCTL_NAMESPACE=dev or CLOUDCTL_REQUEST_TIMEOUT=1m.`,
		Example: `  # Create or update the resources of a manifest
  cloudctl apply -f web.yaml

  # List pods in all namespaces
  cloudctl get pods -A

  # Switch to another context
  cloudctl config use-context prod`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetIn(o.in)
	root.SetOut(o.out)
	root.SetErr(o.errOut)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err: err} })
	o.addGlobalFlags(root)

	root.AddCommand(
		newApplyOptions(o).command(),
		newCreateCommand(o),
		newGetOptions(o).command(),
		newDescribeOptions(o).command(),
		newDeleteOptions(o).command(),
		newTenantCommand(o),
		newConfigCommand(o),
		newVersionOptions(o).command(),
		newAPIResourcesOptions(o).command(),
		newNodeCommand(o),
		newHypervisorCommand(o),
		newCordonCommand(o, true),
		newCordonCommand(o, false),
		newDrainOptions(o).command(),
		newImageCommand(o),
		newTopCommand(o),
		newLogsOptions(o).command(),
		newExecOptions(o).command(),
		newScaleOptions(o).command(),
		newAutoscaleOptions(o).command(),
		newRolloutCommand(o),
		newNodePoolCommand(o),
		newAutoscalerCommand(o),
		newVMCommand(o),
	)
	return root
}
