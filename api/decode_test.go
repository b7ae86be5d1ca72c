package api

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func readFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodePodYAML(t *testing.T) {
	s := NewScheme()
	obj, k, err := s.Decode(readFixture(t, "pod.yaml"))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	if k.Kind != KindPod || k.Resource != "pods" {
		t.Fatalf("kind = %s/%s", k.Kind, k.Resource)
	}
	pod, ok := obj.(*Pod)
	if !ok {
		t.Fatalf("Decode returned %T, want *Pod", obj)
	}
	if pod.APIVersion != "v1" || pod.Kind != "Pod" {
		t.Errorf("TypeMeta = %+v", pod.TypeMeta)
	}
	if pod.Name != "web-0" || pod.Namespace != "shop" || pod.Labels["tier"] != "front" {
		t.Errorf("metadata = %+v", pod.ObjectMeta)
	}
	if len(pod.Spec.Containers) != 2 {
		t.Fatalf("containers = %d, want 2", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	if c.Image != "nginx:1.27" || c.WorkingDir != "/srv" || len(c.Args) != 2 || c.Args[1] != "daemon off;" {
		t.Errorf("container = %+v", c)
	}
	if got := c.Resources.Requests.Cpu().MilliValue(); got != 250 {
		t.Errorf("cpu request = %dm, want 250m", got)
	}
	if got := c.Resources.Limits.Memory().Value(); got != 128<<20 {
		t.Errorf("memory limit = %d", got)
	}
	if c.Env[1].Name != "EMPTY" || c.Env[1].Value != "" {
		t.Errorf("env[1] = %+v", c.Env[1])
	}
	if c.Ports[1].Protocol != ProtocolUDP || c.Ports[0].ContainerPort != 80 {
		t.Errorf("ports = %+v", c.Ports)
	}
	tol := pod.Spec.Tolerations[1]
	if tol.Operator != TolerationOpExists || tol.TolerationSeconds == nil || *tol.TolerationSeconds != 300 {
		t.Errorf("toleration = %+v", tol)
	}
	if pod.Spec.Priority == nil || *pod.Spec.Priority != 10 {
		t.Errorf("priority = %v", pod.Spec.Priority)
	}
	if errs := ValidatePod(pod); len(errs) > 0 {
		t.Errorf("fixture should be valid: %v", errs)
	}
}

func TestDecodePodJSON(t *testing.T) {
	s := NewScheme()
	obj, _, err := s.Decode(readFixture(t, "pod.json"))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	pod := obj.(*Pod)
	req := pod.Spec.Containers[0].Resources.Requests
	if req.Cpu().MilliValue() != 500 || req.Memory().Value() != 100000000 {
		t.Errorf("requests = cpu %s memory %s", req.Cpu(), req.Memory())
	}
	if pod.Spec.RestartPolicy != RestartPolicyOnFailure || *pod.Spec.TerminationGracePeriodSeconds != 10 {
		t.Errorf("spec = %+v", pod.Spec)
	}
}

func TestDecodeEveryKind(t *testing.T) {
	s := NewScheme()
	docs, err := SplitYAMLDocuments(readFixture(t, "cluster.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, d := range docs {
		obj, k, err := s.Decode(d)
		if err != nil {
			t.Fatalf("Decode: %v\n%s", err, d)
		}
		k.Default(obj)
		if errs := k.Validate(obj); len(errs) > 0 {
			t.Errorf("%s %s: %v", k.Kind, obj.GetObjectMeta().Name, errs)
		}
		kinds = append(kinds, k.Kind)
	}
	want := "Namespace Node Event Tenant NodePool VirtualMachine Hypervisor"
	if got := strings.Join(kinds, " "); got != want {
		t.Errorf("kinds = %s, want %s", got, want)
	}
}

func TestDecodeInto(t *testing.T) {
	s := NewScheme()
	var pod Pod
	if err := s.DecodeInto([]byte("metadata: {name: a, namespace: b}\nspec: {containers: [{name: c, image: i}]}\n"), &pod); err != nil {
		t.Fatalf("DecodeInto: %v", err)
	}
	if pod.Kind != "Pod" || pod.APIVersion != "v1" || pod.Spec.Containers[0].Image != "i" {
		t.Errorf("pod = %+v", pod)
	}
	var np NodePool
	err := s.DecodeInto([]byte(`{"apiVersion":"v1","kind":"Pod","spec":{"containers":[]}}`), &np)
	wantErr := `strict decoding error: apiVersion: Invalid value "v1": must be "iaas.cloudmgr.dev/v1alpha1" for this resource; ` +
		`kind: Invalid value "Pod": must be "NodePool" for this resource; spec.containers: unknown field`
	if err == nil || err.Error() != wantErr {
		t.Errorf("DecodeInto mismatched kind:\n got %v\nwant %s", err, wantErr)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name string
		data string // inline manifest, or "@file" under testdata
		want string // the exact error text
		line int    // expected DecodeError.Line, when a syntax error
	}{
		{
			name: "malformed YAML names the line",
			data: "@bad/malformed.yaml",
			want: "error parsing manifest: yaml: line 6: mapping values are not allowed in this context",
			line: 6,
		},
		{
			name: "malformed JSON names the line",
			data: "{\n  \"apiVersion\": \"v1\",\n  \"kind\": \"Pod\",,\n}",
			want: "error parsing manifest: line 3: invalid character ',' looking for beginning of object key string",
			line: 3,
		},
		{
			name: "unknown field at depth",
			data: "@bad/unknown-field.yaml",
			want: "strict decoding error: spec.containers[1].imagee: unknown field",
		},
		{
			name: "wrong types",
			data: "@bad/wrong-type.yaml",
			want: "strict decoding error: metadata.labels: Invalid type: expected object, got array; " +
				"spec.containers[0].ports[0].containerPort: Invalid type: expected integer, got string",
		},
		{
			name: "bad quantity",
			data: "@bad/bad-quantity.yaml",
			want: `strict decoding error: spec.containers[0].resources.limits.cpu: Invalid value "one": ` +
				`quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'`,
		},
		{
			name: "many errors at once",
			data: "@bad/multiple.yaml",
			want: "strict decoding error: metadata.colour: unknown field; " +
				"spec.containers[0].image: Invalid type: expected string, got array; " +
				`spec.containers[0].resources.requests.memory: Invalid value "12 GiB": quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'; ` +
				"spec.nodeSelector[disk]: Invalid type: expected string, got number; " +
				"spec.restartPolicy: Invalid type: expected string, got boolean",
		},
		{
			name: "integer out of range",
			data: `{"apiVersion":"v1","kind":"Pod","spec":{"priority":3000000000,"terminationGracePeriodSeconds":1.5}}`,
			want: `strict decoding error: spec.priority: Invalid value "3000000000": out of range for int32; ` +
				`spec.terminationGracePeriodSeconds: Invalid type "1.5": expected integer, got number`,
		},
		{
			name: "bad time",
			data: "apiVersion: v1\nkind: Pod\nmetadata:\n  creationTimestamp: yesterday\n",
			want: `strict decoding error: metadata.creationTimestamp: Invalid value "yesterday": parsing time "yesterday" as "2006-01-02T15:04:05Z07:00": cannot parse "yesterday" as "2006"`,
		},
		{
			name: "quantity and time of the wrong JSON type",
			data: "apiVersion: v1\nkind: Pod\nmetadata:\n  creationTimestamp: 5\nspec:\n  containers:\n  - resources:\n      limits: {cpu: [1], memory: true}\n",
			want: "strict decoding error: metadata.creationTimestamp: Invalid type: expected string, got number; " +
				"spec.containers[0].resources.limits.cpu: Invalid type: expected string or number, got array; " +
				"spec.containers[0].resources.limits.memory: Invalid type: expected string or number, got boolean",
		},
		{
			name: "duplicate JSON key",
			data: `{"apiVersion":"v1","kind":"Pod","metadata":{"name":"a","name":"b"}}`,
			want: "strict decoding error: metadata.name: Duplicate value: the field appears more than once",
		},
		{
			name: "duplicate YAML key",
			data: "apiVersion: v1\nkind: Pod\nkind: Node\n",
			want: `error parsing manifest: yaml: unmarshal errors:` + "\n" + `  line 3: key "kind" already set in map`,
			line: 3,
		},
		{
			name: "case matters",
			data: "apiVersion: v1\nkind: Namespace\nMetadata: {}\n",
			want: "strict decoding error: Metadata: unknown field",
		},
		{
			name: "missing apiVersion and kind",
			data: "metadata:\n  name: x\n",
			want: "strict decoding error: apiVersion: Required value; kind: Required value",
		},
		{
			name: "kind not a string",
			data: "apiVersion: v1\nkind: 3\n",
			want: "strict decoding error: kind: Invalid type: expected string, got number",
		},
		{
			name: "unknown kind",
			data: "apiVersion: v1\nkind: Foo\n",
			want: `no kind "Foo" is registered for version "v1"`,
		},
		{
			name: "known kind in the wrong group",
			data: "apiVersion: apps/v1\nkind: Pod\n",
			want: `no kind "Pod" is registered for version "apps/v1"`,
		},
		{
			name: "not an object",
			data: "- a\n- b\n",
			want: "strict decoding error: Invalid type: expected object, got array",
		},
		{
			name: "empty",
			data: "# nothing here\n",
			want: "error parsing manifest: the manifest is empty",
		},
	}
	s := NewScheme()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.data)
			if f, ok := strings.CutPrefix(tt.data, "@"); ok {
				data = readFixture(t, f)
			}
			obj, _, err := s.Decode(data)
			if err == nil {
				t.Fatalf("Decode succeeded with %+v", obj)
			}
			if got := err.Error(); got != tt.want {
				t.Errorf("error:\n got %s\nwant %s", got, tt.want)
			}
			if !IsBadRequest(err) {
				t.Errorf("IsBadRequest(%T) = false", err)
			}
			var de *DecodeError
			if tt.line != 0 && (!errors.As(err, &de) || de.Line != tt.line) {
				t.Errorf("Line = %v, want %d", de, tt.line)
			}
		})
	}
}

