// Package leader elects one control-plane process among several sharing an
// etcd cluster, through an etcd lease (a concurrency.Session) and an
// election key prefix. The elected process runs the scheduler and the
// controllers; every other one waits, and takes over within about the
// lease TTL once the leader's lease ends (killed process, lost etcd).
package leader

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// DefaultPrefix is the election key prefix of the control plane.
const DefaultPrefix = "/cloudmgr/leader/control-plane"

// DefaultTTL is the lease TTL: how long a dead leader blocks the others at
// most.
const DefaultTTL = 5 * time.Second

// Config says how to campaign.
type Config struct {
	// Client reaches the etcd cluster (cloudd's own client, embedded or
	// external).
	Client *clientv3.Client
	// Prefix of the election keys (default DefaultPrefix); candidates of
	// one election share it.
	Prefix string
	// Identity names this candidate in the election value and the logs
	// (default "candidate").
	Identity string
	// TTL of the session lease (default DefaultTTL); whole seconds, at
	// least 1.
	TTL time.Duration
	// RetryDelay is the pause after a failed session or campaign
	// (default 1s).
	RetryDelay time.Duration
	Log        *slog.Logger
}

func (c *Config) defaults() error {
	if c.Client == nil {
		return errors.New("leader election: no etcd client")
	}
	if c.Prefix == "" {
		c.Prefix = DefaultPrefix
	}
	if c.Identity == "" {
		c.Identity = "candidate"
	}
	if c.TTL == 0 {
		c.TTL = DefaultTTL
	}
	if c.TTL < time.Second {
		return fmt.Errorf("leader election: TTL %s is below 1s", c.TTL)
	}
	if c.RetryDelay == 0 {
		c.RetryDelay = time.Second
	}
	if c.Log == nil {
		c.Log = slog.New(slog.DiscardHandler)
	}
	return nil
}

// Run campaigns until ctx ends. Each time this candidate is elected it
// calls lead with a context that is cancelled as soon as leadership is
// lost (the session's lease expired or could not be kept alive) or ctx
// ends; lead must stop acting at once when its context ends, and return
// once it has stopped. Then Run resigns (if the lease still lives),
// closes the session and campaigns again. Run returns nil when ctx ends,
// or a configuration error.
func Run(ctx context.Context, cfg Config, lead func(ctx context.Context)) error {
	if err := cfg.defaults(); err != nil {
		return err
	}
	for ctx.Err() == nil {
		if err := runOnce(ctx, &cfg, lead); err != nil && ctx.Err() == nil {
			cfg.Log.Warn("leader election", "identity", cfg.Identity, "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(cfg.RetryDelay):
			}
		}
	}
	return nil
}

// runOnce opens a session, campaigns, leads while the session lives, and
// gives the leadership up.
func runOnce(ctx context.Context, cfg *Config, lead func(ctx context.Context)) error {
	s, err := concurrency.NewSession(cfg.Client, concurrency.WithTTL(int(cfg.TTL/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return fmt.Errorf("session: %w", err)
	}
	defer func() {
		// Revoking the lease removes the election key at once, so the
		// next candidate need not wait for the TTL.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Second)
		defer cancel()
		_, _ = cfg.Client.Revoke(rctx, s.Lease())
		_ = s.Close()
	}()
	e := concurrency.NewElection(s, cfg.Prefix)
	// Campaign returns when elected, or with an error when ctx ends; a
	// session that dies while waiting is watched for below.
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.Done():
			cancel()
		case <-cctx.Done():
		}
	}()
	if err := e.Campaign(cctx, cfg.Identity); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("campaign: %w", err)
	}
	select {
	case <-s.Done():
		return errors.New("session ended right after election")
	default:
	}
	cfg.Log.Info("became leader", "identity", cfg.Identity, "lease", fmt.Sprintf("%x", s.Lease()))
	lctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-s.Done():
			cfg.Log.Warn("lost leadership: session ended", "identity", cfg.Identity)
			stop()
		case <-lctx.Done():
		}
	}()
	lead(lctx)
	cfg.Log.Info("stopped leading", "identity", cfg.Identity)
	return nil
}

// Current returns the identity of the current leader of prefix, or "" when
// there is none.
func Current(ctx context.Context, c *clientv3.Client, prefix string) (string, error) {
	if prefix == "" {
		prefix = DefaultPrefix
	}
	// The leader is the candidate with the oldest key under the prefix,
	// which is what Election.Leader reads; it needs no session of ours.
	resp, err := c.Get(ctx, prefix+"/", clientv3.WithFirstCreate()...)
	if err != nil {
		return "", fmt.Errorf("leader: %w", err)
	}
	if len(resp.Kvs) == 0 {
		return "", nil
	}
	return string(resp.Kvs[0].Value), nil
}
