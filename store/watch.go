package store

import (
	"context"
	"errors"
	"fmt"

	"go.etcd.io/etcd/api/v3/mvccpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
)

// EventType says what happened to an object.
type EventType string

// The watch event types, as the HTTP API names them.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	Error    EventType = "ERROR"
)

// Event is one change seen by a watch. For Error events Err is set and the
// channel closes after it.
type Event struct {
	Type   EventType
	Object api.Object
	// Prev is the state before the change, when the watch was given a
	// filter (which needs it) and etcd still had it.
	Prev api.Object
	Err  error
}

// Watch streams the changes under prefix that happen after revision
// afterRev (0: after the current revision), in revision order, each exactly
// once. keep (may be nil) filters objects: an object that stops matching is
// reported as Deleted and one that starts matching as Added. A compacted
// afterRev fails with ErrTooOld at once; a compaction that overtakes a slow
// watch ends the stream with an Error event wrapping ErrTooOld. The channel
// closes when ctx ends.
func (s *Store) Watch(ctx context.Context, prefix string, afterRev int64, newObj func() api.Object, keep func(api.Object) bool) (<-chan Event, error) {
	opts := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithPrevKV(), clientv3.WithCreatedNotify()}
	if afterRev > 0 {
		// etcd reports a compacted start only after the watch is created;
		// a read at the start revision tells at once, so the caller can
		// answer "too old" before streaming anything.
		_, err := s.client.Get(ctx, prefix, clientv3.WithRev(afterRev+1), clientv3.WithCountOnly(), clientv3.WithLimit(1))
		switch {
		case errors.Is(err, rpctypes.ErrCompacted):
			return nil, fmt.Errorf("%w: revision %d is compacted", ErrTooOld, afterRev)
		case err != nil && !errors.Is(err, rpctypes.ErrFutureRev):
			return nil, fmt.Errorf("watch %s: %w", prefix, err)
		}
		opts = append(opts, clientv3.WithRev(afterRev+1))
	}
	ctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	wch := s.client.Watch(ctx, prefix, opts...)
	// The first response says whether the watch was created or the
	// revision is already compacted.
	select {
	case first, ok := <-wch:
		if !ok {
			cancel()
			return nil, fmt.Errorf("watch %s: %w", prefix, context.Cause(ctx))
		}
		if err := watchErr(first); err != nil {
			cancel()
			return nil, err
		}
		if !first.Created {
			cancel()
			return nil, fmt.Errorf("watch %s: unexpected first response", prefix)
		}
	case <-ctx.Done():
		cancel()
		return nil, ctx.Err()
	}
	out := make(chan Event, 100)
	go func() {
		defer close(out)
		defer cancel()
		for resp := range wch {
			if err := watchErr(resp); err != nil {
				send(ctx, out, Event{Type: Error, Err: err})
				return
			}
			for _, ev := range resp.Events {
				e, ok, err := convert(ev, newObj, keep)
				if err != nil {
					send(ctx, out, Event{Type: Error, Err: err})
					return
				}
				if ok && !send(ctx, out, e) {
					return
				}
			}
		}
	}()
	return out, nil
}

func send(ctx context.Context, out chan<- Event, e Event) bool {
	select {
	case out <- e:
		return true
	case <-ctx.Done():
		return false
	}
}

func watchErr(resp clientv3.WatchResponse) error {
	if resp.CompactRevision != 0 {
		return fmt.Errorf("%w: revision compacted at %d", ErrTooOld, resp.CompactRevision)
	}
	if err := resp.Err(); err != nil {
		if errors.Is(err, rpctypes.ErrCompacted) {
			return fmt.Errorf("%w: %v", ErrTooOld, err)
		}
		return fmt.Errorf("watch: %w", err)
	}
	return nil
}

// convert turns an etcd event into an API event, applying the filter to
// the new and the previous state.
func convert(ev *clientv3.Event, newObj func() api.Object, keep func(api.Object) bool) (Event, bool, error) {
	var cur, prev api.Object
	if ev.Type == mvccpb.PUT {
		cur = newObj()
		if err := decode(ev.Kv.Value, ev.Kv.ModRevision, cur); err != nil {
			return Event{}, false, err
		}
	}
	if ev.PrevKv != nil && (keep != nil || ev.Type == mvccpb.DELETE) {
		prev = newObj()
		if err := decode(ev.PrevKv.Value, ev.PrevKv.ModRevision, prev); err != nil {
			return Event{}, false, err
		}
	}
	if ev.Type == mvccpb.DELETE {
		if prev == nil || (keep != nil && !keep(prev)) {
			return Event{}, false, nil
		}
		// A deleted object carries the revision of its deletion, so a
		// client that resumes from it does not see the delete again.
		prev.GetObjectMeta().ResourceVersion = fmt.Sprint(ev.Kv.ModRevision)
		return Event{Type: Deleted, Object: prev, Prev: prev}, true, nil
	}
	curOK := keep == nil || keep(cur)
	prevOK := prev != nil && (keep == nil || keep(prev))
	isCreate := ev.Kv.CreateRevision == ev.Kv.ModRevision
	switch {
	case curOK && (isCreate || (keep != nil && !prevOK)):
		return Event{Type: Added, Object: cur, Prev: prev}, true, nil
	case curOK:
		return Event{Type: Modified, Object: cur, Prev: prev}, true, nil
	case prevOK:
		// It left the selection: report its new state as a delete.
		return Event{Type: Deleted, Object: cur, Prev: prev}, true, nil
	}
	return Event{}, false, nil
}
