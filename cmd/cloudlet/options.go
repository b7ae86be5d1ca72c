package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/caas"
	cd "github.com/cloudmgr/cloud/caas/containerd"
	"github.com/cloudmgr/cloud/client"
)

// options are cloudlet's flags.
type options struct {
	server       string
	caFile       string
	joinToken    string
	bootstrap    string
	caData       []byte // the CA from --bootstrap when --ca-file is not given
	containerd   string
	stateDir     string
	nodeName     string
	nodeIP       string
	hypervisor   string
	zone         string
	labels       []string
	reserveCPU   string
	reserveMem   string
	snapshotter  string
	namespace    string
	insecure     []string
	heartbeat    time.Duration
	statusPeriod time.Duration
	usagePeriod  time.Duration
	backoffBase  time.Duration
	backoffMax   time.Duration
	logLevel     string
}

func (o *options) bind(cmd *cobra.Command) {
	host, _ := os.Hostname()
	f := cmd.Flags()
	f.StringVar(&o.server, "server", "", "URL of the API server, e.g. https://10.0.0.1:6443 (required on first start)")
	f.StringVar(&o.caFile, "ca-file", "", "CA certificate of the API server (PEM)")
	f.StringVar(&o.joinToken, "join-token", "", "single-use join token (needed only until the node has a credential); also $CLOUDLET_JOIN_TOKEN")
	f.StringVar(&o.bootstrap, "bootstrap", "", "JSON file with the server, CA, join token, node name, labels and hypervisor (api.NodeBootstrap, as on a node VM's config drive); flags given explicitly win over it")
	f.StringVar(&o.containerd, "containerd", "/run/containerd/containerd.sock", "containerd socket")
	f.StringVar(&o.snapshotter, "snapshotter", "overlayfs", "containerd snapshotter for container root filesystems")
	f.StringVar(&o.namespace, "containerd-namespace", cd.DefaultNamespace, "containerd namespace of the pods' containers")
	f.StringSliceVar(&o.insecure, "insecure-registry", nil, "registry hosts (host:port) pulled from over plain HTTP")
	f.StringVar(&o.stateDir, "state-dir", "/var/lib/cloudlet", "where the node credential and state are kept")
	f.StringVar(&o.nodeName, "node-name", strings.ToLower(host), "name of the Node")
	f.StringVar(&o.nodeIP, "node-ip", "", "address to report (default: the first non-loopback IPv4 address)")
	f.StringVar(&o.hypervisor, "hypervisor", "", "physical host (hypervisor) this node runs on, set as the topology.cloud/hypervisor label: the scheduler spreads replicas across hypervisors")
	f.StringVar(&o.zone, "zone", "", "failure zone of this node, set as the topology.kubernetes.io/zone label")
	f.StringSliceVar(&o.labels, "labels", nil, "extra node labels, key=value,...")
	f.StringVar(&o.reserveCPU, "reserve-cpu", "100m", "CPU kept back from allocatable for the system")
	f.StringVar(&o.reserveMem, "reserve-memory", "256Mi", "memory kept back from allocatable for the system")
	f.DurationVar(&o.heartbeat, "heartbeat-interval", 5*time.Second, "how often the lease is renewed and conditions checked")
	f.DurationVar(&o.statusPeriod, "status-period", time.Minute, "how often the node status is written when nothing changed")
	f.DurationVar(&o.backoffBase, "restart-backoff", 10*time.Second, "delay before restarting a container that exited or failed to start; it doubles with each restart up to --restart-backoff-max (CrashLoopBackOff), and image pulls back off the same way")
	f.DurationVar(&o.backoffMax, "restart-backoff-max", 5*time.Minute, "longest delay between restarts of a crashing container")
	f.DurationVar(&o.usagePeriod, "usage-interval", 10*time.Second, "how often CPU and memory use is measured from cgroup counters and written to the Node's status.usage (at least 1s)")
	f.StringVar(&o.logLevel, "log-level", "info", "debug, info, warn or error")
}

