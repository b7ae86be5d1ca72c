package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
)

// newTenantCommand groups the tenant verbs.
func newTenantCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "tenant",
		Short: "Create, list and delete tenants (administrators only)",
		Long: `Manage tenants: the organizations using the cloud. Creating a tenant also
creates its namespace and issues its token; tenants see only their own
namespaces.`,
		Example: `  # Create a tenant and write a config file its users can use
  cloudctl tenant create acme --display-name "ACME Corp" --write-config acme.config

  # List tenants
  cloudctl tenant list`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newTenantCreateOptions(root).command(),
		newTenantListCommand(root),
		newTenantDeleteCommand(root),
	)
	return cmd
}

// tenantCreateOptions is `cloudctl tenant create`.
type tenantCreateOptions struct {
	root        *rootOptions
	displayName string
	writeConfig string
}

func newTenantCreateOptions(root *rootOptions) *tenantCreateOptions {
	return &tenantCreateOptions{root: root}
}

func (o *tenantCreateOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create NAME",
		Short: "Create a tenant, its namespace and its token",
		Long: `Create a tenant named NAME. The server creates its namespace, also named
NAME and labelled cloudmgr.dev/tenant=NAME, and then issues a token for it.

The token is printed once and cannot be read back later. With
--write-config the token is not printed; instead a config file is written
(mode 0600) with one context named NAME that talks to the same server, with
the same certificate authority, as the current context, using the tenant's
token and namespace. The file must not exist yet.`,
		Example: `  # Create a tenant and print its token
  cloudctl tenant create acme --display-name "ACME Corp"

  # Create a tenant and hand its users a ready config file
  cloudctl tenant create acme --write-config ./acme.config
  cloudctl --config ./acme.config get pods`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
	cmd.Flags().StringVar(&o.displayName, "display-name", "", "human-readable name of the tenant")
	cmd.Flags().StringVar(&o.writeConfig, "write-config", "", "write a config file for the tenant to this path instead of printing the token")
	return cmd
}

// tokenResponse is the answer of POST /api/v1/tenants/NAME/token.
type tokenResponse struct {
	Token     string `json:"token"`
	Namespace string `json:"namespace"`
}

func (o *tenantCreateOptions) run(ctx context.Context, name string) error {
	if o.writeConfig != "" {
		_, err := os.Stat(o.writeConfig)
		if err == nil {
			return fmt.Errorf("--write-config %s: the file already exists; choose a new path", o.writeConfig)
		}
		if !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("--write-config: %w", err)
		}
	}
	cctx, err := o.root.currentContext()
	if err != nil {
		return err
	}
	c, err := o.root.clientFor(cctx)
	if err != nil {
		return err
	}
	tk, err := o.root.lookupKind(api.KindTenant)
	if err != nil {
		return err
	}
	t := tk.New().(*api.Tenant)
	t.Name = name
	t.Spec.DisplayName = o.displayName
	if err := c.Create(ctx, t); err != nil {
		return err
	}
	tok, err := issueToken(ctx, c, tk, name)
	if err != nil {
		// A tenant nobody can log in as is useless: undo it.
		if derr := c.Delete(ctx, tk, "", name, client.DeleteOptions{}, nil); derr != nil {
			return fmt.Errorf("issue token for tenant %q: %w; deleting the tenant again also failed: %v", name, err, derr)
		}
		return fmt.Errorf("issue token for tenant %q: %w (the tenant was deleted again)", name, err)
	}
	fmt.Fprintf(o.root.out, "tenant/%s created\n", name)
	fmt.Fprintf(o.root.out, "namespace: %s\n", tok.Namespace)
	if o.writeConfig == "" {
		o.printToken(cctx, name, tok)
		return nil
	}
	cfg := client.NewConfigFile(name, client.Context{
		Server:                   cctx.Server,
		CertificateAuthorityData: cctx.CertificateAuthorityData,
		Token:                    tok.Token,
		Namespace:                tok.Namespace,
	})
	if err := cfg.Save(o.writeConfig); err != nil {
		// The token cannot be issued twice: hand it out rather than lose it.
		o.printToken(cctx, name, tok)
		return fmt.Errorf("write tenant config: %w", err)
	}
	fmt.Fprintf(o.root.out, "config written to %s (use it with --config %s or CLOUDCTL_CONFIG)\n", o.writeConfig, o.writeConfig)
	return nil
}

// issueToken asks the server for the tenant's token.
func issueToken(ctx context.Context, c *client.Client, tk *api.KindInfo, name string) (tokenResponse, error) {
	var tok tokenResponse
	if err := c.Do(ctx, http.MethodPost, tk.Path("", name)+"/token", nil, map[string]any{}, &tok); err != nil {
		return tokenResponse{}, err
	}
	if tok.Token == "" {
		return tokenResponse{}, errors.New("the server answered without a token")
	}
	if tok.Namespace == "" {
		tok.Namespace = name
	}
	return tok, nil
}

// printToken shows the token, the one time cloudctl ever prints a secret.
func (o *tenantCreateOptions) printToken(cctx client.Context, name string, tok tokenResponse) {
	fmt.Fprintf(o.root.out, "token: %s\n", tok.Token)
	fmt.Fprintf(o.root.errOut, `
WARNING: this token is shown only once and cannot be retrieved later; store it now.
To use it:
  cloudctl config set-context %s --server %s --namespace %s --token <TOKEN>
`, name, cctx.Server, tok.Namespace)
}

// newTenantListCommand is `cloudctl tenant list`, short for `get tenants`.
func newTenantListCommand(root *rootOptions) *cobra.Command {
	g := newGetOptions(root)
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List tenants (same as 'get tenants')",
		Long:    `List tenants with their namespaces. It is 'cloudctl get tenants' and takes the same flags.`,
		Example: `  # List tenants
  cloudctl tenant list

  # List tenant names only
  cloudctl tenant list -o name`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return g.run(cmd.Context(), []string{"tenants"}) },
	}
	g.addFlags(cmd.Flags())
	return cmd
}

// newTenantDeleteCommand is `cloudctl tenant delete`, short for `delete tenant`.
func newTenantDeleteCommand(root *rootOptions) *cobra.Command {
	d := newDeleteOptions(root)
	cmd := &cobra.Command{
		Use:   "delete NAME...",
		Short: "Delete tenants (same as 'delete tenant NAME')",
		Long: `Delete tenants. The server then deletes their namespaces and everything in
them, and their tokens stop working.`,
		Example: `  # Delete a tenant
  cloudctl tenant delete acme`,
		Args: minArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := root.client()
			if err != nil {
				return err
			}
			tk, err := root.lookupKind(api.KindTenant)
			if err != nil {
				return err
			}
			targets := make([]deleteTarget, len(args))
			for i, name := range args {
				targets[i] = deleteTarget{kind: tk, name: name}
			}
			return d.deleteAll(cmd.Context(), c, targets)
		},
	}
	cmd.Flags().BoolVar(&d.ignoreNotFound, "ignore-not-found", false, "succeed for tenants that do not exist")
	return cmd
}
