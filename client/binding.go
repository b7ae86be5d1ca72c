package client

import (
	"context"
	"net/http"

	"github.com/cloudmgr/cloud/api"
)

// BindPod binds the pod namespace/name to node through the binding
// subresource and returns the pod as stored: bound, PodScheduled True, no
// nominated node. uid, when not empty, must be the pod's, so that a pod
// deleted and created again under the same name is not bound on the
// strength of a decision about its predecessor.
//
// The answers a scheduler acts on: a 409 (IsConflict) when the pod is
// bound already or is another pod (another uid) or is being deleted; a 404
// (IsNotFound) when the pod is gone; a 422 (IsInvalid) naming target.name
// when the node does not exist.
func (c *Client) BindPod(ctx context.Context, namespace, name, uid, node string) (*api.Pod, error) {
	var out api.Pod
	if err := c.bind(ctx, namespace, name, uid, node, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Bind is BindPod for callers that need only the outcome: the answer is
// not decoded (the scheduler binds thousands of pods a second).
func (c *Client) Bind(ctx context.Context, namespace, name, uid, node string) error {
	return c.bind(ctx, namespace, name, uid, node, nil)
}

func (c *Client) bind(ctx context.Context, namespace, name, uid, node string, out *api.Pod) error {
	k, err := c.KindOf(&api.Pod{})
	if err != nil {
		return err
	}
	b := &api.Binding{
		TypeMeta:   api.TypeMeta{APIVersion: api.APIVersionV1, Kind: api.KindBinding},
		ObjectMeta: api.ObjectMeta{Namespace: namespace, Name: name, UID: uid},
		Target:     api.ObjectReference{Kind: api.KindNode, Name: node},
	}
	var sink any
	if out != nil {
		sink = out
	}
	return c.Do(ctx, http.MethodPost, k.Path(namespace, name)+"/binding", nil, b, sink)
}
