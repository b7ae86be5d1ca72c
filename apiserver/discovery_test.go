package apiserver_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
)

func TestDiscovery(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	var core api.APIResourceList
	if err := env.Admin.Do(ctx, "GET", "/api/v1", nil, nil, &core); err != nil {
		t.Fatal(err)
	}
	found := map[string]api.APIResource{}
	for _, r := range core.Resources {
		found[r.Name] = r
	}
	if p, ok := found["pods"]; !ok || !p.Namespaced || p.Kind != "Pod" {
		t.Fatalf("pods in /api/v1: %+v", found["pods"])
	}
	if n, ok := found["nodes"]; !ok || n.Namespaced {
		t.Fatalf("nodes in /api/v1: %+v", found["nodes"])
	}
	if _, ok := found["pods/status"]; !ok {
		t.Fatal("no pods/status subresource in discovery")
	}
	if b, ok := found["pods/binding"]; !ok || !slices.Equal(b.Verbs, []string{"create"}) {
		t.Fatalf("pods/binding in discovery: %+v", b)
	}
	var iaas api.APIResourceList
	if err := env.Admin.Do(ctx, "GET", "/apis/iaas.cloudmgr.dev/v1alpha1", nil, nil, &iaas); err != nil {
		t.Fatal(err)
	}
	if len(iaas.Resources) == 0 || iaas.GroupVersion != "iaas.cloudmgr.dev/v1alpha1" {
		t.Fatalf("iaas discovery: %+v", iaas)
	}
	var groups struct {
		Groups []struct{ Name string } `json:"groups"`
	}
	if err := env.Admin.Do(ctx, "GET", "/apis", nil, nil, &groups); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, g := range groups.Groups {
		names = append(names, g.Name)
	}
	if want := "apps autoscaling batch coordination.cloudmgr.dev iaas.cloudmgr.dev images.cloudmgr.dev policy scheduling.cloudmgr.dev"; strings.Join(names, " ") != want {
		t.Fatalf("groups %v, want %s", names, want)
	}
	var sched api.APIResourceList
	if err := env.Admin.Do(ctx, "GET", "/apis/scheduling.cloudmgr.dev/v1", nil, nil, &sched); err != nil {
		t.Fatal(err)
	}
	if len(sched.Resources) != 1 || sched.Resources[0].Name != "priorityclasses" || sched.Resources[0].Namespaced ||
		!slices.Equal(sched.Resources[0].ShortNames, []string{"pc"}) {
		t.Fatalf("scheduling discovery: %+v", sched)
	}
	if err := env.Admin.Do(ctx, "GET", "/apis/nope.dev/v1", nil, nil, nil); err == nil {
		t.Fatal("unknown group version answered")
	}
	if err := env.Client(t, "bad").Do(ctx, "GET", "/api/v1", nil, nil, nil); err == nil {
		t.Fatal("discovery without a valid token answered")
	}
}
