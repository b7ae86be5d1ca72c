package apiserver_test

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// podYAML is a valid pod manifest; cases break one thing in it.
const podYAML = `apiVersion: v1
kind: Pod
metadata:
  name: NAME
  namespace: default
spec:
  containers:
  - name: app
    image: nginx:1.27
`

func toJSON(t *testing.T, y string) []byte {
	t.Helper()
	js, err := yaml.YAMLToJSON([]byte(y))
	if err != nil {
		t.Fatalf("test manifest is not YAML: %v\n%s", err, y)
	}
	return js
}

// snapshot is every pod and namespace with its resourceVersion, to show
// that a rejected request wrote nothing.
func snapshot(t *testing.T, c *client.Client) map[string]string {
	t.Helper()
	ctx := context.Background()
	out := map[string]string{}
	pods, _, err := client.For[api.Pod](c).List(ctx, "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range pods {
		out["pod "+p.Namespace+"/"+p.Name] = p.ResourceVersion
	}
	nss, _, err := client.For[api.Namespace](c).List(ctx, "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range nss {
		out["namespace "+n.Name] = n.ResourceVersion
	}
	return out
}

// TestBadInputWritesNothing sends broken manifests, each as YAML and as
// JSON, and checks the exact code, reason and field path of the answer and
// that nothing was stored.
func TestBadInputWritesNothing(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	createPod(t, env.Admin, "default", "web")
	before := snapshot(t, env.Admin)

	const podsPath = "/api/v1/namespaces/default/pods"
	cases := []struct {
		name   string
		method string
		path   string
		yaml   string // the body, sent as YAML and converted to JSON
		code   int
		reason api.StatusReason
		field  string // a cause that must be present ("" for none)
		msg    string // in the cause, or in the message when field is ""
	}{
		{
			name: "unknown field at depth", method: "POST", path: podsPath,
			yaml: strings.Replace(podYAML, "    image: nginx:1.27", "    imagee: nginx:1.27", 1),
			code: 400, reason: api.StatusReasonBadRequest, field: "spec.containers[0].imagee", msg: "unknown field",
		},
		{
			name: "wrong type", method: "POST", path: podsPath,
			yaml: strings.Replace(podYAML, "  containers:\n  - name: app\n    image: nginx:1.27\n", "  containers: nginx\n", 1),
			code: 400, reason: api.StatusReasonBadRequest, field: "spec.containers", msg: "expected array, got string",
		},
		{
			name: "bad quantity", method: "POST", path: podsPath,
			yaml: podYAML + "    resources:\n      limits:\n        cpu: 25x0m\n",
			code: 400, reason: api.StatusReasonBadRequest, field: "spec.containers[0].resources.limits.cpu", msg: "25x0m",
		},
		{
			name: "kind of another resource", method: "POST", path: podsPath,
			yaml: strings.Replace(podYAML, "kind: Pod", "kind: Node", 1),
			code: 400, reason: api.StatusReasonBadRequest, field: "kind", msg: `must be "Pod"`,
		},
		{
			name: "invalid DNS-1123 name", method: "POST", path: podsPath,
			yaml: strings.Replace(podYAML, "name: NAME", "name: Bad_Name", 1),
			code: 422, reason: api.StatusReasonInvalid, field: "metadata.name", msg: `Invalid value "Bad_Name"`,
		},
		{
			name: "missing image", method: "POST", path: podsPath,
			yaml: strings.Replace(podYAML, "    image: nginx:1.27\n", "", 1),
			code: 422, reason: api.StatusReasonInvalid, field: "spec.containers[0].image", msg: "spec.containers[0].image: Required value",
		},
		{
			name: "no containers", method: "POST", path: podsPath,
			yaml: strings.Replace(podYAML, "  containers:\n  - name: app\n    image: nginx:1.27\n", "  containers: []\n", 1),
			code: 422, reason: api.StatusReasonInvalid, field: "spec.containers", msg: "spec.containers: Required value",
		},
		{
			name: "namespace that does not exist", method: "POST", path: "/api/v1/namespaces/nope/pods",
			yaml: strings.Replace(podYAML, "namespace: default", "namespace: nope", 1),
			code: 404, reason: api.StatusReasonNotFound, msg: `namespaces "nope" not found`,
		},
		{
			name: "namespace mismatch URL/body", method: "POST", path: "/api/v1/namespaces/kube-system/pods",
			code: 400, reason: api.StatusReasonBadRequest, msg: "does not match the namespace of the request (kube-system)",
		},
		{
			name: "name mismatch URL/body", method: "PUT", path: podsPath + "/web",
			yaml: strings.Replace(podYAML, "name: NAME", "name: other", 1),
			code: 400, reason: api.StatusReasonBadRequest, msg: "does not match the name in the URL (web)",
		},
		{
			name: "namespace on a cluster-scoped kind", method: "POST", path: "/api/v1/namespaces",
			yaml: "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n  namespace: default\n",
			code: 422, reason: api.StatusReasonInvalid, field: "metadata.namespace", msg: "Forbidden",
		},
		{
			name: "stale resourceVersion that is not a number", method: "PUT", path: podsPath + "/web",
			yaml: strings.Replace(podYAML, "name: NAME", "name: web\n  resourceVersion: abc", 1),
			code: 400, reason: api.StatusReasonBadRequest, msg: "metadata.resourceVersion",
		},
	}
	for _, tc := range cases {
		if tc.yaml == "" {
			tc.yaml = podYAML
		}
		tc.yaml = strings.Replace(tc.yaml, "name: NAME", "name: web-new", 1)
		bodies := []struct{ ct, body string }{
			{"application/yaml", tc.yaml},
			{"application/json", string(toJSON(t, tc.yaml))},
		}
		for _, b := range bodies {
			t.Run(tc.name+"/"+b.ct, func(t *testing.T) {
				r := rawRequest(t, env, env.AdminToken, tc.method, tc.path, b.ct, []byte(b.body))
				st := wantRawStatus(t, r, tc.code, tc.reason)
				if tc.field != "" {
					wantCause(t, st, tc.field, tc.msg)
				} else if !strings.Contains(st.Message, tc.msg) {
					t.Errorf("message %q does not contain %q", st.Message, tc.msg)
				}
				if after := snapshot(t, env.Admin); !reflect.DeepEqual(after, before) {
					t.Errorf("the store changed:\nbefore %v\nafter  %v", before, after)
				}
			})
		}
	}
}

