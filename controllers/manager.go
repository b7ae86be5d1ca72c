package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// Manager owns the watch-fed caches the controllers share (one per kind,
// all namespaces) and runs the controllers: caches first, then, once every
// cache has its first list, the controllers with their workers. Run
// returns when ctx ends and every worker has stopped.
type Manager struct {
	Client *client.Client
	Log    *slog.Logger

	mu          sync.Mutex
	caches      map[string]*client.Cache
	controllers []*Controller
	starters    []func(ctx context.Context)
	started     bool
}

// NewManager returns a manager acting through c.
func NewManager(c *client.Client, log *slog.Logger) *Manager {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Manager{Client: c, Log: log, caches: map[string]*client.Cache{}}
}

// Cache returns the shared cache of a kind, creating it on first use. Add
// handlers before Run.
func (m *Manager) Cache(k *api.KindInfo) *client.Cache {
	m.mu.Lock()
	defer m.mu.Unlock()
	key := k.Group + "/" + k.Resource
	if c, ok := m.caches[key]; ok {
		return c
	}
	c := client.NewCache(m.Client, k, "", client.ListOptions{}, m.Log.With("cache", k.Resource))
	m.caches[key] = c
	return c
}

// CacheFor is Cache for the kind of Go type T.
func CacheFor[T any, P interface {
	*T
	api.Object
}](m *Manager) *client.Cache {
	return m.Cache(client.For[T, P](m.Client).Kind())
}

// Add registers a controller to run.
func (m *Manager) Add(c *Controller) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.controllers = append(m.controllers, c)
}

// AddRunnable registers something else to run with the controllers (a
// periodic sweep), started after the caches sync; it must return when ctx ends.
func (m *Manager) AddRunnable(run func(ctx context.Context)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.starters = append(m.starters, run)
}

// Run starts the caches, waits for their first list, runs the controllers
// and returns once ctx ends and all of them stopped.
func (m *Manager) Run(ctx context.Context) error {
	m.mu.Lock()
	if m.started {
		m.mu.Unlock()
		return fmt.Errorf("controller manager already started")
	}
	m.started = true
	caches := make([]*client.Cache, 0, len(m.caches))
	for _, c := range m.caches {
		caches = append(caches, c)
	}
	ctrls, starters := m.controllers, m.starters
	m.mu.Unlock()

	var wg sync.WaitGroup
	defer wg.Wait()
	for _, c := range caches {
		wg.Go(func() { _ = c.Run(ctx) })
	}
	for _, c := range caches {
		if !c.WaitForSync(ctx) {
			return nil // ctx ended first
		}
	}
	m.Log.Info("controllers starting", "controllers", len(ctrls), "caches", len(caches))
	for _, c := range ctrls {
		wg.Go(func() { c.Run(ctx) })
	}
	for _, run := range starters {
		wg.Go(func() { run(ctx) })
	}
	<-ctx.Done()
	return nil
}
