package client

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"

	"github.com/cloudmgr/cloud/api"
)

// LoadImages uploads an image tarball (an OCI image layout or a docker
// save archive) of size bytes to the control plane, which keeps its images
// and serves them to the nodes. The upload is streamed from r and bounded
// only by ctx, not by the client's request timeout, since it may be
// gigabytes. It returns the images loaded. Administrators only.
func (c *Client) LoadImages(ctx context.Context, r io.Reader, size int64) (*api.ImageList, error) {
	u := *c.base
	u.Path = c.base.Path + "/apis/" + api.GroupImages + "/" + api.VersionImages + "/images"
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u.String(), io.NopCloser(r))
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	req.ContentLength = size
	req.Header.Set("Content-Type", "application/x-tar")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("load images: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("load images: read response: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, statusError(resp.StatusCode, data)
	}
	var out api.ImageList
	if err := json.Unmarshal(data, &out); err != nil {
		return nil, fmt.Errorf("load images: decode response: %w", err)
	}
	return &out, nil
}
