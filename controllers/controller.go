package controllers

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// Result tells the runner what to do with a key after a successful
// reconcile: nothing, or look again after RequeueAfter.
type Result struct {
	RequeueAfter time.Duration
}

// Reconciler makes one object's world match its declaration. It is level
// based: the key says what to look at ("namespace/name" or "name"), never
// what happened, so it reads the current state from caches and acts on it.
// An error means a rate-limited retry.
type Reconciler interface {
	Reconcile(ctx context.Context, key string) (Result, error)
}

// ReconcilerFunc adapts a function to a Reconciler.
type ReconcilerFunc func(ctx context.Context, key string) (Result, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, key string) (Result, error) {
	return f(ctx, key)
}

// Controller runs a Reconciler over the keys of its queue with a number of
// workers; a key is never reconciled by two workers at once.
type Controller struct {
	Name    string
	Queue   *Queue
	r       Reconciler
	workers int
	log     *slog.Logger
}

// NewController returns a controller with its own queue (retries back off
// from 10 ms to 5 minutes).
func NewController(name string, r Reconciler, workers int, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if workers <= 0 {
		workers = 1
	}
	return &Controller{Name: name, Queue: NewQueue(10*time.Millisecond, 5*time.Minute), r: r, workers: workers, log: log.With("controller", name)}
}

// Enqueue queues an object's key.
func (c *Controller) Enqueue(obj api.Object) { c.Queue.Add(client.Key(obj)) }

// Run reconciles until ctx ends, then waits for the workers to finish the
// keys they hold.
func (c *Controller) Run(ctx context.Context) {
	go c.Queue.waitShutdown(ctx)
	var wg sync.WaitGroup
	for range c.workers {
		wg.Go(func() {
			for c.processNext(ctx) {
			}
		})
	}
	wg.Wait()
}

func (c *Controller) processNext(ctx context.Context) bool {
	key, ok := c.Queue.Get()
	if !ok {
		return false
	}
	defer c.Queue.Done(key)
	res, err := c.reconcile(ctx, key)
	switch {
	case ctx.Err() != nil:
	case err != nil:
		c.log.Warn("reconcile failed; retrying", "key", key, "failures", c.Queue.Failures(key)+1, "err", err)
		c.Queue.AddRateLimited(key)
	default:
		c.Queue.Forget(key)
		if res.RequeueAfter > 0 {
			c.Queue.AddAfter(key, res.RequeueAfter)
		}
	}
	return true
}

// reconcile turns a panic into an error, so one bad object cannot stop the
// controller.
func (c *Controller) reconcile(ctx context.Context, key string) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("reconcile %s panicked: %v", key, p)
		}
	}()
	return c.r.Reconcile(ctx, key)
}
