package apiserver_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

func priorityClass(name string, value int32, globalDefault bool) *api.PriorityClass {
	return &api.PriorityClass{ObjectMeta: api.ObjectMeta{Name: name}, Value: value, GlobalDefault: globalDefault}
}

// TestPriorityClassLifecycle: the system classes exist from the start;
// the value is bounded and fixed; at most one class is the default, and
// the flag can move from one class to another; tenants read classes but do
// not write them.
func TestPriorityClassLifecycle(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pcs := client.For[api.PriorityClass](env.Admin)

	for _, sys := range api.SystemPriorityClasses() {
		got, err := pcs.Get(ctx, "", sys.Name)
		if err != nil || got.Value != sys.Value || got.PreemptionPolicy == nil || *got.PreemptionPolicy != api.PreemptLowerPriority {
			t.Fatalf("system class %s: %+v, %v", sys.Name, got, err)
		}
	}
	high, err := pcs.Create(ctx, priorityClass("high", 1000, false))
	if err != nil {
		t.Fatal(err)
	}
	_, err = pcs.Create(ctx, priorityClass("too-high", api.HighestUserDefinablePriority+1, false))
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), "value", "may not be greater than 1000000000")
	_, err = pcs.Create(ctx, priorityClass("system-mine", 5, false))
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), "metadata.name", "reserved")

	high.Value = 2000
	_, err = pcs.Update(ctx, high)
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), "value", "may not be changed")

	// One default at a time.
	if _, err := pcs.Create(ctx, priorityClass("normal", 100, true)); err != nil {
		t.Fatal(err)
	}
	_, err = pcs.Create(ctx, priorityClass("other", 50, true))
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), "globalDefault", `PriorityClass "normal" is already marked as default`)
	if _, err := pcs.Get(ctx, "", "other"); !client.IsNotFound(err) {
		t.Fatalf("refused default class stored: %v", err)
	}
	high, _ = pcs.Get(ctx, "", "high")
	high.GlobalDefault = true
	_, err = pcs.Update(ctx, high)
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), "globalDefault", "only one default")
	// Moving the flag: off on one, then on on the other.
	normal, _ := pcs.Get(ctx, "", "normal")
	normal.GlobalDefault = false
	if _, err := pcs.Update(ctx, normal); err != nil {
		t.Fatal(err)
	}
	high, _ = pcs.Get(ctx, "", "high")
	high.GlobalDefault, high.Description = true, "now the default"
	if _, err := pcs.Update(ctx, high); err != nil {
		t.Fatalf("making high the default after normal gave it up: %v", err)
	}
	// An update that keeps the flag is no second default.
	high, _ = pcs.Get(ctx, "", "high")
	high.Description = "still the default"
	if _, err := pcs.Update(ctx, high); err != nil {
		t.Fatalf("updating the default class: %v", err)
	}
	// Deleting the default frees the flag.
	if err := pcs.Delete(ctx, "", "high", client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := pcs.Create(ctx, priorityClass("other", 50, true)); err != nil {
		t.Fatalf("a default after the default was deleted: %v", err)
	}

	tenant := env.Tenant(t, "team-a")
	tpcs := client.For[api.PriorityClass](tenant)
	if list, _, err := tpcs.List(ctx, "", client.ListOptions{}); err != nil || len(list) != 4 {
		t.Fatalf("tenant list: %d classes, %v; want the 2 system classes, normal and other", len(list), err)
	}
	_, err = tpcs.Create(ctx, priorityClass("mine", 1, false))
	wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
	other, _ := tpcs.Get(ctx, "", "other")
	other.Description = "taken over"
	_, err = tpcs.Update(ctx, other)
	wantStatus(t, err, http.StatusForbidden, api.StatusReasonForbidden)
	wantStatus(t, tpcs.Delete(ctx, "", "other", client.DeleteOptions{}), http.StatusForbidden, api.StatusReasonForbidden)
}

// TestOneGlobalDefaultUnderRace: classes created concurrently as default
// leave exactly one default.
func TestOneGlobalDefaultUnderRace(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	pcs := client.For[api.PriorityClass](env.Admin)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := pcs.Create(ctx, priorityClass(fmt.Sprintf("c%d", i), int32(i), true))
			if err != nil && !client.IsInvalid(err) {
				t.Errorf("create c%d: %v", i, err)
			}
		}()
	}
	wg.Wait()
	list, _, err := pcs.List(ctx, "", client.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var defaults []string
	for _, pc := range list {
		if pc.GlobalDefault {
			defaults = append(defaults, pc.Name)
		}
	}
	if len(defaults) != 1 {
		t.Fatalf("default classes %v, want exactly one", defaults)
	}
}

