package containerd

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/containerd/containerd/v2/core/remotes/docker"
	remoteerrors "github.com/containerd/containerd/v2/core/remotes/errors"
	"github.com/containerd/errdefs"

	"github.com/cloudmgr/cloud/caas"
)

// A registry that refuses every credential makes EnsureImage fail with
// ErrUnauthorized, with and without credentials given.
func TestEnsureImageUnauthorized(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := testContext(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Basic realm="cloudmgr-test"`)
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = w.Write([]byte(`{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`))
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	rt.cfg.PlainHTTPRegistries = append(rt.cfg.PlainHTTPRegistries, host)
	for _, auth := range []*caas.RegistryAuth{nil, {Username: "u", Password: "wrong"}} {
		_, err := rt.EnsureImage(ctx, host+"/cloudmgr/busybox:test", false, auth)
		if !errors.Is(err, caas.ErrUnauthorized) {
			t.Errorf("auth %v: %v, want ErrUnauthorized", auth != nil, err)
		}
	}
}

func TestClassifyPullError(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want error
	}{
		{fmt.Errorf("x: %w", errdefs.ErrNotFound), caas.ErrImageNotFound},
		{remoteerrors.ErrUnexpectedStatus{StatusCode: 401}, caas.ErrUnauthorized},
		{fmt.Errorf("pull: %w", remoteerrors.ErrUnexpectedStatus{StatusCode: 403}), caas.ErrUnauthorized},
		{fmt.Errorf("denied: %w", docker.ErrInvalidAuthorization), caas.ErrUnauthorized},
		{remoteerrors.ErrUnexpectedStatus{StatusCode: 503}, caas.ErrRegistryUnavailable},
		{&net.OpError{Op: "dial", Err: errors.New("refused")}, caas.ErrRegistryUnavailable},
	} {
		if got := classifyPullError(tc.err); !errors.Is(got, tc.want) {
			t.Errorf("classify(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}
