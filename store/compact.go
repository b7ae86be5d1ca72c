package store

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Compact discards history before rev; watches from older revisions then
// fail with ErrTooOld.
func (s *Store) Compact(ctx context.Context, rev int64) error {
	if _, err := s.client.Compact(ctx, rev); err != nil {
		return fmt.Errorf("compact to %d: %w", rev, err)
	}
	return nil
}

// RunCompactor compacts history every interval to the revision seen one
// interval earlier, as the Kubernetes API server does, so watchers that are
// at most one interval behind can always resume. It returns when ctx ends.
func (s *Store) RunCompactor(ctx context.Context, interval time.Duration, log *slog.Logger) error {
	t := time.NewTicker(interval)
	defer t.Stop()
	var last int64
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		cur, err := s.CurrentRevision(ctx)
		if err != nil {
			log.Warn("compactor: read revision", "err", err)
			continue
		}
		if last > 0 && last < cur {
			if err := s.Compact(ctx, last); err != nil {
				log.Warn("compactor", "err", err)
			}
		}
		last = cur
	}
}
