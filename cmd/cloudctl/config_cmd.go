package main

import (
	"bufio"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"

	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
	"sigs.k8s.io/yaml"
)

// newConfigCommand groups the verbs that read and edit the config file.
// They never contact the server.
func newConfigCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "config",
		Short: "View and edit the cloudctl config file",
		Long: `View and edit the cloudctl config file: its contexts, each naming a server,
the certificate authority that signs the server's certificate, a token and a
default namespace, and the current context.

The file is --config, else $CLOUDCTL_CONFIG, else cloudctl/config in the
user's config directory (e.g. ~/.config/cloudctl/config). It is written
with mode 0600 since it holds tokens.`,
		Example: `  # Add a context and make it current
  cloudctl config set-context prod --server https://10.0.0.1:6443 --certificate-authority ca.pem --token-file token
  cloudctl config use-context prod

  # Show the contexts
  cloudctl config get-contexts`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	cmd.AddCommand(
		newConfigViewOptions(root).command(),
		newConfigGetContextsCommand(root),
		newConfigCurrentContextCommand(root),
		newConfigUseContextCommand(root),
		newConfigSetContextOptions(root).command(),
		newConfigDeleteContextCommand(root),
	)
	return cmd
}

// configViewOptions is `cloudctl config view`.
type configViewOptions struct {
	root *rootOptions
	raw  bool
}

func newConfigViewOptions(root *rootOptions) *configViewOptions {
	return &configViewOptions{root: root}
}

func (o *configViewOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "view",
		Short: "Print the config file, with secrets hidden",
		Long: `Print the config file as YAML. Tokens read REDACTED and certificate
authority data DATA+OMITTED unless --raw is given.`,
		Example: `  # Show the config
  cloudctl config view

  # Show it with its secrets, e.g. to copy it
  cloudctl config view --raw`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error { return o.run() },
	}
	cmd.Flags().BoolVar(&o.raw, "raw", false, "print tokens and certificate data as they are")
	return cmd
}

func (o *configViewOptions) run() error {
	f, _, err := o.root.loadConfig()
	if err != nil {
		return err
	}
	if !o.raw {
		f = f.Redacted()
	}
	data, err := yaml.Marshal(f)
	if err != nil {
		return fmt.Errorf("encode config: %w", err)
	}
	_, err = o.root.out.Write(data)
	return err
}

func newConfigGetContextsCommand(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:   "get-contexts",
		Short: "List the contexts of the config file",
		Long:  `List the contexts of the config file; the current one is marked with *.`,
		Example: `  # List the contexts
  cloudctl config get-contexts`,
		Args: noArgs,
		RunE: func(*cobra.Command, []string) error {
			f, _, err := root.loadConfig()
			if err != nil {
				return err
			}
			t := newTable(root.out)
			t.add("CURRENT", "NAME", "SERVER", "NAMESPACE")
			for _, c := range f.Contexts {
				cur := ""
				if c.Name == f.CurrentContext {
					cur = "*"
				}
				t.add(cur, c.Name, c.Context.Server, c.Context.Namespace)
			}
			return t.flush()
		},
	}
}

func newConfigCurrentContextCommand(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "current-context",
		Short:   "Print the name of the current context",
		Long:    `Print the name of the current context.`,
		Example: `  cloudctl config current-context`,
		Args:    noArgs,
		RunE: func(*cobra.Command, []string) error {
			f, _, err := root.loadConfig()
			if err != nil {
				return err
			}
			if f.CurrentContext == "" {
				return errors.New("current-context is not set")
			}
			_, err = fmt.Fprintln(root.out, f.CurrentContext)
			return err
		},
	}
}

func newConfigUseContextCommand(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "use-context NAME",
		Short:   "Make a context the current one",
		Long:    `Make the context NAME the current one: later commands use its server, token and namespace.`,
		Example: `  cloudctl config use-context prod`,
		Args:    exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			f, path, err := root.loadConfig()
			if err != nil {
				return err
			}
			if contextIndex(f, args[0]) < 0 {
				return fmt.Errorf("no context exists with the name: %q", args[0])
			}
			f.CurrentContext = args[0]
			if err := f.Save(path); err != nil {
				return err
			}
			fmt.Fprintf(root.out, "Switched to context %q.\n", args[0])
			return nil
		},
	}
}

func newConfigDeleteContextCommand(root *rootOptions) *cobra.Command {
	return &cobra.Command{
		Use:     "delete-context NAME",
		Short:   "Remove a context from the config file",
		Long:    `Remove the context NAME from the config file. Removing the current context leaves no context current.`,
		Example: `  cloudctl config delete-context old-lab`,
		Args:    exactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			f, path, err := root.loadConfig()
			if err != nil {
				return err
			}
			i := contextIndex(f, args[0])
			if i < 0 {
				return fmt.Errorf("cannot delete context %q: not in %s", args[0], path)
			}
			f.Contexts = append(f.Contexts[:i], f.Contexts[i+1:]...)
			wasCurrent := f.CurrentContext == args[0]
			if wasCurrent {
				f.CurrentContext = ""
			}
			if err := f.Save(path); err != nil {
				return err
			}
			if wasCurrent {
				fmt.Fprintln(root.errOut, `warning: this removed your current context; use "cloudctl config use-context" to select another one`)
			}
			fmt.Fprintf(root.out, "deleted context %s from %s\n", args[0], path)
			return nil
		},
	}
}