// applyBootstrap fills the settings --bootstrap holds that were not given
// as flags (changed reports whether a flag was set explicitly). Labels
// from the file are kept unless a --labels entry sets the same key.
func (o *options) applyBootstrap(changed func(string) bool) error {
	if o.bootstrap == "" {
		return nil
	}
	data, err := os.ReadFile(o.bootstrap)
	if err != nil {
		return fmt.Errorf("--bootstrap: %w", err)
	}
	var b api.NodeBootstrap
	if err := json.Unmarshal(data, &b); err != nil {
		// The error names a position, never the file's content.
		return fmt.Errorf("--bootstrap %s: %w", o.bootstrap, err)
	}
	set := func(flag string, dst *string, v string) {
		if v != "" && !changed(flag) {
			*dst = v
		}
	}
	set("server", &o.server, b.Server)
	set("join-token", &o.joinToken, b.JoinToken)
	set("node-name", &o.nodeName, b.NodeName)
	set("hypervisor", &o.hypervisor, b.Hypervisor)
	set("zone", &o.zone, b.Zone)
	if b.CA != "" && !changed("ca-file") {
		o.caData = []byte(b.CA)
	}
	if !changed("insecure-registry") {
		o.insecure = append(o.insecure, b.InsecureRegistries...)
	}
	keys := make([]string, 0, len(b.Labels))
	for k := range b.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var fromFile []string
	for _, k := range keys {
		fromFile = append(fromFile, k+"="+b.Labels[k])
	}
	// parseLabels lets a later entry win: the flags come last.
	o.labels = append(fromFile, o.labels...)
	return nil
}

// credential is what the node keeps after joining.
type credential struct {
	Server   string `json:"server"`
	NodeName string `json:"nodeName"`
	Token    string `json:"token"`
	// CA is the server's CA certificate (PEM) given at join, so later
	// starts need no --ca-file.
	CA []byte `json:"ca,omitempty"`
	// Machine is the Machine the node is bound to (a VM of a node pool):
	// the API server sets its hypervisor label from the machine record.
	Machine string `json:"machine,omitempty"`
}

