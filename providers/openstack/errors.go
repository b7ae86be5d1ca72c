package openstack

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/cloudmgr/cloud/iaas"
)

// classify wraps err, the answer to op, with the iaas error it means:
// 404 ErrNotFound; 403 or 413 about a quota ErrQuota; 5xx, 429 and
// network errors ErrUnreachable.
func classify(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("openstack: %s: %w", op, err)
	}
	if code, msg, ok := responseCode(err); ok {
		switch {
		case code == http.StatusNotFound:
			return fmt.Errorf("openstack: %s: %w: %s", op, iaas.ErrNotFound, msg)
		case (code == http.StatusForbidden || code == http.StatusRequestEntityTooLarge) && isQuota(msg):
			return fmt.Errorf("openstack: %s: %w: %s", op, iaas.ErrQuota, msg)
		case code >= 500 || code == http.StatusTooManyRequests:
			return fmt.Errorf("openstack: %s: %w: HTTP %d: %s", op, iaas.ErrUnreachable, code, msg)
		default:
			return fmt.Errorf("openstack: %s: HTTP %d: %s", op, code, msg)
		}
	}
	var ue *url.Error
	var ne net.Error
	var reauth *gophercloud.ErrUnableToReauthenticate
	switch {
	case errors.As(err, &reauth):
		c := classify("re-authenticate", reauth.ErrReauth)
		if errors.Is(c, iaas.ErrUnreachable) {
			return fmt.Errorf("openstack: %s: token expired: %w", op, c)
		}
		return fmt.Errorf("openstack: %s: token expired and re-authentication failed: %v", op, c)
	case errors.As(err, &ue), errors.As(err, &ne):
		return fmt.Errorf("openstack: %s: %w: %w", op, iaas.ErrUnreachable, err)
	}
	return fmt.Errorf("openstack: %s: %w", op, err)
}

// responseCode returns the HTTP status and the message of an OpenStack
// error response.
func responseCode(err error) (int, string, bool) {
	var rc gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &rc) {
		return rc.Actual, errorMessage(rc.Body), true
	}
	var prc *gophercloud.ErrUnexpectedResponseCode
	if errors.As(err, &prc) {
		return prc.Actual, errorMessage(prc.Body), true
	}
	return 0, "", false
}

// errorMessage is the message of an error body: Nova's
// {"forbidden": {"code": 403, "message": "..."}}, Keystone's
// {"error": {"message": "..."}}, or the body itself.
func errorMessage(body []byte) string {
	var m map[string]json.RawMessage
	if json.Unmarshal(body, &m) == nil {
		for _, v := range m {
			var e struct {
				Message string `json:"message"`
			}
			if json.Unmarshal(v, &e) == nil && e.Message != "" {
				return e.Message
			}
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

func isQuota(msg string) bool {
	m := strings.ToLower(msg)
	return strings.Contains(m, "quota") || strings.Contains(m, "limit exceeded")
}

// isNotFound reports whether err is a 404 answer.
func isNotFound(err error) bool {
	code, _, ok := responseCode(err)
	return ok && code == http.StatusNotFound
}

// ambiguous reports whether a request that failed with err may have been
// carried out all the same (no answer, or a server error).
func ambiguous(err error) bool {
	if code, _, ok := responseCode(err); ok {
		return code >= 500
	}
	return true
}