// TestBadEnvelopeWritesNothing covers what is wrong with a request rather
// than with the manifest in it: syntax, media type, emptiness.
func TestBadEnvelopeWritesNothing(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	before := snapshot(t, env.Admin)
	const podsPath = "/api/v1/namespaces/default/pods"
	cases := []struct {
		name   string
		ct     string
		body   string
		code   int
		reason api.StatusReason
		msg    string
	}{
		{"malformed YAML", "application/yaml", "apiVersion: v1\nkind: Pod\nmetadata:\n  name: web\n    labels: {}\nspec: {}\n",
			400, api.StatusReasonBadRequest, "line 5"},
		{"malformed JSON", "application/json", "{\"apiVersion\": \"v1\",\n\"kind\": \"Pod\",\n\"metadata\": {\"name\": \"web\",}}",
			400, api.StatusReasonBadRequest, "line 3"},
		{"truncated JSON", "application/json", `{"apiVersion":"v1","kind":"Pod"`,
			400, api.StatusReasonBadRequest, "unexpected end of JSON input"},
		{"not an object", "application/json", `["a"]`,
			400, api.StatusReasonBadRequest, "expected object, got array"},
		{"duplicate key", "application/json", `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"dup","name":"dup2"},"spec":{"containers":[{"name":"app","image":"nginx"}]}}`,
			400, api.StatusReasonBadRequest, "metadata.name: Duplicate value"},
		{"empty body", "application/json", "  \n",
			400, api.StatusReasonBadRequest, "the request body is empty"},
		{"unsupported media type", "text/plain", podYAML,
			415, api.StatusReasonUnsupportedMediaType, `unsupported media type "text/plain"`},
		{"unparsable media type", "application/", podYAML,
			415, api.StatusReasonUnsupportedMediaType, "unsupported media type"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := rawRequest(t, env, env.AdminToken, "POST", podsPath, tc.ct, []byte(strings.Replace(tc.body, "NAME", "web", 1)))
			st := wantRawStatus(t, r, tc.code, tc.reason)
			if !strings.Contains(st.Message, tc.msg) {
				t.Errorf("message %q does not contain %q", st.Message, tc.msg)
			}
			if after := snapshot(t, env.Admin); !reflect.DeepEqual(after, before) {
				t.Errorf("the store changed:\nbefore %v\nafter  %v", before, after)
			}
		})
	}
}