// TestPodPriorityAdmission: a pod gets the value of its class, or of the
// default class, or 0; an unknown class or a priority of the caller's own
// is refused at its field (except an administrator's priority with no
// class), and nothing is stored.
func TestPodPriorityAdmission(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	tenant := env.Tenant(t, "team-a")
	pods := client.For[api.Pod](tenant)
	never := api.PreemptNever
	batch := priorityClass("batch", -5, false)
	batch.PreemptionPolicy = &never
	for _, pc := range []*api.PriorityClass{priorityClass("high", 1000, false), batch} {
		if err := env.Admin.Create(ctx, pc); err != nil {
			t.Fatal(err)
		}
	}
	i32 := func(v int32) *int32 { return &v }
	create := func(c *client.Client, name string, edit func(*api.PodSpec)) (*api.Pod, error) {
		p := newPod("team-a", name)
		edit(&p.Spec)
		return client.For[api.Pod](c).Create(ctx, p)
	}

	p, err := create(tenant, "plain", func(*api.PodSpec) {})
	if err != nil || p.Spec.Priority == nil || *p.Spec.Priority != 0 || p.Spec.PriorityClassName != "" || p.Spec.PreemptionPolicy != nil {
		t.Fatalf("pod without class and no default: %+v, %v; want priority 0", p.Spec, err)
	}
	p, err = create(tenant, "high", func(s *api.PodSpec) { s.PriorityClassName = "high" })
	if err != nil || *p.Spec.Priority != 1000 || *p.Spec.PreemptionPolicy != api.PreemptLowerPriority {
		t.Fatalf("pod of class high: %+v, %v", p.Spec, err)
	}
	p, err = create(tenant, "batch", func(s *api.PodSpec) { s.PriorityClassName = "batch" })
	if err != nil || *p.Spec.Priority != -5 || *p.Spec.PreemptionPolicy != api.PreemptNever {
		t.Fatalf("pod of class batch: %+v, %v", p.Spec, err)
	}
	p, err = create(tenant, "same", func(s *api.PodSpec) { s.PriorityClassName, s.Priority = "high", i32(1000) })
	if err != nil || *p.Spec.Priority != 1000 {
		t.Fatalf("pod giving its class's value: %+v, %v", p.Spec, err)
	}
	p, err = create(env.Admin, "admin-chosen", func(s *api.PodSpec) { s.Priority = i32(77) })
	if err != nil || *p.Spec.Priority != 77 || p.Spec.PriorityClassName != "" {
		t.Fatalf("admin priority without class: %+v, %v", p.Spec, err)
	}

	refused := []struct {
		name  string
		c     *client.Client
		edit  func(*api.PodSpec)
		field string
		msg   string
	}{
		{"unknown class", tenant, func(s *api.PodSpec) { s.PriorityClassName = "nope" }, "spec.priorityClassName", "no PriorityClass with this name exists"},
		{"tenant priority", tenant, func(s *api.PodSpec) { s.Priority = i32(5) }, "spec.priority", "computed from no priority class"},
		{"priority against the class", tenant, func(s *api.PodSpec) { s.PriorityClassName, s.Priority = "high", i32(999999) }, "spec.priority", "the priority class high: 1000"},
		{"admin priority against the class", env.Admin, func(s *api.PodSpec) { s.PriorityClassName, s.Priority = "high", i32(1) }, "spec.priority", "1000"},
	}
	for _, tc := range refused {
		t.Run(tc.name, func(t *testing.T) {
			_, err := create(tc.c, "refused", tc.edit)
			wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), tc.field, tc.msg)
			if _, err := pods.Get(ctx, "team-a", "refused"); !client.IsNotFound(err) {
				t.Fatalf("refused pod was stored: %v", err)
			}
		})
	}

	// A class created a moment ago is found at once (the cache misses and
	// the store answers).
	if err := env.Admin.Create(ctx, priorityClass("fresh", 3, false)); err != nil {
		t.Fatal(err)
	}
	if p, err := create(tenant, "fresh", func(s *api.PodSpec) { s.PriorityClassName = "fresh" }); err != nil || *p.Spec.Priority != 3 {
		t.Fatalf("pod of a new class: %+v, %v", p, err)
	}

	// With a default class, pods that name none get it (once the server's
	// watch has seen the class: milliseconds).
	if err := env.Admin.Create(ctx, priorityClass("normal", 100, true)); err != nil {
		t.Fatal(err)
	}
	n := 0
	eventually(t, 5*time.Second, "pods without class get the default class", func() bool {
		n++
		p, err := create(tenant, fmt.Sprintf("defaulted-%d", n), func(*api.PodSpec) {})
		if err != nil {
			t.Fatal(err)
		}
		return *p.Spec.Priority == 100 && p.Spec.PriorityClassName == "normal"
	})
	_, err = create(tenant, "refused", func(s *api.PodSpec) { s.Priority = i32(0) })
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), "spec.priority", "the priority class normal: 100")
	if p, err := create(env.Admin, "admin-zero", func(s *api.PodSpec) { s.Priority = i32(0) }); err != nil || *p.Spec.Priority != 0 {
		t.Fatalf("admin priority 0 with a default class: %+v, %v", p, err)
	}

	// Applying a pod's manifest again, without the fields admission set,
	// is no change of its spec.
	again := newPod("team-a", "high")
	again.Spec.PriorityClassName = ""
	again.Labels = map[string]string{"applied": "again"}
	out, err := pods.Update(ctx, again)
	if err != nil || *out.Spec.Priority != 1000 || out.Spec.PriorityClassName != "high" {
		t.Fatalf("update without the resolved fields: %+v, %v", out, err)
	}
	again.Spec.Priority = i32(1)
	_, err = pods.Update(ctx, again)
	wantCause(t, wantStatus(t, err, http.StatusUnprocessableEntity, api.StatusReasonInvalid), "spec", "Forbidden")
}

