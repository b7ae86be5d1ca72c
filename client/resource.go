package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/cloudmgr/cloud/api"
)

// ListOptions narrow a list or a watch.
type ListOptions struct {
	// LabelSelector like "app=web,tier!=db".
	LabelSelector string
	// FieldSelector like "spec.nodeName=node-1".
	FieldSelector string
	// ResourceVersion: for a watch, the revision after which to stream
	// (empty: the current objects first, as ADDED events).
	ResourceVersion string
	// TimeoutSeconds ends a watch after that long (0: server default).
	TimeoutSeconds int
}

func (o ListOptions) query() url.Values {
	q := url.Values{}
	if o.LabelSelector != "" {
		q.Set("labelSelector", o.LabelSelector)
	}
	if o.FieldSelector != "" {
		q.Set("fieldSelector", o.FieldSelector)
	}
	if o.ResourceVersion != "" {
		q.Set("resourceVersion", o.ResourceVersion)
	}
	if o.TimeoutSeconds > 0 {
		q.Set("timeoutSeconds", strconv.Itoa(o.TimeoutSeconds))
	}
	return q
}

// DeleteOptions tune a delete.
type DeleteOptions struct {
	// GracePeriodSeconds overrides the object's grace period; 0 deletes at once.
	GracePeriodSeconds *int64
	// PropagationPolicy says what becomes of the object's dependents:
	// Background (the default), Foreground or Orphan.
	PropagationPolicy api.DeletionPropagation
	// Preconditions (sent in a DeleteOptions body) make the server refuse
	// the delete with 409 Conflict unless the object still has this uid
	// and/or resourceVersion: a delete meant for one object never removes
	// another that took its name.
	Preconditions *api.Preconditions
}

// PreconditionUID is the Preconditions of a delete meant only for the
// object with uid.
func PreconditionUID(uid string) *api.Preconditions { return &api.Preconditions{UID: &uid} }

// KindOf finds the kind of obj from its apiVersion and kind, or from its Go
// type when those are empty.
func (c *Client) KindOf(obj api.Object) (*api.KindInfo, error) {
	tm := obj.GetTypeMeta()
	if tm.Kind != "" {
		k, ok := c.scheme.ByKind(tm.APIVersion, tm.Kind)
		if !ok {
			return nil, fmt.Errorf("no kind %q is registered for version %q", tm.Kind, tm.APIVersion)
		}
		return k, nil
	}
	if k, ok := c.scheme.ForObject(obj); ok {
		return k, nil
	}
	return nil, fmt.Errorf("type %T is not a registered kind", obj)
}

func objectPath(k *api.KindInfo, obj api.Object) string {
	m := obj.GetObjectMeta()
	return k.Path(m.Namespace, m.Name)
}

// Get reads one object into out.
func (c *Client) Get(ctx context.Context, k *api.KindInfo, namespace, name string, out api.Object) error {
	return c.Do(ctx, http.MethodGet, k.Path(namespace, name), nil, nil, out)
}

// List reads the objects of a kind in a namespace ("" for all namespaces or
// a cluster-scoped kind) and the revision they were read at.
func (c *Client) List(ctx context.Context, k *api.KindInfo, namespace string, opts ListOptions) ([]api.Object, string, error) {
	var l api.List
	if err := c.Do(ctx, http.MethodGet, k.Path(namespace, ""), opts.query(), nil, &l); err != nil {
		return nil, "", err
	}
	out := make([]api.Object, 0, len(l.Items))
	for _, raw := range l.Items {
		obj := k.New()
		if err := json.Unmarshal(raw, obj); err != nil {
			return nil, "", fmt.Errorf("decode %s: %w", k.Resource, err)
		}
		out = append(out, obj)
	}
	return out, l.Metadata.ResourceVersion, nil
}

// Create stores a new object; obj is replaced by what the server stored
// (defaults, uid, resourceVersion).
func (c *Client) Create(ctx context.Context, obj api.Object) error {
	k, err := c.KindOf(obj)
	if err != nil {
		return err
	}
	m := obj.GetObjectMeta()
	return c.Do(ctx, http.MethodPost, k.Path(m.Namespace, ""), nil, obj, obj)
}

// Update replaces an object; a resourceVersion in obj makes it a
// compare-and-swap (409 when stale). obj is replaced by the stored state.
func (c *Client) Update(ctx context.Context, obj api.Object) error {
	k, err := c.KindOf(obj)
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodPut, objectPath(k, obj), nil, obj, obj)
}

