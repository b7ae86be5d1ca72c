package main

import (
	"context"
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

// newNodeCommand is `cloudctl node`: operator tasks on nodes.
func newNodeCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "node",
		Short: "Operator tasks on nodes: join tokens (administrators only)",
		Long: `Operator tasks on nodes. To add a node, mint a join token here and start
cloudlet on the node with it; see 'cloudctl node token create --help'.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	token := &cobra.Command{
		Use:   "token",
		Short: "Mint join tokens for new nodes",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	token.AddCommand(newNodeTokenCreateOptions(root).command())
	cmd.AddCommand(token)
	return cmd
}

// nodeTokenCreateOptions is `cloudctl node token create`.
type nodeTokenCreateOptions struct {
	root *rootOptions
	ttl  time.Duration
	node string
}

func newNodeTokenCreateOptions(root *rootOptions) *nodeTokenCreateOptions {
	return &nodeTokenCreateOptions{root: root}
}

func (o *nodeTokenCreateOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Mint a single-use join token",
		Long: `Mint a join token: a secret that lets one cloudlet join the cluster once,
before it expires (--ttl). The node exchanges it for a credential that can
act only on its own Node and the pods bound to it. The token is printed
once; pass it to cloudlet with --join-token (or $CLOUDLET_JOIN_TOKEN).
--node binds the token to one node name.`,
		Example: `  # A token valid for 30 minutes
  cloudctl node token create --ttl 30m

  # A token only node worker-3 can use
  cloudctl node token create --node worker-3`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().DurationVar(&o.ttl, "ttl", time.Hour, "how long the token may be used (at most 168h)")
	cmd.Flags().StringVar(&o.node, "node", "", "the only node name the token may join as")
	return cmd
}

func (o *nodeTokenCreateOptions) run(ctx context.Context) error {
	if o.ttl < time.Second || o.ttl > 7*24*time.Hour {
		return usageErrorf("--ttl must be between 1s and 168h")
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	tok, err := c.CreateJoinToken(ctx, o.ttl, o.node)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.root.out, tok.Token)
	fmt.Fprintf(o.root.errOut, "join token expires %s; it works once. Start the node with:\n  cloudlet --server %s --ca-file CA.crt --join-token <token>\n",
		tok.ExpirationTimestamp.Format(time.RFC3339), c.Server())
	return nil
}
