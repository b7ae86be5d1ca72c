package api

import (
	"reflect"
	"testing"
)

func TestSchemeKinds(t *testing.T) {
	s := NewScheme()
	want := map[string]struct {
		apiVersion string
		resource   string
		namespaced bool
	}{
		"CronJob":                 {"batch/v1", "cronjobs", true},
		"Deployment":              {"apps/v1", "deployments", true},
		"Event":                   {"v1", "events", true},
		"Job":                     {"batch/v1", "jobs", true},
		"Hypervisor":              {"iaas.cloudmgr.dev/v1alpha1", "hypervisors", false},
		"Machine":                 {"iaas.cloudmgr.dev/v1alpha1", "machines", false},
		"Image":                   {"images.cloudmgr.dev/v1", "images", false},
		"Lease":                   {"coordination.cloudmgr.dev/v1", "leases", true},
		"Namespace":               {"v1", "namespaces", false},
		"Node":                    {"v1", "nodes", false},
		"NodePool":                {"iaas.cloudmgr.dev/v1alpha1", "nodepools", false},
		"Pod":                     {"v1", "pods", true},
		"ReplicaSet":              {"apps/v1", "replicasets", true},
		"PriorityClass":           {"scheduling.cloudmgr.dev/v1", "priorityclasses", false},
		"Secret":                  {"v1", "secrets", true},
		"Tenant":                  {"v1", "tenants", false},
		"VirtualMachine":          {"iaas.cloudmgr.dev/v1alpha1", "virtualmachines", true},
		"PodDisruptionBudget":     {"policy/v1", "poddisruptionbudgets", true},
		"DaemonSet":               {"apps/v1", "daemonsets", true},
		"HorizontalPodAutoscaler": {"autoscaling/v2", "horizontalpodautoscalers", true},
		"ScaleDecision":           {"iaas.cloudmgr.dev/v1alpha1", "scaledecisions", false},
	}
	if len(s.Kinds()) != len(want) {
		t.Errorf("%d kinds registered, want %d", len(s.Kinds()), len(want))
	}
	for _, k := range s.Kinds() {
		t.Run(k.Kind, func(t *testing.T) {
			w, ok := want[k.Kind]
			if !ok {
				t.Fatalf("unexpected kind")
			}
			if k.APIVersion() != w.apiVersion || k.Resource != w.resource || k.Namespaced != w.namespaced {
				t.Errorf("got %s %s namespaced=%v", k.APIVersion(), k.Resource, k.Namespaced)
			}
			if k.New == nil || k.NewList == nil || k.Default == nil || k.Validate == nil || k.ValidateUpdate == nil {
				t.Fatalf("KindInfo has nil functions")
			}
			obj := k.New()
			if tm := obj.GetTypeMeta(); tm.APIVersion != w.apiVersion || tm.Kind != k.Kind {
				t.Errorf("New() TypeMeta = %+v", tm)
			}
			if tm := k.NewList().GetTypeMeta(); tm.Kind != k.Kind+"List" || tm.APIVersion != w.apiVersion {
				t.Errorf("NewList() TypeMeta = %+v", tm)
			}
			if got, ok := s.ForObject(obj); !ok || got != k {
				t.Errorf("ForObject did not find the kind")
			}
			if got, ok := s.Lookup(k.Resource); !ok || got != k {
				t.Errorf("Lookup(%q) failed", k.Resource)
			}
			for _, short := range k.ShortNames {
				if got, ok := s.Lookup(short); !ok || got != k {
					t.Errorf("Lookup(%q) failed", short)
				}
			}
			// the list's item type must be the kind's type
			items, _ := reflect.TypeOf(k.NewList()).Elem().FieldByName("Items")
			if items.Type.Elem() != reflect.TypeOf(obj).Elem() {
				t.Errorf("list items are %s", items.Type.Elem())
			}
		})
	}
	if k, ok := s.Lookup("VM"); !ok || k.Kind != "VirtualMachine" {
		t.Errorf("Lookup(VM) failed")
	}
	if k, ok := s.Lookup("nodepools.iaas.cloudmgr.dev"); !ok || k.Kind != "NodePool" {
		t.Errorf("Lookup(nodepools.iaas.cloudmgr.dev) failed")
	}
	if _, ok := s.Lookup("tn"); ok {
		t.Errorf("Tenant has no short name")
	}
}
