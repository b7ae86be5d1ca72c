package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/gc"
	"github.com/cloudmgr/cloud/controllers/namespace"
)

// startControllers runs the controllers in-process against the API server
// with an admin credential of their own (replacing the one of the previous
// start): the namespace controller, which finishes namespace deletions,
// and the garbage collector. The returned channel is closed once ctx ended
// and they stopped.
func startControllers(ctx context.Context, srv *apiserver.Server, serverURL string, caPEM []byte, log *slog.Logger) (<-chan struct{}, error) {
	token, err := srv.ControllersToken(ctx)
	if err != nil {
		return nil, fmt.Errorf("controllers credential: %w", err)
	}
	c, err := client.New(client.Config{Server: serverURL, CAData: caPEM, Token: token, UserAgent: "cloudd-controllers/" + version}, api.NewScheme())
	if err != nil {
		return nil, err
	}
	m := controllers.NewManager(c, log.With("component", "controllers"))
	if err := namespace.Setup(m); err != nil {
		return nil, err
	}
	if err := gc.Setup(m); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := m.Run(ctx); err != nil {
			log.Warn("controllers stopped", "err", err)
		}
	}()
	return done, nil
}
