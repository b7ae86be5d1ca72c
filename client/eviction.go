package client

import (
	"context"
	"net/http"

	"github.com/cloudmgr/cloud/api"
)

// EvictPod asks the API to evict the pod namespace/name: delete it (with
// gracePeriodSeconds when not nil) unless that would break a
// PodDisruptionBudget, in which case the answer is a 429
// (IsTooManyRequests) and the caller retries later.
func (c *Client) EvictPod(ctx context.Context, namespace, name string, gracePeriodSeconds *int64) error {
	k, err := c.KindOf(&api.Pod{})
	if err != nil {
		return err
	}
	e := &api.Eviction{
		TypeMeta:   api.TypeMeta{APIVersion: api.APIVersionPolicy, Kind: api.KindEviction},
		ObjectMeta: api.ObjectMeta{Namespace: namespace, Name: name},
	}
	if gracePeriodSeconds != nil {
		e.DeleteOptions = &api.EvictionDeleteOptions{GracePeriodSeconds: gracePeriodSeconds}
	}
	return c.Do(ctx, http.MethodPost, k.Path(namespace, name)+"/eviction", nil, e, nil)
}

// IsTooManyRequests reports a 429: for an eviction, a disruption budget
// forbids it now.
func IsTooManyRequests(err error) bool { return Code(err) == http.StatusTooManyRequests }
