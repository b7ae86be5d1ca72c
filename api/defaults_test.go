package api

import (
	"encoding/json"
	"testing"
)

func TestDefaultPod(t *testing.T) {
	s := NewScheme()
	obj, k, err := s.Decode([]byte(`apiVersion: v1
kind: Pod
metadata: {name: p, namespace: d}
spec:
  containers:
  - name: a
    image: nginx
    ports: [{containerPort: 80}]
  - name: b
    image: nginx:latest
  - name: c
    image: registry.local:5000/app:1.2
  - name: d
    image: registry.local:5000/app
  - name: e
    image: app@sha256:abc
  - name: f
    image: app:1
    imagePullPolicy: Never
  tolerations:
  - key: k
    value: v
`))
	if err != nil {
		t.Fatal(err)
	}
	k.Default(obj)
	pod := obj.(*Pod)
	if pod.Spec.RestartPolicy != RestartPolicyAlways {
		t.Errorf("restartPolicy = %q", pod.Spec.RestartPolicy)
	}
	if g := pod.Spec.TerminationGracePeriodSeconds; g == nil || *g != 30 {
		t.Errorf("terminationGracePeriodSeconds = %v", g)
	}
	if pod.Spec.SchedulerName != "default-scheduler" {
		t.Errorf("schedulerName = %q", pod.Spec.SchedulerName)
	}
	if p := pod.Spec.Containers[0].Ports[0].Protocol; p != ProtocolTCP {
		t.Errorf("protocol = %q", p)
	}
	if op := pod.Spec.Tolerations[0].Operator; op != TolerationOpEqual {
		t.Errorf("toleration operator = %q", op)
	}
	wantPull := []PullPolicy{PullAlways, PullAlways, PullIfNotPresent, PullAlways, PullIfNotPresent, PullNever}
	for i, want := range wantPull {
		c := pod.Spec.Containers[i]
		if c.ImagePullPolicy != want {
			t.Errorf("%s (%s): imagePullPolicy = %q, want %q", c.Name, c.Image, c.ImagePullPolicy, want)
		}
	}
	k.PrepareForCreate(obj)
	if pod.Status.Phase != PodPending {
		t.Errorf("status after PrepareForCreate = %+v", pod.Status)
	}
}

func TestDefaultOtherKinds(t *testing.T) {
	s := NewScheme()
	ns, _, _ := s.Decode([]byte("apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n"))
	ev, _, _ := s.Decode([]byte("apiVersion: v1\nkind: Event\nmetadata: {name: a, namespace: b}\n"))
	vm, _, _ := s.Decode([]byte("apiVersion: iaas.cloudmgr.dev/v1alpha1\nkind: VirtualMachine\nmetadata: {name: a, namespace: b}\nspec: {}\n"))
	hv, _, _ := s.Decode([]byte("apiVersion: iaas.cloudmgr.dev/v1alpha1\nkind: Hypervisor\nmetadata: {name: a}\nspec: {uri: \"qemu:///system\"}\n"))
	for _, o := range []Object{ns, ev, vm, hv} {
		k, _ := s.ForObject(o)
		k.Default(o)
	}
	if p := ns.(*Namespace).Status.Phase; p != NamespaceActive {
		t.Errorf("namespace phase = %q", p)
	}
	if e := ev.(*Event); e.Type != EventTypeNormal || e.Count != 1 {
		t.Errorf("event type %q count %d", e.Type, e.Count)
	}
	if r := vm.(*VirtualMachine).Spec.Running; r == nil || !*r {
		t.Errorf("vm running = %v", r)
	}
	if h := hv.(*Hypervisor); h.Spec.Provider != "libvirt" || h.Spec.CPUAllocationRatio != "1.0" {
		t.Errorf("hypervisor spec = %+v", h.Spec)
	}
}

// Defaulting twice must give the same object as defaulting once.
func TestDefaultsIdempotent(t *testing.T) {
	s := NewScheme()
	docs, err := SplitYAMLDocuments(append(readFixture(t, "cluster.yaml"), append([]byte("\n---\n"), readFixture(t, "pod.yaml")...)...))
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range docs {
		obj, k, err := s.Decode(d)
		if err != nil {
			t.Fatal(err)
		}
		t.Run(k.Kind, func(t *testing.T) {
			k.Default(obj)
			once, _ := json.Marshal(obj)
			k.Default(obj)
			twice, _ := json.Marshal(obj)
			if string(once) != string(twice) {
				t.Errorf("second Default changed the object:\n%s\n%s", once, twice)
			}
		})
	}
}