// TestSchedulingFieldsRefusedThroughAPI: bad scheduling fields are 422
// at their path, as YAML, and nothing is stored.
func TestSchedulingFieldsRefusedThroughAPI(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	const head = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: NAME\n  namespace: default\nspec:\n  containers:\n  - name: app\n    image: nginx:1.27\n"
	const terms = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
	cases := []struct {
		name, spec, field, msg string
	}{
		{"empty terms", "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms: []\n",
			terms, "Required value"},
		{"In without values", "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions:\n          - {key: zone, operator: In}\n",
			terms + "[0].matchExpressions[0].values", "Required value"},
		{"Gt not a number", "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchExpressions:\n          - {key: cores, operator: Gt, values: [many]}\n",
			terms + "[0].matchExpressions[0].values[0]", "must be an integer"},
		{"matchFields on a label", "  affinity:\n    nodeAffinity:\n      requiredDuringSchedulingIgnoredDuringExecution:\n        nodeSelectorTerms:\n        - matchFields:\n          - {key: metadata.labels, operator: In, values: [a]}\n",
			terms + "[0].matchFields[0].key", "metadata.name"},
		{"weight 0", "  affinity:\n    nodeAffinity:\n      preferredDuringSchedulingIgnoredDuringExecution:\n      - weight: 0\n        preference:\n          matchExpressions:\n          - {key: disk, operator: Exists}\n",
			"spec.affinity.nodeAffinity.preferredDuringSchedulingIgnoredDuringExecution[0].weight", "1-100"},
		{"maxSkew 0", "  topologySpreadConstraints:\n  - {maxSkew: 0, topologyKey: topology.cloud/hypervisor, whenUnsatisfiable: DoNotSchedule}\n",
			"spec.topologySpreadConstraints[0].maxSkew", "greater than zero"},
		{"bad action", "  topologySpreadConstraints:\n  - {maxSkew: 1, topologyKey: topology.cloud/hypervisor, whenUnsatisfiable: Maybe}\n",
			"spec.topologySpreadConstraints[0].whenUnsatisfiable", "DoNotSchedule"},
		{"no topology key", "  topologySpreadConstraints:\n  - {maxSkew: 1, whenUnsatisfiable: DoNotSchedule}\n",
			"spec.topologySpreadConstraints[0].topologyKey", "Required value"},
		{"bad selector", "  topologySpreadConstraints:\n  - maxSkew: 1\n    topologyKey: zone\n    whenUnsatisfiable: DoNotSchedule\n    labelSelector:\n      matchExpressions:\n      - {key: app, operator: Exists, values: [web]}\n",
			"spec.topologySpreadConstraints[0].labelSelector.matchExpressions[0].values", "Forbidden"},
		{"duplicate constraint", "  topologySpreadConstraints:\n  - {maxSkew: 1, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}\n  - {maxSkew: 2, topologyKey: zone, whenUnsatisfiable: DoNotSchedule}\n",
			"spec.topologySpreadConstraints[1].{topologyKey, whenUnsatisfiable}", "Duplicate value"},
		{"preemption policy", "  preemptionPolicy: Always\n", "spec.preemptionPolicy", "PreemptLowerPriority"},
		{"priority class name", "  priorityClassName: Very_High\n", "spec.priorityClassName", "RFC 1123 subdomain"},
	}
	before := snapshot(t, env.Admin)
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			y := strings.Replace(head, "NAME", "bad", 1) + tc.spec
			for _, enc := range []struct {
				ct   string
				body []byte
			}{{"application/yaml", []byte(y)}, {"application/json", toJSON(t, y)}} {
				r := rawRequest(t, env, env.AdminToken, "POST", "/api/v1/namespaces/default/pods", enc.ct, enc.body)
				wantCause(t, wantRawStatus(t, r, http.StatusUnprocessableEntity, api.StatusReasonInvalid), tc.field, tc.msg)
			}
		})
	}
	if after := snapshot(t, env.Admin); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("refused pods changed the store:\nbefore %v\nafter  %v", before, after)
	}
}
