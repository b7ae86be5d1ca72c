package containerd

import (
	"context"
	"fmt"
	"sync"
	"time"

	apievents "github.com/containerd/containerd/api/events"
	containerd "github.com/containerd/containerd/v2/client"
	"github.com/containerd/containerd/v2/core/events"
	"github.com/containerd/typeurl/v2"
)

// oomWatcher remembers which containers containerd reported as OOM-killed.
// It resubscribes when the event stream breaks (containerd restarting).
type oomWatcher struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu  sync.Mutex
	ids map[string]bool
}

func startOOMWatcher(c *containerd.Client, namespace string) *oomWatcher {
	ctx, cancel := context.WithCancel(context.Background())
	w := &oomWatcher{cancel: cancel, done: make(chan struct{}), ids: map[string]bool{}}
	go w.run(ctx, c, namespace)
	return w
}

func (w *oomWatcher) run(ctx context.Context, c *containerd.Client, namespace string) {
	defer close(w.done)
	filter := fmt.Sprintf(`topic=="/tasks/oom",namespace==%q`, namespace)
	for ctx.Err() == nil {
		sctx, cancel := context.WithCancel(ctx)
		ch, errs := c.Subscribe(sctx, filter)
		w.consume(sctx, ch, errs)
		cancel()
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// consume records OOM events until the stream ends.
func (w *oomWatcher) consume(ctx context.Context, ch <-chan *events.Envelope, errs <-chan error) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-errs:
			return
		case env := <-ch:
			if env == nil || env.Event == nil {
				continue
			}
			v, err := typeurl.UnmarshalAny(env.Event)
			if err != nil {
				continue
			}
			if oom, ok := v.(*apievents.TaskOOM); ok {
				w.mu.Lock()
				w.ids[oom.ContainerID] = true
				w.mu.Unlock()
			}
		}
	}
}

func (w *oomWatcher) seen(id string) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.ids[id]
}

func (w *oomWatcher) forget(id string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.ids, id)
}

func (w *oomWatcher) stop() {
	w.cancel()
	<-w.done
}