// UpdateStatus replaces only the status of an object.
func (c *Client) UpdateStatus(ctx context.Context, obj api.Object) error {
	k, err := c.KindOf(obj)
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodPut, objectPath(k, obj)+"/status", nil, obj, obj)
}

// FinalizeNamespace replaces the spec.finalizers of a namespace through its
// finalize subresource, the only way to change them (a plain update keeps
// the stored ones); ns is replaced by the stored state. A resourceVersion in
// ns makes it a compare-and-swap.
func (c *Client) FinalizeNamespace(ctx context.Context, ns *api.Namespace) error {
	k, err := c.KindOf(ns)
	if err != nil {
		return err
	}
	return c.Do(ctx, http.MethodPut, objectPath(k, ns)+"/"+api.SubresourceFinalize, nil, ns, ns)
}

// Delete removes an object. Objects with finalizers, and pods running on a
// node, are first marked with a deletionTimestamp; out (may be nil)
// receives the object as the server last had it.
func (c *Client) Delete(ctx context.Context, k *api.KindInfo, namespace, name string, opts DeleteOptions, out api.Object) error {
	q := url.Values{}
	if opts.GracePeriodSeconds != nil {
		q.Set("gracePeriodSeconds", strconv.FormatInt(*opts.GracePeriodSeconds, 10))
	}
	if opts.PropagationPolicy != "" {
		q.Set("propagationPolicy", string(opts.PropagationPolicy))
	}
	var sink, body any
	if out != nil {
		sink = out
	}
	if opts.Preconditions != nil {
		body = &api.DeleteOptions{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "DeleteOptions"}, Preconditions: opts.Preconditions}
	}
	return c.Do(ctx, http.MethodDelete, k.Path(namespace, name), q, body, sink)
}

// Resource is a typed view of one kind: For[api.Pod](c).Get(ctx, "default", "web").
type Resource[T any, P interface {
	*T
	api.Object
}] struct {
	c    *Client
	kind *api.KindInfo
}

// For returns the typed view of the kind whose Go type is T.
func For[T any, P interface {
	*T
	api.Object
}](c *Client) *Resource[T, P] {
	k, err := c.KindOf(P(new(T)))
	if err != nil {
		panic(fmt.Sprintf("client.For: %v", err)) // a programming error, found by any test
	}
	return &Resource[T, P]{c: c, kind: k}
}

// Kind describes the kind of the view.
func (r *Resource[T, P]) Kind() *api.KindInfo { return r.kind }

// Get reads one object.
func (r *Resource[T, P]) Get(ctx context.Context, namespace, name string) (P, error) {
	out := P(new(T))
	if err := r.c.Get(ctx, r.kind, namespace, name, out); err != nil {
		return nil, err
	}
	return out, nil
}

// List reads objects and the revision they were read at.
func (r *Resource[T, P]) List(ctx context.Context, namespace string, opts ListOptions) ([]P, string, error) {
	objs, rv, err := r.c.List(ctx, r.kind, namespace, opts)
	if err != nil {
		return nil, "", err
	}
	out := make([]P, len(objs))
	for i, o := range objs {
		out[i] = o.(P)
	}
	return out, rv, nil
}

// Create stores obj and returns the stored state.
func (r *Resource[T, P]) Create(ctx context.Context, obj P) (P, error) {
	if err := r.c.Create(ctx, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// Update replaces obj (compare-and-swap on its resourceVersion, if set).
func (r *Resource[T, P]) Update(ctx context.Context, obj P) (P, error) {
	if err := r.c.Update(ctx, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// UpdateStatus replaces the status of obj.
func (r *Resource[T, P]) UpdateStatus(ctx context.Context, obj P) (P, error) {
	if err := r.c.UpdateStatus(ctx, obj); err != nil {
		return nil, err
	}
	return obj, nil
}

// Delete removes an object.
func (r *Resource[T, P]) Delete(ctx context.Context, namespace, name string, opts DeleteOptions) error {
	return r.c.Delete(ctx, r.kind, namespace, name, opts, nil)
}

// Watch streams changes of the kind.
func (r *Resource[T, P]) Watch(ctx context.Context, namespace string, opts ListOptions) (*Watcher, error) {
	return r.c.Watch(ctx, r.kind, namespace, opts)
}
