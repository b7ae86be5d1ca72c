package main

import (
	"context"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// runWatch lists the objects of r, prints them, then prints every change
// until ctx ends (Ctrl-C). A stream closed by the server is reopened from
// the last revision seen; an expired revision means a relist.
func (o *getOptions) runWatch(ctx context.Context, c *client.Client, r resourceRequest, ns string) error {
	if !r.kind.Namespaced {
		ns = ""
	}
	opts := client.ListOptions{LabelSelector: o.labelSelector, FieldSelector: o.fieldSelector}
	if len(r.names) == 1 {
		opts.FieldSelector = "metadata.name=" + r.names[0]
	}
	p := newPrinter(o.root.out, o.printOptions(false, true))
	rv, err := o.relist(ctx, c, r, ns, opts, p)
	if err != nil {
		return err
	}
	for ctx.Err() == nil {
		opts.ResourceVersion = rv
		w, err := c.Watch(ctx, r.kind, ns, opts)
		if client.IsGone(err) {
			if rv, err = o.relist(ctx, c, r, ns, opts, p); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		next, n, err := consumeWatch(w, r.kind, p)
		w.Stop()
		switch {
		case client.IsGone(err):
			if next, err = o.relist(ctx, c, r, ns, opts, p); err != nil {
				return err
			}
		case err != nil:
			return err
		case n == 0:
			// The server closed an idle stream: do not spin on it.
			select {
			case <-ctx.Done():
			case <-time.After(time.Second):
			}
		}
		if next != "" {
			rv = next
		}
	}
	return nil
}

// relist lists and prints the current objects and returns their revision.
func (o *getOptions) relist(ctx context.Context, c *client.Client, r resourceRequest, ns string, opts client.ListOptions, p resourcePrinter) (string, error) {
	opts.ResourceVersion = ""
	objs, rv, err := c.List(ctx, r.kind, ns, opts)
	if err != nil {
		if ctx.Err() != nil {
			return "", nil
		}
		return "", err
	}
	if len(objs) == 0 {
		o.noResources([]resourceRequest{r}, ns)
	}
	return rv, p.print(r.kind, objs)
}

// consumeWatch prints the events of w until it ends and returns the last
// revision seen and how many events came.
func consumeWatch(w *client.Watcher, k *api.KindInfo, p resourcePrinter) (rv string, n int, err error) {
	for ev := range w.Events() {
		if ev.Type == client.Error {
			return rv, n, ev.Err
		}
		n++
		rv = ev.Object.GetObjectMeta().ResourceVersion
		if err := p.print(k, []api.Object{ev.Object}); err != nil {
			return rv, n, err
		}
	}
	return rv, n, nil
}
