package openstack

import (
	"errors"
	"net/url"
	"syscall"
	"testing"

	"github.com/gophercloud/gophercloud/v2"

	"github.com/cloudmgr/cloud/iaas"
)

func TestClassify(t *testing.T) {
	resp := func(code int, body string) error {
		return gophercloud.ErrUnexpectedResponseCode{Actual: code, Body: []byte(body)}
	}
	cases := []struct {
		name string
		err  error
		want error // nil: none of the typed errors
	}{
		{"403 quota", resp(403, `{"forbidden": {"code": 403, "message": "Quota exceeded for cores: Requested 2, but already used 20 of 20 cores"}}`), iaas.ErrQuota},
		{"413 over limit", resp(413, `{"overLimit": {"code": 413, "message": "Quota exceeded for ram: Requested 4096, but already used 51200 of 51200 ram"}}`), iaas.ErrQuota},
		{"403 policy", resp(403, `{"forbidden": {"code": 403, "message": "Policy doesn't allow os_compute_api:servers:create to be performed."}}`), nil},
		{"404", resp(404, `{"itemNotFound": {"code": 404, "message": "Instance x could not be found."}}`), iaas.ErrNotFound},
		{"503", resp(503, `{"computeFault": {"code": 503, "message": "Service Unavailable"}}`), iaas.ErrUnreachable},
		{"after re-authentication", gophercloud.ErrErrorAfterReauthentication{ErrOriginal: resp(500, "boom")}, iaas.ErrUnreachable},
		{"400", resp(400, `{"badRequest": {"code": 400, "message": "Flavor 9 could not be found."}}`), nil},
		{"connection refused", &url.Error{Op: "Get", URL: "http://x", Err: syscall.ECONNREFUSED}, iaas.ErrUnreachable},
		{"re-authentication unreachable", &gophercloud.ErrUnableToReauthenticate{ErrOriginal: resp(401, ""),
			ErrReauth: &url.Error{Op: "Post", URL: "http://x", Err: syscall.ECONNREFUSED}}, iaas.ErrUnreachable},
		{"re-authentication refused", &gophercloud.ErrUnableToReauthenticate{ErrOriginal: resp(401, ""), ErrReauth: resp(401, "")}, nil},
	}
	typed := []error{iaas.ErrQuota, iaas.ErrNotFound, iaas.ErrUnreachable, iaas.ErrInsufficientCapacity}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got := classify("op", tc.err)
			for _, e := range typed {
				if errors.Is(got, e) != (e == tc.want) {
					t.Fatalf("classify: %v; is %v = %v, want %v", got, e, errors.Is(got, e), e == tc.want)
				}
			}
		})
	}
}