func TestDecodeErrorFields(t *testing.T) {
	_, _, err := NewScheme().Decode(readFixture(t, "bad/bad-quantity.yaml"))
	var de *DecodeError
	if !errors.As(err, &de) {
		t.Fatalf("error %T is not a *DecodeError", err)
	}
	if len(de.Errs) != 1 {
		t.Fatalf("Errs = %v", de.Errs)
	}
	e := de.Errs[0]
	if e.Type != ErrorTypeInvalid || e.Field != "spec.containers[0].resources.limits.cpu" || e.Value != "one" {
		t.Errorf("field error = %+v", e)
	}
}

func TestDecodeNullIsUnset(t *testing.T) {
	s := NewScheme()
	data := "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n  labels:\nspec:\n  containers:\n  - name: c\n    image: i\n    command:\n    resources:\n      limits:\n        cpu:\n  priority: null\n"
	obj, _, err := s.Decode([]byte(data))
	if err != nil {
		t.Fatalf("Decode: %v", err)
	}
	pod := obj.(*Pod)
	if pod.Labels != nil || pod.Spec.Priority != nil || pod.Spec.Containers[0].Command != nil {
		t.Errorf("null fields should stay unset: %+v", pod)
	}
}

func TestDecodeRoundTrip(t *testing.T) {
	s := NewScheme()
	obj, _, err := s.Decode(readFixture(t, "pod.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	js, err := Encode(obj)
	if err != nil {
		t.Fatal(err)
	}
	again, _, err := s.Decode(js)
	if err != nil {
		t.Fatalf("re-decoding our own output: %v\n%s", err, js)
	}
	if !sameJSON(obj, again) {
		t.Errorf("round trip changed the object:\n%s", js)
	}
}
