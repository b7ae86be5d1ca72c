package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/controllers/leader"
	"github.com/cloudmgr/cloud/iaas"
)

// controlPlane runs the scheduler and the controllers: while this cloudd
// leads when several share one etcd (--leader-elect), else always.
type controlPlane struct {
	o         *options
	srv       *apiserver.Server
	etcd      *clientv3.Client
	serverURL string
	caPEM     []byte
	reg       prometheus.Registerer
	log       *slog.Logger
	leading   prometheus.Gauge
	// iaas and providers: the IaaS controllers run while leading when
	// iaas.enabled, over these providers.
	iaas      iaasOptions
	providers iaas.Providers
}

// enabled reports whether there is anything to run.
func (cp *controlPlane) enabled() bool {
	return cp.o.scheduler || cp.o.controllers || cp.iaas.enabled
}

// start checks the settings and runs the control plane in the background;
// the returned channel is closed once ctx ended and everything stopped.
func (cp *controlPlane) start(ctx context.Context) (<-chan struct{}, error) {
	if cp.o.scheduler && cp.o.schedulerWorkers < 1 {
		return nil, fmt.Errorf("--scheduler-workers %d: must be at least 1", cp.o.schedulerWorkers)
	}
	if cp.o.leaderElect && cp.o.leaderTTL < time.Second {
		return nil, fmt.Errorf("--leader-elect-ttl %s: must be at least 1s", cp.o.leaderTTL)
	}
	cp.leading = prometheus.NewGauge(prometheus.GaugeOpts{Name: "cloudd_leader",
		Help: "1 while this cloudd leads the control plane (runs the scheduler and the controllers)."})
	if err := cp.reg.Register(cp.leading); err != nil {
		return nil, err
	}
	done := make(chan struct{})
	if !cp.o.leaderElect {
		go func() {
			defer close(done)
			if err := cp.lead(ctx); err != nil {
				cp.log.Error("control plane", "err", err)
			}
		}()
		return done, nil
	}
	host, _ := os.Hostname()
	identity := fmt.Sprintf("%s/%s/%d", host, cp.serverURL, os.Getpid())
	go func() {
		defer close(done)
		err := leader.Run(ctx, leader.Config{Client: cp.etcd, Identity: identity, TTL: cp.o.leaderTTL, Log: cp.log.With("component", "leader-election")},
			func(lctx context.Context) {
				if err := cp.lead(lctx); err != nil && lctx.Err() == nil {
					// Give the leadership up; another cloudd (or this one,
					// after a pause) tries again.
					cp.log.Error("control plane", "err", err)
					select {
					case <-lctx.Done():
					case <-time.After(time.Second):
					}
				}
			})
		if err != nil {
			cp.log.Error("leader election", "err", err)
		}
	}()
	return done, nil
}

// lead runs one term: it mints fresh credentials for the scheduler and the
// controller manager (revoking those of the previous leader, which so
// cannot act through the API any longer once the auth caches expire), runs
// both, and returns once ctx ends and both stopped.
func (cp *controlPlane) lead(ctx context.Context) error {
	cp.leading.Set(1)
	defer cp.leading.Set(0)
	cp.log.Info("control plane starting", "scheduler", cp.o.scheduler, "controllers", cp.o.controllers, "setups", len(controllerSetups))
	// A term registers its metrics afresh and withdraws them at its end,
	// so the next term's scheduler exports its own.
	reg := &termRegistry{reg: cp.reg}
	defer reg.unregisterAll()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	defer wg.Wait()
	var errs []error
	var mu sync.Mutex
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
		cancel()
	}
	if cp.o.scheduler {
		schedDone, err := startScheduler(ctx, cp.o, cp.srv, cp.serverURL, cp.caPEM, reg, cp.log)
		if err != nil {
			return err
		}
		wg.Go(func() {
			if err := <-schedDone; err != nil {
				fail(fmt.Errorf("scheduler: %w", err))
			}
		})
	}
	managers := []struct {
		on    bool
		name  string
		token func(context.Context) (string, error)
		setup func(*controllers.Manager, *client.Client) error
	}{
		{cp.o.controllers, "controller-manager", cp.srv.ControllerToken, controllerSetup},
		{cp.iaas.enabled, "iaas-controller", cp.srv.IaaSControllerToken, cp.iaasSetups},
	}
	for _, mg := range managers {
		if !mg.on {
			continue
		}
		m, err := cp.newManager(ctx, mg.name, mg.token, mg.setup)
		if err != nil {
			cancel()
			wg.Wait()
			return err
		}
		wg.Go(func() {
			if err := m.Run(ctx); err != nil {
				fail(fmt.Errorf("%s: %w", mg.name, err))
			}
		})
	}
	<-ctx.Done()
	wg.Wait()
	cp.log.Info("control plane stopped")
	return errors.Join(errs...)
}

// newManager builds one of this term's managers (name is also its
// component and user agent) acting with a credential minted by token
// (which revokes the previous term's), and registers its controllers.
func (cp *controlPlane) newManager(ctx context.Context, name string, token func(context.Context) (string, error),
	setup func(*controllers.Manager, *client.Client) error) (*controllers.Manager, error) {
	tok, err := token(ctx)
	if err != nil {
		return nil, fmt.Errorf("%s credential: %w", name, err)
	}
	c, err := client.New(client.Config{Server: cp.serverURL, CAData: cp.caPEM, Token: tok, UserAgent: "cloudd-" + name + "/" + version}, api.NewScheme())
	if err != nil {
		return nil, err
	}
	m := controllers.NewManager(c, cp.log.With("component", name))
	if err := setup(m, c); err != nil {
		return nil, fmt.Errorf("%s setup: %w", name, err)
	}
	return m, nil
}

// controllerSetup registers every setup of controllerSetups.
func controllerSetup(m *controllers.Manager, _ *client.Client) error {
	for i, setup := range controllerSetups {
		if err := setup(m); err != nil {
			return fmt.Errorf("controller %d: %w", i, err)
		}
	}
	return nil
}

// termRegistry registers collectors on reg and withdraws them all at the
// end of a term of leadership.
type termRegistry struct {
	reg prometheus.Registerer
	mu  sync.Mutex
	cs  []prometheus.Collector
}

// Register registers c and remembers it.
func (r *termRegistry) Register(c prometheus.Collector) error {
	if err := r.reg.Register(c); err != nil {
		return err
	}
	r.mu.Lock()
	r.cs = append(r.cs, c)
	r.mu.Unlock()
	return nil
}

// MustRegister registers cs, panicking on an error.
func (r *termRegistry) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			panic(err)
		}
	}
}

// Unregister withdraws c.
func (r *termRegistry) Unregister(c prometheus.Collector) bool { return r.reg.Unregister(c) }

func (r *termRegistry) unregisterAll() {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, c := range r.cs {
		r.reg.Unregister(c)
	}
	r.cs = nil
}
