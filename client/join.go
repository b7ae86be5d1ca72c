package client

import (
	"context"
	"net/http"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// CreateJoinToken asks for a single-use join token valid for ttl (0: the
// server's default of one hour), optionally bound to one node name.
func (c *Client) CreateJoinToken(ctx context.Context, ttl time.Duration, nodeName string) (*api.JoinToken, error) {
	var out api.JoinToken
	req := api.JoinTokenRequest{TTLSeconds: int64(ttl.Seconds()), NodeName: nodeName}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/jointokens", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// CreateMachineJoinToken asks for a single-use join token valid for ttl
// (0: one hour) bound to the Machine called machine: the node joins under
// the machine's name, and the API server sets its provider ID and
// hypervisor label from the Machine. The IaaS controllers' role may mint
// only these.
func (c *Client) CreateMachineJoinToken(ctx context.Context, ttl time.Duration, machine string) (*api.JoinToken, error) {
	var out api.JoinToken
	req := api.JoinTokenRequest{TTLSeconds: int64(ttl.Seconds()), Machine: machine}
	if err := c.Do(ctx, http.MethodPost, "/api/v1/jointokens", nil, req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// Join exchanges the client's token, a join token, for the credential of
// node nodeName. The join token is used up.
func (c *Client) Join(ctx context.Context, nodeName string) (*api.NodeCredential, error) {
	var out api.NodeCredential
	if err := c.Do(ctx, http.MethodPost, "/api/v1/join", nil, api.JoinRequest{NodeName: nodeName}, &out); err != nil {
		return nil, err
	}
	return &out, nil
}
