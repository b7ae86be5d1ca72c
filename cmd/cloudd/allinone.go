package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/caas"
	cd "github.com/cloudmgr/cloud/caas/containerd"
	"github.com/cloudmgr/cloud/client"
)

// findContainerd returns the containerd socket an all-in-one cloudd uses
// when none is given: $CLOUDMGR_CONTAINERD_SOCKET, the one `make deps`
// starts under ./.run, or the system's.
func findContainerd() string {
	for _, p := range []string{os.Getenv("CLOUDMGR_CONTAINERD_SOCKET"), ".run/containerd/containerd.sock", "/run/containerd/containerd.sock"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			abs, _ := filepath.Abs(p)
			return abs
		}
	}
	return "/run/containerd/containerd.sock"
}

// snapshotterFor reads the snapshotter `make deps` chose next to its
// socket, or uses overlayfs.
func snapshotterFor(socket string) string {
	if b, err := os.ReadFile(filepath.Join(filepath.Dir(socket), "snapshotter")); err == nil {
		return strings.TrimSpace(string(b))
	}
	return "overlayfs"
}

// runLocalNode runs a node agent in-process: it registers this machine as
// a node with a node credential of its own and runs the pods bound to it
// in containerd, exactly as a separate cloudlet would, through the API.
func runLocalNode(ctx context.Context, o *options, srv *apiserver.Server, serverURL string, caPEM []byte, log *slog.Logger) error {
	node := o.nodeName
	if o.usageInterval < time.Second {
		return fmt.Errorf("--usage-interval %s: must be at least 1s", o.usageInterval)
	}
	if msgs := api.IsDNS1123Subdomain(node); len(msgs) > 0 {
		return fmt.Errorf("--node-name %q: %s", node, strings.Join(msgs, "; "))
	}
	token, err := srv.IssueToken(ctx, apiserver.TokenSpec{Role: apiserver.RoleNode, User: "node:" + node, Node: node})
	if err != nil {
		return fmt.Errorf("node credential: %w", err)
	}
	c, err := client.New(client.Config{Server: serverURL, CAData: caPEM, Token: token, UserAgent: "cloudd-all-in-one/" + version}, api.NewScheme())
	if err != nil {
		return err
	}
	socket := o.containerd
	if socket == "" {
		socket = findContainerd()
	}
	state := filepath.Join(o.dataDir, "node")
	logDriver := cd.FindLogDriver()
	if logDriver == "" {
		log.Warn("no " + cd.LogDriverName + " beside cloudd or on PATH: containers log through containerd's file logging, which can lose the end of stderr")
	}
	rt, err := cd.New(cd.Config{
		Socket: socket, Namespace: o.containerdNS, Snapshotter: snapshotterFor(socket), RuncRoot: filepath.Join(state, "runc"),
		FIFODir: filepath.Join(state, "fifo"), StateDir: filepath.Join(state, "runtime"), PlainHTTPRegistries: o.insecureRegistries,
		Mirror: &cd.MirrorConfig{URL: serverURL, CA: caPEM, Token: token},
		// The shim runs cloudmgr-logger for each container's output.
		LogDriver: logDriver,
	})
	if err != nil {
		return fmt.Errorf("--all-in-one needs containerd (run `make deps`, or pass --containerd): %w", err)
	}
	agent, err := caas.NewNodeAgent(c, caas.NodeConfig{Name: node, Version: version, StateDir: o.dataDir}, caas.VersionProbe{Runtime: rt}, log)
	if err != nil {
		rt.Close()
		return err
	}
	log.Info("all-in-one node", "node", node, "containerd", socket)
	usage := caas.NewUsageSampler(c, rt, caas.ProcHostStats{}, caas.UsageConfig{NodeName: node, Interval: o.usageInterval}, log)
	go func() {
		defer rt.Close()
		go func() { _ = agent.Run(ctx) }()
		sampled := make(chan struct{})
		go func() { defer close(sampled); _ = usage.Run(ctx) }()
		pods := caas.NewPodManager(c, rt, caas.PodConfig{NodeName: node, HostIP: caas.Addresses("", "")[0].Address, LogDir: filepath.Join(state, "logs")}, log)
		srv := caas.NewNodeServer(pods, log)
		srv.Handle("/stats/", usage.Handler())
		go func() { _ = c.ServeTunnel(ctx, node, srv, client.TunnelOptions{Log: log}) }()
		_ = pods.Run(ctx)
		<-sampled
	}()
	return nil
}
