package main

import (
	"bytes"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// TestDescribeNamespaceLayout: a terminating namespace shows its phase,
// finalizers and the namespace controller's conditions.
func TestDescribeNamespaceLayout(t *testing.T) {
	del := ago(time.Minute)
	ns := &api.Namespace{
		ObjectMeta: api.ObjectMeta{Name: "shop", CreationTimestamp: ago(time.Hour), DeletionTimestamp: &del},
		Spec:       api.NamespaceSpec{Finalizers: []string{api.FinalizerKubernetes}},
		Status: api.NamespaceStatus{Phase: api.NamespaceTerminating, Conditions: []api.NamespaceCondition{
			{Type: api.NamespaceContentRemaining, Status: api.ConditionTrue, LastTransitionTime: del,
				Reason: "SomeResourcesRemain", Message: "Some resources are remaining: pods has 2 resource instances"},
		}},
	}
	d := newDescriber(testNow, time.UTC)
	d.namespace(ns)
	var out bytes.Buffer
	if err := d.flush(&out); err != nil {
		t.Fatal(err)
	}
	want := `Name:               shop
Labels:             <none>
Annotations:        <none>
CreationTimestamp:  Sun, 01 Jun 2025 11:00:00 +0000
DeletionTimestamp:  Sun, 01 Jun 2025 11:59:00 +0000
Status:             Terminating
Spec Finalizers:    kubernetes

Conditions:
  Type                       Status  LastTransitionTime               Reason               Message
  ----                       ------  ------------------               ------               -------
  NamespaceContentRemaining  True    Sun, 01 Jun 2025 11:59:00 +0000  SomeResourcesRemain  Some resources are remaining: pods has 2 resource instances
`
	if got := out.String(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	d = newDescriber(testNow, time.UTC)
	d.namespace(&api.Namespace{ObjectMeta: api.ObjectMeta{Name: "dev", CreationTimestamp: ago(time.Hour)}, Status: api.NamespaceStatus{Phase: api.NamespaceActive}})
	out.Reset()
	if err := d.flush(&out); err != nil {
		t.Fatal(err)
	}
	if want := "Name:               dev\nLabels:             <none>\nAnnotations:        <none>\nCreationTimestamp:  Sun, 01 Jun 2025 11:00:00 +0000\nStatus:             Active\n"; out.String() != want {
		t.Errorf("active namespace:\n%q\nwant\n%q", out.String(), want)
	}
}
