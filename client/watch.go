package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/cloudmgr/cloud/api"
)

// EventType says what happened to an object in a watch.
type EventType string

// Watch event types, as the API sends them.
const (
	Added    EventType = "ADDED"
	Modified EventType = "MODIFIED"
	Deleted  EventType = "DELETED"
	Error    EventType = "ERROR"
)

// Event is one change. For Error events Err holds the *api.Status (410
// means the revision is too old: relist).
type Event struct {
	Type   EventType
	Object api.Object
	Err    error
}

// wireEvent is the JSON of one line of a watch stream.
type wireEvent struct {
	Type   EventType       `json:"type"`
	Object json.RawMessage `json:"object"`
}

// Watcher is an open watch stream.
type Watcher struct {
	events chan Event
	cancel context.CancelFunc
	done   chan struct{}
}

// Events delivers the changes; it is closed when the stream ends.
func (w *Watcher) Events() <-chan Event { return w.events }

// Stop ends the stream and waits for the reader to finish.
func (w *Watcher) Stop() {
	w.cancel()
	<-w.done
}

// Watch opens a watch on a kind in a namespace ("" for all). Errors that
// happen before streaming (401, 403, 410 too old) are returned here.
func (c *Client) Watch(ctx context.Context, k *api.KindInfo, namespace string, opts ListOptions) (*Watcher, error) {
	ctx, cancel := context.WithCancel(ctx)
	q := opts.query()
	q.Set("watch", "1")
	resp, err := c.send(ctx, http.MethodGet, k.Path(namespace, ""), q, nil)
	if err != nil {
		cancel()
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		cancel()
		return nil, statusError(resp.StatusCode, data)
	}
	w := &Watcher{events: make(chan Event, 64), cancel: cancel, done: make(chan struct{})}
	go w.read(ctx, resp.Body, k)
	return w, nil
}

func (w *Watcher) read(ctx context.Context, body io.ReadCloser, k *api.KindInfo) {
	defer close(w.done)
	defer close(w.events)
	defer body.Close()
	dec := json.NewDecoder(body)
	for {
		var we wireEvent
		if err := dec.Decode(&we); err != nil {
			if ctx.Err() == nil && !errors.Is(err, io.EOF) {
				w.emit(ctx, Event{Type: Error, Err: fmt.Errorf("watch %s: %w", k.Resource, err)})
			}
			return
		}
		ev := Event{Type: we.Type}
		if we.Type == Error {
			var st api.Status
			if err := json.Unmarshal(we.Object, &st); err != nil {
				ev.Err = fmt.Errorf("watch %s: undecodable error event: %w", k.Resource, err)
			} else {
				ev.Err = &st
			}
		} else {
			obj := k.New()
			if err := json.Unmarshal(we.Object, obj); err != nil {
				ev = Event{Type: Error, Err: fmt.Errorf("watch %s: decode object: %w", k.Resource, err)}
			} else {
				ev.Object = obj
			}
		}
		if !w.emit(ctx, ev) || ev.Type == Error {
			return
		}
	}
}

func (w *Watcher) emit(ctx context.Context, ev Event) bool {
	select {
	case w.events <- ev:
		return true
	case <-ctx.Done():
		return false
	}
}
