package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/scheduler"
	"github.com/cloudmgr/cloud/scheduler/plugins"
)

// startScheduler runs the pod scheduler in-process against the API server,
// through the client with a credential of the scheduler role (which
// replaces, and so revokes, the one of the previous start or of the
// previous leader), exactly as a separate process would: every binding
// passes authentication, authorization and validation. The returned
// channel yields Run's result once ctx ends and the bindings in flight are
// done.
func startScheduler(ctx context.Context, o *options, srv *apiserver.Server, serverURL string, caPEM []byte, reg prometheus.Registerer, log *slog.Logger) (<-chan error, error) {
	token, err := srv.SchedulerToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("scheduler credential: %w", err)
	}
	c, err := client.New(client.Config{Server: serverURL, CAData: caPEM, Token: token, UserAgent: "cloudd-scheduler/" + version}, api.NewScheme())
	if err != nil {
		return nil, err
	}
	s, err := scheduler.New(scheduler.Config{
		Client:   c,
		Profile:  plugins.NewPodProfile(plugins.Options{}),
		Workers:  o.schedulerWorkers,
		Registry: reg,
		Log:      log.With("component", "scheduler"),
	})
	if err != nil {
		return nil, err
	}
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	return done, nil
}