// contextIndex finds a context by name, -1 if absent.
func contextIndex(f *client.ConfigFile, name string) int {
	for i, c := range f.Contexts {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// configSetContextOptions is `cloudctl config set-context`.
type configSetContextOptions struct {
	root      *rootOptions
	current   bool
	server    string
	token     string
	tokenFile string
	namespace string
	caFile    string
}

func newConfigSetContextOptions(root *rootOptions) *configSetContextOptions {
	return &configSetContextOptions{root: root}
}

func (o *configSetContextOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "set-context NAME | --current",
		Short: "Create a context or change some of its fields",
		Long: `Create the context NAME, or change the fields of it given as flags; fields
not given keep their value. A new context needs --server. When the config
file has no current context yet, the new context becomes current.

To keep the token out of the shell history, read it from a file with
--token-file (a file holding only the token; "-" is standard input).`,
		Example: `  # Add a context for a lab server
  cloudctl config set-context lab --server https://10.0.0.1:6443 --certificate-authority ca.pem --token-file ./token

  # Change the namespace of the current context
  cloudctl config set-context --current --namespace dev`,
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd, args) },
	}
	f := cmd.Flags()
	f.BoolVar(&o.current, "current", false, "change the current context")
	f.StringVar(&o.server, "server", "", "URL of the API server, like https://10.0.0.1:6443")
	f.StringVar(&o.token, "token", "", "bearer token")
	f.StringVar(&o.tokenFile, "token-file", "", "read the bearer token from this file (- for stdin)")
	f.StringVarP(&o.namespace, "namespace", "n", "", "default namespace of the context")
	f.StringVar(&o.caFile, "certificate-authority", "", "PEM file of the CA that signs the server's certificate")
	return cmd
}

func (o *configSetContextOptions) run(cmd *cobra.Command, args []string) error {
	f, path, err := o.root.loadConfig()
	if err != nil {
		return err
	}
	var name string
	switch {
	case o.current && len(args) == 0:
		if name = f.CurrentContext; name == "" {
			return errors.New("no current context is set")
		}
	case !o.current && len(args) == 1:
		name = args[0]
	default:
		return usageErrorf("give either a context NAME or --current")
	}
	ctx := client.Context{}
	i := contextIndex(f, name)
	if i >= 0 {
		ctx = f.Contexts[i].Context
	}
	if err := o.apply(cmd, &ctx); err != nil {
		return err
	}
	if ctx.Server == "" {
		return usageErrorf("context %q needs a server: pass --server", name)
	}
	f.SetContext(name, ctx)
	switched := f.CurrentContext == ""
	if switched {
		f.CurrentContext = name
	}
	if err := f.Save(path); err != nil {
		return err
	}
	verb := "modified"
	if i < 0 {
		verb = "created"
	}
	fmt.Fprintf(o.root.out, "Context %q %s.\n", name, verb)
	if switched {
		fmt.Fprintf(o.root.out, "Switched to context %q.\n", name)
	}
	return nil
}

// apply copies the flags that were given into ctx.
func (o *configSetContextOptions) apply(cmd *cobra.Command, ctx *client.Context) error {
	flags := cmd.Flags()
	if flags.Changed("server") {
		if err := checkServerURL(o.server); err != nil {
			return err
		}
		ctx.Server = o.server
	}
	if flags.Changed("token") && flags.Changed("token-file") {
		return usageErrorf("--token and --token-file are mutually exclusive")
	}
	if flags.Changed("token") {
		ctx.Token = o.token
	}
	if flags.Changed("token-file") {
		tok, err := o.readToken()
		if err != nil {
			return err
		}
		ctx.Token = tok
	}
	if flags.Changed("namespace") {
		ctx.Namespace = o.namespace
	}
	if flags.Changed("certificate-authority") {
		ca, err := readCA(o.caFile)
		if err != nil {
			return err
		}
		ctx.CertificateAuthorityData = ca
	}
	return nil
}

// readToken reads --token-file: its first line, trimmed.
func (o *configSetContextOptions) readToken() (string, error) {
	var data []byte
	var err error
	if o.tokenFile == "-" {
		line, rerr := bufio.NewReader(o.root.in).ReadString('\n')
		data, err = []byte(line), rerr
		if err != nil && line != "" {
			err = nil
		}
	} else {
		data, err = os.ReadFile(o.tokenFile)
	}
	if err != nil {
		return "", fmt.Errorf("read token: %w", err)
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" || strings.ContainsAny(tok, " \t\n") {
		return "", errors.New("read token: the token file must hold one token")
	}
	return tok, nil
}

// checkServerURL accepts http(s)://host[:port][/path] URLs.
func checkServerURL(s string) error {
	u, err := url.Parse(s)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return usageErrorf("--server %q: must be an http(s) URL like https://10.0.0.1:6443", s)
	}
	return nil
}

// readCA reads a PEM bundle and returns it base64-encoded, as the config
// file stores it.
func readCA(path string) (string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read certificate authority: %w", err)
	}
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		return "", fmt.Errorf("certificate authority %s: no PEM certificate found", path)
	}
	return base64.StdEncoding.EncodeToString(data), nil
}
