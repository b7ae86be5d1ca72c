package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// Keys of the global settings, as flags (--namespace), viper keys and,
// upper-cased with the CLOUDCTL_ prefix, environment variables.
const (
	keyConfig         = "config"
	keyContext        = "context"
	keyNamespace      = "namespace"
	keyServer         = "server"
	keyToken          = "token"
	keyRequestTimeout = "request-timeout"
)

// rootOptions is what every command shares: the IO streams, the global
// settings (flags bound through viper to CLOUDCTL_* variables), the scheme
// and the clock. One is built per invocation.
type rootOptions struct {
	in     io.Reader
	out    io.Writer
	errOut io.Writer

	v      *viper.Viper
	scheme *api.Scheme
	// now and loc make ages and timestamps deterministic in tests.
	now func() time.Time
	loc *time.Location
}

// newRootOptions returns options reading the real clock and environment.
func newRootOptions(in io.Reader, out, errOut io.Writer) *rootOptions {
	v := viper.New()
	v.SetEnvPrefix("CLOUDCTL")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_"))
	v.AutomaticEnv()
	return &rootOptions{in: in, out: out, errOut: errOut, v: v, scheme: api.NewScheme(), now: time.Now, loc: time.Local}
}

// addGlobalFlags declares the persistent flags and binds them to viper,
// which then prefers a set flag, then the environment.
func (o *rootOptions) addGlobalFlags(root *cobra.Command) {
	f := root.PersistentFlags()
	f.String(keyConfig, "", "path of the config file (default $CLOUDCTL_CONFIG, else ~/.config/cloudctl/config or the OS equivalent)")
	f.String(keyContext, "", "name of the config context to use (default: the current context)")
	f.StringP(keyNamespace, "n", "", "namespace of the request (default: the context's namespace, else \"default\")")
	f.String(keyServer, "", "URL of the API server, overriding the context's")
	f.String(keyToken, "", "bearer token for the API server, overriding the context's")
	f.String(keyRequestTimeout, "0", "how long to wait for one request, like 30s or 2m; 0 means the client default of 30s")
	// BindPFlags fails only on a nil flag set.
	_ = o.v.BindPFlags(f)
}

// configPath is where the config file lives.
func (o *rootOptions) configPath() (string, error) {
	if p := o.v.GetString(keyConfig); p != "" {
		return p, nil
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("locate config file: %w (set --config or CLOUDCTL_CONFIG)", err)
	}
	return filepath.Join(dir, "cloudctl", "config"), nil
}

// loadConfig reads the config file; a missing file is an empty config, so
// that --server alone is enough and config set-context can create it.
func (o *rootOptions) loadConfig() (*client.ConfigFile, string, error) {
	path, err := o.configPath()
	if err != nil {
		return nil, "", err
	}
	f, err := client.LoadConfigFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return &client.ConfigFile{APIVersion: "v1", Kind: "Config"}, path, nil
	}
	if err != nil {
		return nil, "", err
	}
	return f, path, nil
}

// selectedContext is the context named by --context, else the current
// one (empty when there is none), with --server and --token applied.
func (o *rootOptions) selectedContext() (client.Context, string, error) {
	f, path, err := o.loadConfig()
	if err != nil {
		return client.Context{}, "", err
	}
	var ctx client.Context
	name := o.v.GetString(keyContext)
	if name != "" || f.CurrentContext != "" {
		c, err := f.Context(name)
		if err != nil {
			return client.Context{}, "", fmt.Errorf("%w (config file %s)", err, path)
		}
		ctx = *c
	}
	if s := o.v.GetString(keyServer); s != "" {
		ctx.Server = s
	}
	if t := o.v.GetString(keyToken); t != "" {
		ctx.Token = t
	}
	return ctx, path, nil
}

// currentContext is selectedContext, which must name a server.
func (o *rootOptions) currentContext() (client.Context, error) {
	ctx, path, err := o.selectedContext()
	if err != nil {
		return client.Context{}, err
	}
	if ctx.Server == "" {
		return client.Context{}, fmt.Errorf("no server configured in %s: run 'cloudctl config set-context NAME --server URL' or pass --server", path)
	}
	return ctx, nil
}

// client builds an API client for the current context.
func (o *rootOptions) client() (*client.Client, error) {
	ctx, err := o.currentContext()
	if err != nil {
		return nil, err
	}
	return o.clientFor(ctx)
}

// clientFor builds an API client for a resolved context.
func (o *rootOptions) clientFor(ctx client.Context) (*client.Client, error) {
	cfg, err := ctx.ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("context: %w", err)
	}
	timeout, err := parseRequestTimeout(o.v.GetString(keyRequestTimeout))
	if err != nil {
		return nil, err
	}
	cfg.Timeout = timeout
	cfg.UserAgent = "cloudctl/" + version
	c, err := client.New(cfg, o.scheme)
	if err != nil {
		return nil, fmt.Errorf("build client: %w", err)
	}
	return c, nil
}

// parseRequestTimeout reads kubectl's --request-timeout syntax: a Go
// duration, or a bare number of seconds.
func parseRequestTimeout(s string) (time.Duration, error) {
	if s == "" || s == "0" {
		return 0, nil
	}
	if n, err := strconv.Atoi(s); err == nil && n >= 0 {
		return time.Duration(n) * time.Second, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, &usageError{err: fmt.Errorf("invalid --request-timeout %q: must be a duration like 30s or 2m", s)}
	}
	return d, nil
}

// namespace is the namespace of namespaced requests: the flag or
// CLOUDCTL_NAMESPACE, else the context's, else "default". explicit says it
// came from the flag or the environment.
func (o *rootOptions) namespace() (ns string, explicit bool, err error) {
	if o.v.IsSet(keyNamespace) {
		if ns = o.v.GetString(keyNamespace); ns != "" {
			return ns, true, nil
		}
	}
	ctx, _, err := o.selectedContext()
	if err != nil {
		return "", false, err
	}
	if ctx.Namespace != "" {
		return ctx.Namespace, false, nil
	}
	return "default", false, nil
}

// lookupKind resolves a resource type typed by a user.
func (o *rootOptions) lookupKind(name string) (*api.KindInfo, error) {
	k, ok := o.scheme.Lookup(name)
	if !ok {
		known := make([]string, 0, len(o.scheme.Kinds()))
		for _, k := range o.scheme.Kinds() {
			known = append(known, k.Resource)
		}
		return nil, fmt.Errorf("the server doesn't have a resource type %q (known: %s)", name, strings.Join(known, ", "))
	}
	return k, nil
}

// kindName is how kubectl names a kind in messages and -o name output:
// "pod" for the core group, "nodepool.iaas.cloudmgr.dev" otherwise.
func kindName(k *api.KindInfo) string {
	s := k.Singular
	if s == "" {
		s = strings.ToLower(k.Kind)
	}
	if k.Group != "" {
		s += "." + k.Group
	}
	return s
}

// objectName is "pod/web", as -o name and apply print it.
func objectName(k *api.KindInfo, obj api.Object) string {
	return kindName(k) + "/" + obj.GetObjectMeta().Name
}
