package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/cloudmgr/cloud/api"
)

// PodMetrics lists the latest CPU and memory use of the pods of namespace
// (of every namespace the caller may read when namespace is empty), as the
// node agents measured it: GET /apis/metrics.cloudmgr.dev/v1/[namespaces/NS/]pods.
func (c *Client) PodMetrics(ctx context.Context, namespace string) (*api.PodMetricsList, error) {
	path := "/apis/" + api.APIVersionMetrics + "/pods"
	if namespace != "" {
		path = "/apis/" + api.APIVersionMetrics + "/namespaces/" + url.PathEscape(namespace) + "/pods"
	}
	var out api.PodMetricsList
	if err := c.Do(ctx, http.MethodGet, path, nil, nil, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
