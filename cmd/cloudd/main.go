// Command cloudd is the control plane: the API server over etcd (embedded
// by default, or an external cluster), with the controllers that later
// issues add.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/spf13/cobra"
	"github.com/spf13/viper"
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
		fmt.Fprintf(errOut, "cloudd: %v\n", err)
		return 1
	}
	return 0
}

func newCommand(out, errOut io.Writer) *cobra.Command {
	v := viper.New()
	o := &options{}
	cmd := &cobra.Command{
		Use:   "cloudd",
		Short: "The control plane of the hybrid cloud manager",
		Long: `cloudd serves the API over HTTPS and keeps every object in etcd.

With no --etcd-endpoints it runs an embedded etcd in --data-dir, the
single-machine default. On first start it creates a CA and a serving
certificate (in DATA-DIR/pki), the default namespace and an admin token,
and writes a ready-to-use cloudctl configuration to DATA-DIR/admin.yaml
(mode 0600).

Every flag can also be set in a config file (--config) or through the
environment as CLOUDD_<FLAG> with dashes as underscores
(CLOUDD_DATA_DIR=/var/lib/cloudd).`,
		Example: `  # Single machine, embedded etcd:
  cloudd --data-dir /var/lib/cloudd --listen 127.0.0.1:6443
  cloudctl --config /var/lib/cloudd/admin.yaml get namespaces

  # Production, an external etcd cluster:
  cloudd --data-dir /var/lib/cloudd --listen 0.0.0.0:6443 \
    --etcd-endpoints https://10.0.0.1:2379,https://10.0.0.2:2379,https://10.0.0.3:2379 \
    --etcd-cafile ca.pem --etcd-certfile client.pem --etcd-keyfile client-key.pem`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
		Args:          cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := o.load(v); err != nil {
				return err
			}
			return serve(cmd.Context(), o, errOut)
		},
	}
	cmd.SetOut(out)
	cmd.SetErr(errOut)
	o.bind(cmd, v)
	return cmd
}

// readEnv makes v read CLOUDD_<KEY> environment variables, with dashes
// and dots as underscores (CLOUDD_DATA_DIR, CLOUDD_PROVIDERS_PUBLIC_REGION).
func readEnv(v *viper.Viper) {
	v.SetEnvPrefix("CLOUDD")
	v.SetEnvKeyReplacer(strings.NewReplacer("-", "_", ".", "_"))
	v.AutomaticEnv()
}

// load reads the config file, if any, then resolves flag > env > file > default.
func (o *options) load(v *viper.Viper) error {
	readEnv(v)
	if f := v.GetString("config"); f != "" {
		v.SetConfigFile(f)
		if err := v.ReadInConfig(); err != nil {
			return fmt.Errorf("config file: %w", err)
		}
	}
	o.dataDir = v.GetString("data-dir")
	o.listen = v.GetString("listen")
	o.etcdEndpoints = v.GetStringSlice("etcd-endpoints")
	o.etcdCA = v.GetString("etcd-cafile")
	o.etcdCert = v.GetString("etcd-certfile")
	o.etcdKey = v.GetString("etcd-keyfile")
	o.insecureHTTP = v.GetBool("insecure-http")
	o.tlsSANs = v.GetStringSlice("tls-san")
	o.maxInFlight = v.GetInt("max-requests-inflight")
	o.maxBody = v.GetInt64("max-body-bytes")
	o.maxImageBytes = v.GetInt64("max-image-bytes")
	o.compactEvery = v.GetDuration("compaction-interval")
	o.shutdownGrace = v.GetDuration("shutdown-grace")
	o.logLevel = v.GetString("log-level")
	o.allInOne = v.GetBool("all-in-one")
	o.containerd = v.GetString("containerd")
	o.nodeName = v.GetString("node-name")
	o.containerdNS = v.GetString("containerd-namespace")
	o.insecureRegistries = v.GetStringSlice("insecure-registry")
	o.usageInterval = v.GetDuration("usage-interval")
	o.scheduler = v.GetBool("scheduler")
	o.controllers = v.GetBool("controllers")
	o.schedulerWorkers = v.GetInt("scheduler-workers")
	o.leaderElect = v.GetBool("leader-elect")
	o.leaderTTL = v.GetDuration("leader-elect-ttl")
	nodeLifecycleOptions.GracePeriod = v.GetDuration("node-grace-period")
	nodeLifecycleOptions.EvictionTimeout = v.GetDuration("node-eviction-timeout")
	hpaOptions.Interval = v.GetDuration("hpa-sync-period")
	if o.dataDir == "" {
		return errors.New("--data-dir is required")
	}
	if abs, err := filepath.Abs(o.dataDir); err == nil {
		o.dataDir = abs
	}
	var err error
	if o.iaas, err = readIaaSOptions(v, o.dataDir); err != nil {
		return err
	}
	if o.iaas.enabled {
		o.tlsSANs = append(o.tlsSANs, o.iaas.vmServerHost())
	}
	if o.listen == "" {
		return errors.New("--listen is required")
	}
	return nil
}
