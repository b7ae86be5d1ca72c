package apiserver_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
)

// TestRoutes: paths and methods the API does not serve are 404 and 405
// Status answers.
func TestRoutes(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	cases := []struct {
		method, path string
		code         int
		reason       api.StatusReason
	}{
		{"GET", "/api/v1/widgets", 404, api.StatusReasonNotFound},
		{"GET", "/api/v2/pods", 404, api.StatusReasonNotFound},
		{"GET", "/apis/iaas.cloudmgr.dev/v1/nodepools", 404, api.StatusReasonNotFound},
		{"GET", "/apis/nope.example.com/v1alpha1/nodepools", 404, api.StatusReasonNotFound},
		{"GET", "/api/v1/namespaces/default/pods/web/logs", 404, api.StatusReasonNotFound},
		{"GET", "/api/v1/namespaces/default/pods/web/status/extra", 404, api.StatusReasonNotFound},
		{"GET", "/api/v1/tenants/acme/status", 404, api.StatusReasonNotFound},
		{"GET", "/api/v1/namespaces/default/pods/web/token", 404, api.StatusReasonNotFound},
		{"GET", "/api/v1/namespaces/default/pods/web", 404, api.StatusReasonNotFound},
		{"PUT", "/api/v1/namespaces/default/pods", 405, api.StatusReasonMethodNotAllowed},
		{"DELETE", "/api/v1/namespaces/default/pods", 405, api.StatusReasonMethodNotAllowed},
		{"POST", "/api/v1/namespaces/default/pods/web", 405, api.StatusReasonMethodNotAllowed},
		{"PATCH", "/api/v1/namespaces/default/pods/web", 405, api.StatusReasonMethodNotAllowed},
		{"GET", "/api/v1/tenants/acme/token", 405, api.StatusReasonMethodNotAllowed},
		{"POST", "/api/v1/namespaces/default/pods/web/status", 405, api.StatusReasonMethodNotAllowed},
	}
	for _, tc := range cases {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			var body []byte
			if tc.method == "POST" || tc.method == "PUT" || tc.method == "PATCH" {
				body = []byte(`{}`)
			}
			r := rawRequest(t, env, env.AdminToken, tc.method, tc.path, "application/json", body)
			wantRawStatus(t, r, tc.code, tc.reason)
		})
	}
	t.Run("list envelope", func(t *testing.T) {
		r := rawRequest(t, env, env.AdminToken, "GET", "/api/v1/namespaces", "", nil)
		if r.Code != http.StatusOK || r.Header.Get("Content-Type") != "application/json" {
			t.Fatalf("got %d %s", r.Code, r.Header.Get("Content-Type"))
		}
		var l api.List
		if err := json.Unmarshal(r.Body, &l); err != nil {
			t.Fatal(err)
		}
		if l.APIVersion != "v1" || l.Kind != "NamespaceList" || l.Metadata.ResourceVersion == "" || len(l.Items) != 2 { // default and cloud-node-lease
			t.Errorf("list envelope %+v", l)
		}
	})
}
