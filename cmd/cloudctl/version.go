package main

import (
	"context"
	"fmt"
	"net/http"

	"github.com/spf13/cobra"
)

// versionOptions is `cloudctl version`.
type versionOptions struct {
	root       *rootOptions
	clientOnly bool
}

func newVersionOptions(root *rootOptions) *versionOptions { return &versionOptions{root: root} }

func (o *versionOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "version",
		Short: "Print the client and server versions",
		Long: `Print the version of cloudctl and, from GET /version, of the API server.
When the server cannot be reached the client version is still printed and
the command fails.`,
		Example: `  # Print both versions
  cloudctl version

  # Print the client version only
  cloudctl version --client`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return o.run(cmd.Context()) },
	}
	cmd.Flags().BoolVar(&o.clientOnly, "client", false, "print the client version only")
	return cmd
}

// serverVersion is the answer of GET /version.
type serverVersion struct {
	Version   string `json:"version"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

func (o *versionOptions) run(ctx context.Context) error {
	fmt.Fprintf(o.root.out, "Client Version: %s\n", version)
	if o.clientOnly {
		return nil
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	var v serverVersion
	if err := c.Do(ctx, http.MethodGet, "/version", nil, nil, &v); err != nil {
		return fmt.Errorf("get server version: %w", err)
	}
	fmt.Fprintf(o.root.out, "Server Version: %s\n", v.Version)
	if v.GoVersion != "" || v.Platform != "" {
		fmt.Fprintf(o.root.out, "Server Go Version: %s, Platform: %s\n", v.GoVersion, v.Platform)
	}
	return nil
}
