package api

import (
	"strings"
	"testing"
)

// validPod returns a pod that passes validation, for tests to break.
func validPod() *Pod {
	return &Pod{
		TypeMeta:   TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: ObjectMeta{Name: "web", Namespace: "shop"},
		Spec: PodSpec{Containers: []Container{{
			Name:  "web",
			Image: "nginx:1.27",
			Resources: ResourceRequirements{
				Requests: ResourceList{"cpu": MustParseQuantity("100m")},
				Limits:   ResourceList{"cpu": MustParseQuantity("1")},
			},
		}}},
	}
}

func mustKind(t *testing.T, apiVersion, kind string) *KindInfo {
	t.Helper()
	k, ok := NewScheme().ByKind(apiVersion, kind)
	if !ok {
		t.Fatalf("kind %s %s not registered", apiVersion, kind)
	}
	return k
}

func errorStrings(errs ErrorList) []string {
	out := make([]string, len(errs))
	for i, e := range errs {
		out[i] = e.Error()
	}
	return out
}

func TestValidateInvalidPodFixture(t *testing.T) {
	s := NewScheme()
	obj, k, err := s.Decode(readFixture(t, "bad/invalid.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	k.Default(obj)
	got := errorStrings(k.Validate(obj))
	want := []string{
		`metadata.name: Invalid value "Web_Server": a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')`,
		`spec.containers[0].image: Required value`,
		`spec.containers[1].name: Duplicate value "web"`,
		`spec.containers[1].ports[0].containerPort: Invalid value "70000": must be between 1 and 65535, inclusive`,
		`spec.containers[1].resources.requests.gpu: Unsupported value "gpu": supported values: "cpu", "memory", "ephemeral-storage"`,
		`spec.containers[1].resources.requests.cpu: Invalid value "2": must be less than or equal to cpu limit of 1`,
		`spec.restartPolicy: Unsupported value "Sometimes": supported values: "Always", "OnFailure", "Never"`,
		"spec.tolerations[0].operator: Invalid value \"b\": value must be empty when `operator` is 'Exists'",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("errors:\n got:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestValidatePod(t *testing.T) {
	neg := int64(-1)
	tests := []struct {
		name   string
		mutate func(p *Pod)
		want   []string // each must appear, in order; nil means valid
	}{
		{"valid", func(p *Pod) {}, nil},
		{"no containers", func(p *Pod) { p.Spec.Containers = nil },
			[]string{"spec.containers: Required value: must have at least one container"}},
		{"missing name and namespace", func(p *Pod) { p.Name, p.Namespace = "", "" },
			[]string{"metadata.name: Required value: name or generateName is required", "metadata.namespace: Required value"}},
		{"container name not a label", func(p *Pod) { p.Spec.Containers[0].Name = "Web.1" },
			[]string{`spec.containers[0].name: Invalid value "Web.1": a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`}},
		{"missing container name", func(p *Pod) { p.Spec.Containers[0].Name = "" },
			[]string{"spec.containers[0].name: Required value"}},
		{"negative quantity", func(p *Pod) {
			p.Spec.Containers[0].Resources.Limits["memory"] = MustParseQuantity("-1Mi")
		}, []string{`spec.containers[0].resources.limits.memory: Invalid value "-1Mi": must be greater than or equal to 0`}},
		{"request above limit", func(p *Pod) {
			p.Spec.Containers[0].Resources.Requests["cpu"] = MustParseQuantity("1001m")
		}, []string{`spec.containers[0].resources.requests.cpu: Invalid value "1001m": must be less than or equal to cpu limit of 1`}},
		{"request equal to limit", func(p *Pod) {
			p.Spec.Containers[0].Resources.Requests["cpu"] = MustParseQuantity("1000m")
		}, nil},
		{"port zero and bad protocol", func(p *Pod) {
			p.Spec.Containers[0].Ports = []ContainerPort{{ContainerPort: 0, HostPort: 70000, Protocol: "ICMP"}}
		}, []string{
			`spec.containers[0].ports[0].containerPort: Invalid value "0": must be between 1 and 65535, inclusive`,
			`spec.containers[0].ports[0].hostPort: Invalid value "70000": must be between 1 and 65535, inclusive`,
			`spec.containers[0].ports[0].protocol: Unsupported value "ICMP": supported values: "TCP", "UDP", "SCTP"`,
		}},
		{"bad pull policy", func(p *Pod) { p.Spec.Containers[0].ImagePullPolicy = "Sometimes" },
			[]string{`spec.containers[0].imagePullPolicy: Unsupported value "Sometimes"`}},
		{"bad env name", func(p *Pod) { p.Spec.Containers[0].Env = []EnvVar{{Name: "1ABC"}, {Value: "x"}} },
			[]string{`spec.containers[0].env[0].name: Invalid value "1ABC": a valid environment variable name`,
				"spec.containers[0].env[1].name: Required value"}},
		{"negative grace period", func(p *Pod) { p.Spec.TerminationGracePeriodSeconds = &neg },
			[]string{`spec.terminationGracePeriodSeconds: Invalid value "-1": must be greater than or equal to 0`}},
		{"bad node selector", func(p *Pod) { p.Spec.NodeSelector = map[string]string{"disk": "s s"} },
			[]string{`spec.nodeSelector: Invalid value "s s": a valid label must be an empty string`}},
		{"toleration enums", func(p *Pod) {
			p.Spec.Tolerations = []Toleration{
				{Key: "a", Operator: "Like", Effect: "Evict"},
				{Operator: TolerationOpEqual, Value: "x"},
				{Key: "b", Operator: TolerationOpExists, TolerationSeconds: &neg, Effect: TaintEffectNoSchedule},
				{Operator: TolerationOpExists},
			}
		}, []string{
			`spec.tolerations[0].operator: Unsupported value "Like": supported values: "Equal", "Exists"`,
			`spec.tolerations[0].effect: Unsupported value "Evict"`,
			"spec.tolerations[1].operator: Invalid value \"Equal\": operator must be Exists when `key` is empty",
			"spec.tolerations[2].effect: Invalid value \"NoSchedule\": effect must be 'NoExecute' when `tolerationSeconds` is set",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(p)
			got := strings.Join(errorStrings(ValidatePod(p)), "\n")
			if tt.want == nil {
				if got != "" {
					t.Fatalf("unexpected errors:\n%s", got)
				}
				return
			}
			rest := got
			for _, w := range tt.want {
				i := strings.Index(rest, w)
				if i < 0 {
					t.Fatalf("missing (or out of order) %q in:\n%s", w, got)
				}
				rest = rest[i+len(w):]
			}
			if n, want := strings.Count(got, "\n")+1, len(tt.want); n != want {
				t.Errorf("got %d errors, want %d:\n%s", n, want, got)
			}
		})
	}
}

func TestValidateObjectMeta(t *testing.T) {
	yes := true
	bigValue := strings.Repeat("x", TotalAnnotationSizeLimit)
	tests := []struct {
		name        string
		meta        ObjectMeta
		namespaced  bool
		nameIsLabel bool
		want        []string
	}{
		{"valid namespaced", ObjectMeta{Name: "a.b", Namespace: "ns"}, true, false, nil},
		{"dotted name where a label is needed", ObjectMeta{Name: "a.b"}, false, true,
			[]string{`metadata.name: Invalid value "a.b": a lowercase RFC 1123 label must consist of`}},
		{"namespace forbidden on cluster kinds", ObjectMeta{Name: "n", Namespace: "x"}, false, false,
			[]string{"metadata.namespace: Forbidden: not allowed on this type"}},
		{"namespace not a label", ObjectMeta{Name: "n", Namespace: "my.ns"}, true, false,
			[]string{`metadata.namespace: Invalid value "my.ns": a lowercase RFC 1123 label`}},
		{"long name", ObjectMeta{Name: strings.Repeat("a", 64)}, false, true,
			[]string{"must be no more than 63 characters"}},
		{"bad labels", ObjectMeta{Name: "n", Labels: map[string]string{"-bad": "ok", "ok": "-bad", "a/b/c": ""}}, false, false,
			[]string{
				`metadata.labels: Invalid value "-bad": name part must consist of alphanumeric characters`,
				`metadata.labels: Invalid value "a/b/c": a qualified name must consist of`,
				`metadata.labels: Invalid value "-bad": a valid label must be an empty string`,
			}},
		{"good labels", ObjectMeta{Name: "n", Labels: map[string]string{"example.com/app": "web_1", "empty": ""}}, false, false, nil},
		{"annotations too large", ObjectMeta{Name: "n", Annotations: map[string]string{"k": bigValue}}, false, false,
			[]string{"metadata.annotations: Too long: must have at most 262144 bytes"}},
		{"bad finalizer", ObjectMeta{Name: "n", Finalizers: []string{"example.com/ok", "not ok", "example.com/ok"}}, false, false,
			[]string{`metadata.finalizers[1]: Invalid value "not ok"`, `metadata.finalizers[2]: Duplicate value "example.com/ok"`}},
		{"owner references", ObjectMeta{Name: "n", OwnerReferences: []OwnerReference{
			{APIVersion: "v1", Kind: "Pod", Name: "p", UID: "u", Controller: &yes},
			{Controller: &yes},
		}}, false, false, []string{
			"metadata.ownerReferences[1].apiVersion: Required value",
			"metadata.ownerReferences[1].kind: Required value",
			"metadata.ownerReferences[1].name: Required value",
			"metadata.ownerReferences[1].uid: Required value",
			"metadata.ownerReferences: Invalid value \"2\": Only one reference can have Controller set to true",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := strings.Join(errorStrings(ValidateObjectMeta(&tt.meta, tt.namespaced, tt.nameIsLabel)), "\n")
			if tt.want == nil && got != "" {
				t.Fatalf("unexpected errors:\n%s", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
		})
	}
}

func TestValidateOtherKinds(t *testing.T) {
	s := NewScheme()
	tests := []struct {
		name string
		yaml string
		want []string
	}{
		{"namespace name is a label", "apiVersion: v1\nkind: Namespace\nmetadata: {name: my.ns}\n",
			[]string{`metadata.name: Invalid value "my.ns": a lowercase RFC 1123 label`}},
		{"node taints and cidr", "apiVersion: v1\nkind: Node\nmetadata: {name: n1}\nspec:\n  podCIDR: 10.0.0.0\n  taints:\n  - {key: a, effect: Sometimes}\n  - {effect: NoSchedule}\n",
			[]string{`spec.podCIDR: Invalid value "10.0.0.0"`, `spec.taints[0].effect: Unsupported value "Sometimes"`, "spec.taints[1].key: Required value"}},
		{"event needs an object", "apiVersion: v1\nkind: Event\nmetadata: {name: e, namespace: d}\ntype: Odd\n",
			[]string{"involvedObject.kind: Required value", "involvedObject.name: Required value", `type: Unsupported value "Odd"`}},
		{"tenant namespaces", "apiVersion: v1\nkind: Tenant\nmetadata: {name: acme}\nspec: {namespaces: [a, B, a]}\n",
			[]string{`spec.namespaces[1]: Invalid value "B"`, `spec.namespaces[2]: Duplicate value "a"`}},
		{"tenant namespace forbidden", "apiVersion: v1\nkind: Tenant\nmetadata: {name: acme, namespace: x}\n",
			[]string{"metadata.namespace: Forbidden"}},
		{"nodepool sizes", "apiVersion: iaas.cloudmgr.dev/v1alpha1\nkind: NodePool\nmetadata: {name: p}\nspec: {minSize: 3, maxSize: 2}\n",
			[]string{"spec.provider: Required value", `spec.maxSize: Invalid value "2": must be greater than or equal to spec.minSize`}},
		{"nodepool maxSize required", "apiVersion: iaas.cloudmgr.dev/v1alpha1\nkind: NodePool\nmetadata: {name: p}\nspec: {provider: sim, minSize: -1}\n",
			[]string{`spec.minSize: Invalid value "-1"`, "spec.maxSize: Required value"}},
		{"vm size", "apiVersion: iaas.cloudmgr.dev/v1alpha1\nkind: VirtualMachine\nmetadata: {name: v, namespace: d}\nspec: {image: x}\n",
			[]string{"spec.flavor: Required value: either spec.flavor or both spec.cpus and spec.memory are required"}},
		{"vm memory missing", "apiVersion: iaas.cloudmgr.dev/v1alpha1\nkind: VirtualMachine\nmetadata: {name: v, namespace: d}\nspec: {cpus: 2}\n",
			[]string{"spec.memory: Required value"}},
		{"vm with flavor", "apiVersion: iaas.cloudmgr.dev/v1alpha1\nkind: VirtualMachine\nmetadata: {name: v, namespace: d}\nspec: {flavor: small}\n",
			nil},
		{"hypervisor", "apiVersion: iaas.cloudmgr.dev/v1alpha1\nkind: Hypervisor\nmetadata: {name: h}\nspec: {cpuAllocationRatio: \"-2\"}\n",
			[]string{"spec.uri: Required value", `spec.cpuAllocationRatio: Invalid value "-2"`}},
		{"hypervisor uri", "apiVersion: iaas.cloudmgr.dev/v1alpha1\nkind: Hypervisor\nmetadata: {name: h}\nspec: {uri: not-a-uri, cpuAllocationRatio: lots}\n",
			[]string{`spec.uri: Invalid value "not-a-uri"`, `spec.cpuAllocationRatio: Invalid value "lots"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, k, err := s.Decode([]byte(tt.yaml))
			if err != nil {
				t.Fatal(err)
			}
			k.Default(obj)
			got := strings.Join(errorStrings(k.Validate(obj)), "\n")
			if tt.want == nil && got != "" {
				t.Fatalf("unexpected errors:\n%s", got)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
		})
	}
}

func TestValidatePodUpdate(t *testing.T) {
	bound := func(p *Pod) { p.Spec.NodeName = "node-1" }
	tests := []struct {
		name     string
		old, new func(p *Pod)
		want     []string // nil: allowed
	}{
		{"no change", nil, nil, nil},
		{"image change", nil, func(p *Pod) { p.Spec.Containers[0].Image = "nginx:1.28" }, nil},
		{"bind once", nil, bound, nil},
		{"rebind", bound, func(p *Pod) { p.Spec.NodeName = "node-2" },
			[]string{"spec: Forbidden: pod updates may not change fields other than `spec.containers[*].image`"}},
		{"unbind", bound, func(p *Pod) { p.Spec.NodeName = "" },
			[]string{"spec: Forbidden: pod updates may not change fields other than"}},
		{"add toleration", nil, func(p *Pod) { p.Spec.Tolerations = []Toleration{{Key: "a", Operator: TolerationOpExists}} }, nil},
		{"remove toleration", func(p *Pod) { p.Spec.Tolerations = []Toleration{{Key: "a", Operator: TolerationOpExists}} },
			func(p *Pod) { p.Spec.Tolerations = nil },
			[]string{"spec.tolerations: Forbidden: existing tolerations may not be removed or changed"}},
		{"restart policy", nil, func(p *Pod) { p.Spec.RestartPolicy = RestartPolicyNever },
			[]string{"spec: Forbidden: pod updates may not change fields other than"}},
		{"resources", nil, func(p *Pod) { p.Spec.Containers[0].Resources.Limits["cpu"] = MustParseQuantity("2") },
			[]string{"spec: Forbidden"}},
		{"add container", nil, func(p *Pod) { p.Spec.Containers = append(p.Spec.Containers, Container{Name: "b", Image: "b"}) },
			[]string{"spec: Forbidden"}},
		{"rename", nil, func(p *Pod) { p.Name = "other" },
			[]string{`metadata.name: Invalid value "other": field is immutable`}},
		{"labels may change", nil, func(p *Pod) { p.Labels = map[string]string{"a": "b"} }, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			oldPod, newPod := validPod(), validPod()
			if tt.old != nil {
				tt.old(oldPod)
				tt.old(newPod)
			}
			if tt.new != nil {
				tt.new(newPod)
			}
			got := strings.Join(errorStrings(mustKind(t, "v1", "Pod").ValidateUpdate(newPod, oldPod)), "\n")
			if tt.want == nil && got != "" {
				t.Fatalf("unexpected errors:\n%s", got)
			}
			if tt.want != nil && got == "" {
				t.Fatalf("update allowed, want %q", tt.want)
			}
			for _, w := range tt.want {
				if !strings.Contains(got, w) {
					t.Errorf("missing %q in:\n%s", w, got)
				}
			}
		})
	}
}