func (o *options) run(ctx context.Context, errOut io.Writer) error {
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.logLevel)); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	log := slog.New(slog.NewTextHandler(errOut, &slog.HandlerOptions{Level: level}))
	if o.joinToken == "" {
		o.joinToken = os.Getenv("CLOUDLET_JOIN_TOKEN")
	}
	labels, err := parseLabels(o.labels)
	if err != nil {
		return err
	}
	reserved := api.ResourceList{}
	for name, v := range map[string]string{api.ResourceCPU: o.reserveCPU, api.ResourceMemory: o.reserveMem} {
		q, err := api.ParseQuantity(v)
		if err != nil {
			return fmt.Errorf("--reserve-%s %q: %w", name, v, err)
		}
		reserved[name] = q
	}
	if o.backoffBase <= 0 || o.backoffMax < o.backoffBase {
		return fmt.Errorf("--restart-backoff %s, --restart-backoff-max %s: need 0 < restart-backoff <= restart-backoff-max", o.backoffBase, o.backoffMax)
	}
	if o.usagePeriod < time.Second {
		return fmt.Errorf("--usage-interval %s: must be at least 1s", o.usagePeriod)
	}
	if msgs := api.IsDNS1123Subdomain(o.nodeName); len(msgs) > 0 {
		return fmt.Errorf("--node-name %q: %s", o.nodeName, strings.Join(msgs, "; "))
	}
	if abs, err := filepath.Abs(o.stateDir); err == nil {
		o.stateDir = abs
	}
	if err := os.MkdirAll(o.stateDir, 0o700); err != nil {
		return fmt.Errorf("state dir: %w", err)
	}
	cred, err := o.credential(ctx, log)
	if err != nil {
		return err
	}
	c, err := o.client(cred.Server, cred.Token, cred.CA)
	if err != nil {
		return err
	}
	logDriver := cd.FindLogDriver()
	if logDriver == "" {
		log.Warn("no " + cd.LogDriverName + " beside cloudlet or on PATH: containers log through containerd's file logging, which can lose the end of stderr")
	}
	rtCfg := cd.Config{
		Socket: o.containerd, Namespace: o.namespace, Snapshotter: o.snapshotter,
		RuncRoot: filepath.Join(o.stateDir, "runc"), FIFODir: filepath.Join(o.stateDir, "fifo"),
		StateDir: filepath.Join(o.stateDir, "runtime"), PlainHTTPRegistries: o.insecure,
		// Images loaded into the control plane are pulled from it first.
		Mirror: &cd.MirrorConfig{URL: cred.Server, CA: o.caOr(cred.CA), Token: cred.Token},
		// The shim runs cloudmgr-logger for each container's output.
		LogDriver: logDriver,
	}
	// The node registers at once; until containerd answers it is NotReady
	// with reason ContainerdUnreachable, and pods start once it does.
	probe := &lateProbe{}
	hypervisor := o.hypervisor
	if cred.Machine != "" && hypervisor != "" {
		log.Warn("ignoring --hypervisor: this node is bound to a machine, whose record sets its hypervisor label", "machine", cred.Machine)
		hypervisor = ""
	}
	hostIP := caas.Addresses(o.nodeIP, "")[0].Address
	agent, err := caas.NewNodeAgent(c, caas.NodeConfig{
		Name: cred.NodeName, NodeIP: o.nodeIP, Hypervisor: hypervisor, Zone: o.zone, Labels: labels, Reserved: reserved,
		Version: version, StateDir: o.stateDir, HeartbeatInterval: o.heartbeat, StatusEvery: o.statusPeriod,
	}, probe, log)
	if err != nil {
		return err
	}
	log.Info("cloudlet starting", "version", version, "node", cred.NodeName, "server", cred.Server, "containerd", o.containerd)
	errc := make(chan error, 2)
	go func() { errc <- agent.Run(ctx) }()
	go func() {
		rt := connectRuntime(ctx, rtCfg, log)
		if rt == nil {
			errc <- nil
			return
		}
		defer rt.Close()
		probe.set(rt)
		usage := caas.NewUsageSampler(c, rt, caas.ProcHostStats{}, caas.UsageConfig{NodeName: cred.NodeName, Interval: o.usagePeriod}, log)
		sampled := make(chan struct{})
		go func() { defer close(sampled); _ = usage.Run(ctx) }()
		pods := caas.NewPodManager(c, rt, caas.PodConfig{NodeName: cred.NodeName, HostIP: hostIP, LogDir: filepath.Join(o.stateDir, "logs"),
			BackoffBase: o.backoffBase, BackoffMax: o.backoffMax}, log)
		// Logs, exec and pod usage reach the node only through the tunnel it
		// opens: cloudlet listens on no port.
		srv := caas.NewNodeServer(pods, log)
		srv.Handle("/stats/", usage.Handler())
		go func() {
			_ = c.ServeTunnel(ctx, cred.NodeName, srv, client.TunnelOptions{Log: log})
		}()
		err := pods.Run(ctx)
		<-sampled // before the runtime closes
		errc <- err
	}()
	return errors.Join(<-errc, <-errc)
}

// connectRuntime connects to containerd, retrying until it answers or ctx
// ends (then nil).
func connectRuntime(ctx context.Context, cfg cd.Config, log *slog.Logger) *cd.Runtime {
	for {
		rt, err := cd.New(cfg)
		if err == nil {
			return rt
		}
		log.Warn("containerd not reachable yet", "socket", cfg.Socket, "err", err)
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(2 * time.Second):
		}
	}
}

// lateProbe reports containerd unreachable until a runtime is connected,
// then asks the runtime itself.
type lateProbe struct {
	mu sync.Mutex
	rt caas.Runtime
}

func (p *lateProbe) set(rt caas.Runtime) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rt = rt
}

