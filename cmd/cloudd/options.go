package main

import (
	"time"

	"github.com/cloudmgr/cloud/controllers/hpa"
	"github.com/cloudmgr/cloud/controllers/nodelifecycle"
	"github.com/spf13/cobra"
	"github.com/spf13/viper"
)

// options are cloudd's settings after flags, environment and config file.
type options struct {
	dataDir       string
	listen        string
	etcdEndpoints []string
	etcdCA        string
	etcdCert      string
	etcdKey       string
	insecureHTTP  bool
	tlsSANs       []string
	maxInFlight   int
	maxBody       int64
	maxImageBytes int64
	compactEvery  time.Duration
	shutdownGrace time.Duration
	logLevel      string

	allInOne           bool
	containerd         string
	containerdNS       string
	nodeName           string
	insecureRegistries []string
	usageInterval      time.Duration

	scheduler        bool
	controllers      bool
	schedulerWorkers int
	leaderElect      bool
	leaderTTL        time.Duration

	iaas iaasOptions
}

func (o *options) bind(cmd *cobra.Command, v *viper.Viper) {
	f := cmd.Flags()
	f.String("config", "", "read settings from this YAML file: keys are flag names, and `providers` declares OpenStack clouds, simulators and libvirt hypervisors (see the README)")
	f.String("data-dir", "/var/lib/cloudd", "directory for the embedded etcd, certificates and admin.yaml")
	f.String("listen", "127.0.0.1:6443", "HOST:PORT the API serves on")
	f.StringSlice("etcd-endpoints", nil, "external etcd cluster client URLs (comma-separated); empty runs an embedded etcd")
	f.String("etcd-cafile", "", "CA bundle of the external etcd cluster")
	f.String("etcd-certfile", "", "client certificate for the external etcd cluster")
	f.String("etcd-keyfile", "", "client key for the external etcd cluster")
	f.Bool("insecure-http", false, "serve plain HTTP instead of HTTPS (tests only; tokens travel in clear)")
	f.StringSlice("tls-san", nil, "extra names or IPs for the serving certificate")
	f.Int("max-requests-inflight", 400, "concurrent non-watch requests before the API answers 429")
	f.Int64("max-body-bytes", 3<<20, "largest request body accepted (413 beyond)")
	f.Int64("max-image-bytes", 4<<30, "largest image tarball 'cloudctl image load' may upload (413 beyond); images are kept under DATA-DIR/images")
	f.Duration("compaction-interval", 5*time.Minute, "how often etcd history is compacted (0 disables)")
	f.Duration("shutdown-grace", 30*time.Second, "how long in-flight requests may run on shutdown")
	f.String("log-level", "info", "debug, info, warn or error")
	f.Bool("all-in-one", false, "also run a node agent in-process against the local containerd, so this machine runs pods")
	f.String("containerd", "", "containerd socket for --all-in-one (default: the one `make deps` starts under ./.run, else /run/containerd/containerd.sock)")
	f.String("containerd-namespace", "cloudmgr", "containerd namespace of the in-process node's containers")
	f.String("node-name", "local", "name of the in-process node with --all-in-one")
	f.StringSlice("insecure-registry", []string{"127.0.0.1:5055"}, "registry hosts pulled from over plain HTTP by the in-process node")
	f.Duration("usage-interval", 10*time.Second, "how often the in-process node measures CPU and memory use and writes it to its Node (at least 1s)")
	f.Bool("scheduler", true, "run the pod scheduler in-process (through the API, with a credential of its own)")
	f.Int("scheduler-workers", 64, "bindings (and status writes) the scheduler has in flight at once, so their store round trips overlap")
	f.Bool("controllers", true, "run the workload and cluster controllers in-process (through the API, with a credential of their own)")
	f.Bool("leader-elect", true, "run the scheduler and the controllers only while this cloudd leads among those sharing the etcd cluster (with an embedded etcd it always does)")
	f.Duration("leader-elect-ttl", 5*time.Second, "lease of the leader in etcd: how long a dead leader blocks the others at most (whole seconds, at least 1s)")
	f.Duration("node-grace-period", nodelifecycle.DefaultGracePeriod, "how long a node may go without renewing its lease before it is marked Unknown and tainted unreachable")
	addIaaSFlags(f)
	addAutoscalerFlags(f)
	f.Duration("hpa-sync-period", hpa.DefaultInterval, "how often the workload autoscaler evaluates each HorizontalPodAutoscaler")
	f.Duration("node-eviction-timeout", nodelifecycle.DefaultEvictionTimeout, "how long pods stay on an unreachable or not-ready node before they are deleted (unless their tolerationSeconds say otherwise)")
	_ = v.BindPFlags(f)
}
