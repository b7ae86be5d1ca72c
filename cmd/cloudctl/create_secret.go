package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
)

// newCreateCommand is `cloudctl create`: objects made from flags rather
// than from a manifest.
func newCreateCommand(root *rootOptions) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "create",
		Short: "Create a resource from flags (secrets)",
		Long: `Create a resource from command-line flags instead of a manifest. To create
anything from a manifest, use 'cloudctl apply -f'.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	secret := &cobra.Command{
		Use:   "secret",
		Short: "Create a secret",
		Args:  noArgs,
		RunE:  func(cmd *cobra.Command, _ []string) error { return cmd.Help() },
	}
	secret.AddCommand(newCreateDockerRegistryOptions(root).command())
	cmd.AddCommand(secret)
	return cmd
}

// createDockerRegistryOptions is `cloudctl create secret docker-registry`.
type createDockerRegistryOptions struct {
	root          *rootOptions
	server        string
	username      string
	password      string
	passwordStdin bool
	email         string
}

func newCreateDockerRegistryOptions(root *rootOptions) *createDockerRegistryOptions {
	return &createDockerRegistryOptions{root: root}
}

func (o *createDockerRegistryOptions) command() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "docker-registry NAME --docker-username=USER (--docker-password=PASSWORD | --docker-password-stdin) [--docker-server=HOST] [--docker-email=EMAIL]",
		Short: "Create a secret with registry credentials, for pods' imagePullSecrets",
		Long: `Create a secret of type kubernetes.io/dockerconfigjson holding the login
of one image registry, as 'kubectl create secret docker-registry' does. A
pod that names it in spec.imagePullSecrets pulls its images from that
registry with this login.

The password is stored in the secret and never printed. Prefer
--docker-password-stdin to keep it out of the shell history and the
process list.`,
		Example: `  # Credentials for a private registry, used by pods in namespace dev
  cloudctl create secret docker-registry regcred -n dev \
    --docker-server=registry.example.com:5000 --docker-username=ci --docker-password="$PASS"

  # The same, reading the password from stdin
  printf '%s' "$PASS" | cloudctl create secret docker-registry regcred \
    --docker-server=registry.example.com:5000 --docker-username=ci --docker-password-stdin`,
		Args: exactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error { return o.run(cmd.Context(), args[0]) },
	}
	f := cmd.Flags()
	f.StringVar(&o.server, "docker-server", "https://index.docker.io/v1/", "server location of the registry (host[:port])")
	f.StringVar(&o.username, "docker-username", "", "user name for the registry")
	f.StringVar(&o.password, "docker-password", "", "password for the registry")
	f.BoolVar(&o.passwordStdin, "docker-password-stdin", false, "read the password from stdin")
	f.StringVar(&o.email, "docker-email", "", "email for the registry (optional)")
	return cmd
}

func (o *createDockerRegistryOptions) run(ctx context.Context, name string) error {
	if msgs := api.IsDNS1123Subdomain(name); len(msgs) > 0 {
		return usageErrorf("invalid secret name %q: %s", name, strings.Join(msgs, "; "))
	}
	if o.passwordStdin {
		if o.password != "" {
			return usageErrorf("--docker-password and --docker-password-stdin are mutually exclusive")
		}
		line, err := bufio.NewReader(o.root.in).ReadString('\n')
		if err != nil && line == "" {
			return usageErrorf("--docker-password-stdin: no password on stdin")
		}
		o.password = strings.TrimRight(line, "\r\n")
	}
	switch {
	case o.server == "":
		return usageErrorf("--docker-server must not be empty")
	case o.username == "":
		return usageErrorf("--docker-username is required")
	case o.password == "":
		return usageErrorf("--docker-password (or --docker-password-stdin) is required")
	}
	ns, _, err := o.root.namespace()
	if err != nil {
		return err
	}
	cfg, err := dockerConfigJSON(o.server, o.username, o.password, o.email)
	if err != nil {
		return err
	}
	s := &api.Secret{
		ObjectMeta: api.ObjectMeta{Name: name, Namespace: ns},
		Type:       api.SecretTypeDockerConfigJSON,
		Data:       map[string][]byte{api.DockerConfigJSONKey: cfg},
	}
	c, err := o.root.client()
	if err != nil {
		return err
	}
	if _, err := client.For[api.Secret](c).Create(ctx, s); err != nil {
		return err
	}
	fmt.Fprintf(o.root.out, "secret/%s created\n", name)
	return nil
}

// dockerConfigJSON is a ~/.docker/config.json with one login, in the shape
// kubectl writes: user name, password and their base64 "auth" together.
func dockerConfigJSON(server, user, password, email string) ([]byte, error) {
	type entry struct {
		Username string `json:"username"`
		Password string `json:"password"`
		Email    string `json:"email,omitempty"`
		Auth     string `json:"auth"`
	}
	auth := base64.StdEncoding.EncodeToString([]byte(user + ":" + password))
	data, err := json.Marshal(map[string]map[string]entry{"auths": {server: {Username: user, Password: password, Email: email, Auth: auth}}})
	if err != nil {
		return nil, fmt.Errorf("encode registry credentials: %w", err)
	}
	return data, nil
}