func (p *lateProbe) Check(ctx context.Context) error {
	p.mu.Lock()
	rt := p.rt
	p.mu.Unlock()
	if rt == nil {
		return errors.New("containerd unreachable: not connected yet")
	}
	return caas.VersionProbe{Runtime: rt}.Check(ctx)
}

// credential loads the stored node credential, or joins with the join
// token and stores the credential it gets (mode 0600).
func (o *options) credential(ctx context.Context, log *slog.Logger) (*credential, error) {
	path := filepath.Join(o.stateDir, "credential.json")
	data, err := os.ReadFile(path)
	if err == nil {
		var cred credential
		if err := json.Unmarshal(data, &cred); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		if o.server != "" && o.server != cred.Server {
			return nil, fmt.Errorf("%s belongs to server %s, not %s; remove it to join another cluster", path, cred.Server, o.server)
		}
		return &cred, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("read credential: %w", err)
	}
	if o.server == "" || o.joinToken == "" {
		return nil, errors.New("this node has not joined yet: --server and --join-token are required on first start")
	}
	ca, err := o.readCA()
	if err != nil {
		return nil, err
	}
	jc, err := o.client(o.server, o.joinToken, ca)
	if err != nil {
		return nil, err
	}
	nc, err := join(ctx, jc, o.nodeName, log)
	if err != nil {
		return nil, fmt.Errorf("join as %s: %w", o.nodeName, err)
	}
	cred := &credential{Server: o.server, NodeName: nc.NodeName, Token: nc.Token, CA: ca, Machine: nc.Machine}
	data, _ = json.Marshal(cred)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, data, 0o600); err != nil {
		return nil, fmt.Errorf("store credential: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return nil, fmt.Errorf("store credential: %w", err)
	}
	log.Info("joined the cluster", "node", nc.NodeName, "credential", path)
	return cred, nil
}

// joinWait is how long a join answered 409 is retried: a VM of a node pool
// can boot before its Machine's provider ID is recorded, and its join
// token is kept for the retry.
const joinWait = 2 * time.Minute

// join exchanges the join token, retrying while the server answers 409
// (machine not provisioned yet) or a 5xx.
func join(ctx context.Context, jc *client.Client, nodeName string, log *slog.Logger) (*api.NodeCredential, error) {
	deadline := time.Now().Add(joinWait)
	delay := 500 * time.Millisecond
	for {
		nc, err := jc.Join(ctx, nodeName)
		code := client.Code(err)
		if err == nil || (code != http.StatusConflict && code < 500) || time.Now().After(deadline) {
			return nc, err
		}
		log.Info("join not possible yet, retrying", "err", err, "in", delay)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(delay):
		}
		delay = min(2*delay, 5*time.Second)
	}
}

func (o *options) readCA() ([]byte, error) {
	if o.caFile == "" {
		return o.caData, nil
	}
	ca, err := os.ReadFile(o.caFile)
	if err != nil {
		return nil, fmt.Errorf("--ca-file: %w", err)
	}
	return ca, nil
}

// client talks to server with token, trusting ca (or --ca-file when given,
// or the system roots).
func (o *options) client(server, token string, ca []byte) (*client.Client, error) {
	if o.caFile != "" {
		var err error
		if ca, err = o.readCA(); err != nil {
			return nil, err
		}
	}
	return client.New(client.Config{Server: server, Token: token, CAData: ca, UserAgent: "cloudlet/" + version}, api.NewScheme())
}

// caOr is --ca-file's content when given, else ca.
func (o *options) caOr(ca []byte) []byte {
	if b, err := o.readCA(); err == nil && b != nil {
		return b
	}
	return ca
}

func parseLabels(kvs []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range kvs {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--labels %q: want key=value", kv)
		}
		out[k] = v
	}
	if errs := api.ValidateLabels(out, "--labels"); len(errs) > 0 {
		return nil, errs.ToError()
	}
	return out, nil
}