// TestManifestFormats: the body is read as JSON or YAML by its content,
// whatever JSON or YAML media type names it (JSON is YAML).
func TestManifestFormats(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	cases := []struct {
		name string
		ct   string
		json bool
	}{
		{"yaml-as-yaml", "application/yaml", false},
		{"yaml-as-x-yaml", "application/x-yaml", false},
		{"yaml-as-text-yaml", "text/yaml", false},
		{"json-as-json", "application/json", true},
		{"json-as-json-charset", "application/json; charset=utf-8", true},
		{"json-as-yaml", "application/yaml", true},
		{"yaml-as-json", "application/json", false},
		{"json-without-type", "", true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			body := []byte(strings.Replace(podYAML, "NAME", tc.name, 1))
			if tc.json {
				body = toJSON(t, string(body))
			}
			r := rawRequest(t, env, env.AdminToken, "POST", "/api/v1/namespaces/default/pods", tc.ct, body)
			if r.Code != http.StatusCreated {
				t.Fatalf("got %d %s, want 201", r.Code, r.Body)
			}
			p, err := client.For[api.Pod](env.Admin).Get(context.Background(), "default", tc.name)
			if err != nil {
				t.Fatal(err)
			}
			if p.Spec.Containers[0].Image != "nginx:1.27" {
				t.Errorf("stored image %q", p.Spec.Containers[0].Image)
			}
		})
	}
}

// TestBodyOverLimit: a body over MaxBodyBytes is 413 and not stored, even
// when the manifest in it is valid; one under the limit is accepted.
func TestBodyOverLimit(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{MaxBodyBytes: 4096})
	withAnnotation := func(name string, size int) []byte {
		y := strings.Replace(podYAML, "name: NAME", fmt.Sprintf("name: %s\n  annotations:\n    filler: %s", name, strings.Repeat("x", size)), 1)
		return toJSON(t, y)
	}
	big := withAnnotation("big", 10<<10)
	if len(big) <= 10<<10 {
		t.Fatalf("test body is only %d bytes", len(big))
	}
	r := rawRequest(t, env, env.AdminToken, "POST", "/api/v1/namespaces/default/pods", "application/json", big)
	st := wantRawStatus(t, r, http.StatusRequestEntityTooLarge, api.StatusReasonRequestEntityTooLarge)
	if !strings.Contains(st.Message, "4096") {
		t.Errorf("message %q does not name the limit", st.Message)
	}
	if _, err := client.For[api.Pod](env.Admin).Get(context.Background(), "default", "big"); !client.IsNotFound(err) {
		t.Errorf("get the rejected pod: got %v, want 404", err)
	}

	small := withAnnotation("small", 3000)
	if len(small) > 4096 {
		t.Fatalf("test body is %d bytes, over the limit", len(small))
	}
	if r := rawRequest(t, env, env.AdminToken, "POST", "/api/v1/namespaces/default/pods", "application/json", small); r.Code != http.StatusCreated {
		t.Fatalf("body under the limit: got %d %s, want 201", r.Code, r.Body)
	}
}
