package apiserver_test

import (
	"context"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestDeploymentAPI: a Deployment is defaulted and stored with generation
// 1; a spec change bumps the generation and a status write does not; bad
// input is rejected with the field path and nothing is stored.
func TestDeploymentAPI(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	ctx := context.Background()
	deps := client.For[api.Deployment](env.Admin)
	d := &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"}, Spec: api.DeploymentSpec{
		Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}
	got, err := deps.Create(ctx, d)
	if err != nil {
		t.Fatal(err)
	}
	if got.Generation != 1 || *got.Spec.Replicas != 1 || got.Spec.Strategy.RollingUpdate.MaxSurge.String() != "25%" {
		t.Fatalf("stored %+v", got)
	}
	got.Status.ObservedGeneration = 1
	if got, err = deps.UpdateStatus(ctx, got); err != nil || got.Generation != 1 {
		t.Fatalf("status update: generation %d, %v", got.Generation, err)
	}
	*got.Spec.Replicas = 4
	if got, err = deps.Update(ctx, got); err != nil || got.Generation != 2 || got.Status.ObservedGeneration != 1 {
		t.Fatalf("spec update: %+v, %v", got, err)
	}

	bad := *d
	bad.Name = "bad"
	bad.Spec.Selector = &api.LabelSelector{MatchLabels: map[string]string{"app": "db"}}
	_, err = deps.Create(ctx, &bad)
	if !client.IsInvalid(err) || !strings.Contains(err.Error(), "spec.template.metadata.labels") {
		t.Fatalf("mismatched selector: %v", err)
	}
	if _, err := deps.Get(ctx, "default", "bad"); !client.IsNotFound(err) {
		t.Fatalf("rejected deployment stored: %v", err)
	}
	rs := &api.ReplicaSet{ObjectMeta: api.ObjectMeta{Name: "r", Namespace: "default"}, Spec: api.ReplicaSetSpec{
		Replicas: new(int32), Selector: d.Spec.Selector, Template: d.Spec.Template}}
	*rs.Spec.Replicas = -1
	if _, err := client.For[api.ReplicaSet](env.Admin).Create(ctx, rs); !client.IsInvalid(err) || !strings.Contains(err.Error(), "spec.replicas") {
		t.Fatalf("negative replicas: %v", err)
	}
}
