// Package client is the Go client of the cloudd HTTP API: raw requests, typed
// resources, watches and a watch-fed cache. cloudctl, cloudlet and the
// controllers all act through it, so every write passes the API server's
// authentication, authorization and validation.
package client

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// Config says how to reach and authenticate to an API server.
type Config struct {
	// Server is the base URL, e.g. https://127.0.0.1:6443.
	Server string
	// CAData is the PEM bundle that signs the server certificate; empty
	// means the system roots.
	CAData []byte
	// Token is the bearer token.
	Token string
	// Timeout bounds each non-watch request (default 30s).
	Timeout time.Duration
	// UserAgent names the caller in the server's logs.
	UserAgent string
}

// Client talks to one API server.
type Client struct {
	base    *url.URL
	token   string
	agent   string
	timeout time.Duration
	http    *http.Client
	scheme  *api.Scheme
	// tls is a private copy of the TLS settings (the transport edits its
	// own on first use), for the node tunnel's own connections.
	tls *tls.Config
}

// New builds a client. It does not contact the server.
func New(cfg Config, scheme *api.Scheme) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(cfg.Server, "/"))
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, fmt.Errorf("server %q: must be an http(s) URL like https://127.0.0.1:6443", cfg.Server)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	tlsConfig := &tls.Config{MinVersion: tls.VersionTLS12}
	if len(cfg.CAData) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(cfg.CAData) {
			return nil, errors.New("certificate authority data holds no PEM certificate")
		}
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
		tlsConfig = tr.TLSClientConfig.Clone()
	}
	timeout := cfg.Timeout
	if timeout == 0 {
		timeout = 30 * time.Second
	}
	agent := cfg.UserAgent
	if agent == "" {
		agent = "cloudmgr-client"
	}
	return &Client{base: u, token: cfg.Token, agent: agent, timeout: timeout, http: &http.Client{Transport: tr}, scheme: scheme, tls: tlsConfig}, nil
}

// WithToken returns a client of the same server acting with another bearer
// token. It shares c's transport, so its requests ride c's connections
// (multiplexed over HTTP/2): many identities in one process, such as the
// simulator's thousands of node agents, need not hold a connection each.
func (c *Client) WithToken(token string) *Client {
	cc := *c
	cc.token = token
	return &cc
}

// Scheme returns the kinds the client knows.
func (c *Client) Scheme() *api.Scheme { return c.scheme }

// Server is the base URL of the API server.
func (c *Client) Server() string { return c.base.String() }

// Do sends a request with an optional JSON body and decodes a JSON answer
// into out (may be nil). A non-2xx answer is returned as *api.Status.
func (c *Client) Do(ctx context.Context, method, path string, query url.Values, body, out any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	resp, err := c.send(ctx, method, path, query, body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return fmt.Errorf("%s %s: read response: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		return statusError(resp.StatusCode, data)
	}
	if out == nil {
		return nil
	}
	// The answer replaces out whole: fields the server dropped must not
	// survive from what the caller sent (out is often the request body).
	if v := reflect.ValueOf(out); v.Kind() == reflect.Pointer && !v.IsNil() {
		v.Elem().Set(reflect.Zero(v.Elem().Type()))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: decode response: %w", method, path, err)
	}
	return nil
}

func (c *Client) send(ctx context.Context, method, path string, query url.Values, body any) (*http.Response, error) {
	u := *c.base
	u.Path = c.base.Path + path
	u.RawQuery = query.Encode()
	var rd io.Reader
	if body != nil {
		switch b := body.(type) {
		case []byte:
			rd = bytes.NewReader(b)
		default:
			data, err := json.Marshal(body)
			if err != nil {
				return nil, fmt.Errorf("encode request: %w", err)
			}
			rd = bytes.NewReader(data)
		}
	}
	req, err := http.NewRequestWithContext(ctx, method, u.String(), rd)
	if err != nil {
		return nil, fmt.Errorf("build request: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("User-Agent", c.agent)
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, u.Redacted(), err)
	}
	return resp, nil
}

// statusError turns an error response into *api.Status, synthesizing one
// when the body is not a Status (a proxy's error page, say).
func statusError(code int, body []byte) error {
	var st api.Status
	if err := json.Unmarshal(body, &st); err != nil || st.Kind != "Status" {
		msg := strings.TrimSpace(string(body))
		if len(msg) > 200 {
			msg = msg[:200]
		}
		if msg == "" {
			msg = http.StatusText(code)
		}
		return &api.Status{Status: "Failure", Code: int32(code), Message: fmt.Sprintf("server answered %d: %s", code, msg)}
	}
	if st.Code == 0 {
		st.Code = int32(code)
	}
	return &st
}

// Code returns the HTTP code of an API error, or 0 for other errors.
func Code(err error) int {
	var st *api.Status
	if errors.As(err, &st) {
		return int(st.Code)
	}
	return 0
}

// IsNotFound reports a 404 from the API.
func IsNotFound(err error) bool { return Code(err) == http.StatusNotFound }

// IsConflict reports a 409 caused by a stale resourceVersion.
func IsConflict(err error) bool { return reason(err) == api.StatusReasonConflict }

// IsAlreadyExists reports a 409 caused by a create of an existing name.
func IsAlreadyExists(err error) bool { return reason(err) == api.StatusReasonAlreadyExists }

// IsInvalid reports a 422: the object (or a binding's target) broke a
// validation or admission rule; the Status causes name the fields.
func IsInvalid(err error) bool { return reason(err) == api.StatusReasonInvalid }

// IsForbidden reports a 403: the caller may not do this.
func IsForbidden(err error) bool { return Code(err) == http.StatusForbidden }

// IsGone reports a 410: a watch revision too old; relist.
func IsGone(err error) bool { return Code(err) == http.StatusGone }

// IgnoreNotFound returns nil for a 404 and err otherwise.
func IgnoreNotFound(err error) error {
	if IsNotFound(err) {
		return nil
	}
	return err
}

func reason(err error) api.StatusReason {
	var st *api.Status
	if errors.As(err, &st) {
		return st.Reason
	}
	return ""
}
