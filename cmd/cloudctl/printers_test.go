package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

var testNow = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

// ago is a creation time d before testNow.
func ago(d time.Duration) api.Time { return api.NewTime(testNow.Add(-d)) }

func testMeta(ns, name string, created time.Duration) api.ObjectMeta {
	return api.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: ago(created)}
}

// printAll prints objects of one kind with opts and returns the output.
func printAll(t *testing.T, kind string, opts printOptions, objs ...api.Object) string {
	t.Helper()
	k, ok := api.NewScheme().Lookup(kind)
	if !ok {
		t.Fatalf("no kind %s", kind)
	}
	opts.now = func() time.Time { return testNow }
	var out bytes.Buffer
	p := newPrinter(&out, opts)
	if err := p.print(k, objs); err != nil {
		t.Fatal(err)
	}
	if err := p.finish(); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

func samplePods() []api.Object {
	running := &api.Pod{ObjectMeta: testMeta("default", "web", 5*time.Second)}
	running.Labels = map[string]string{"app": "web", "tier": "front"}
	running.Spec.Containers = []api.Container{{Name: "web"}, {Name: "sidecar"}}
	running.Spec.NodeName = "node-1"
	running.Status = api.PodStatus{Phase: api.PodRunning, PodIP: "10.1.0.5", ContainerStatuses: []api.ContainerStatus{
		{Name: "web", Ready: true, RestartCount: 1, State: api.ContainerState{Running: &api.ContainerStateRunning{}}},
		{Name: "sidecar", Ready: true, RestartCount: 2, State: api.ContainerState{Running: &api.ContainerStateRunning{}}},
	}}

	crashing := &api.Pod{ObjectMeta: testMeta("default", "batch-worker-7f9c", 3*time.Minute+20*time.Second)}
	crashing.Spec.Containers = []api.Container{{Name: "worker"}}
	crashing.Status = api.PodStatus{Phase: api.PodRunning, ContainerStatuses: []api.ContainerStatus{
		{Name: "worker", RestartCount: 12, State: api.ContainerState{Waiting: &api.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}},
	}}

	pending := &api.Pod{ObjectMeta: testMeta("dev", "db", 51*time.Hour)}
	pending.Spec.Containers = []api.Container{{Name: "db"}}
	pending.Status = api.PodStatus{Phase: api.PodPending, Reason: "Unschedulable", NominatedNodeName: "node-4"}

	deleting := &api.Pod{ObjectMeta: testMeta("dev", "old", 45*24*time.Hour)}
	deleting.Spec.Containers = []api.Container{{Name: "old"}}
	dt := ago(time.Second)
	deleting.DeletionTimestamp = &dt
	deleting.Status = api.PodStatus{Phase: api.PodRunning}

	failed := &api.Pod{ObjectMeta: testMeta("dev", "job", 4*time.Hour)}
	failed.Spec.Containers = []api.Container{{Name: "job"}}
	failed.Status = api.PodStatus{Phase: api.PodFailed, ContainerStatuses: []api.ContainerStatus{
		{Name: "job", State: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 3}}},
	}}
	return []api.Object{running, crashing, pending, deleting, failed}
}

func TestPodTable(t *testing.T) {
	got := printAll(t, "pods", printOptions{}, samplePods()...)
	want := `NAME                READY   STATUS             RESTARTS   AGE
web                 2/2     Running            3          5s
batch-worker-7f9c   0/1     CrashLoopBackOff   12         3m20s
db                  0/1     Unschedulable      0          2d3h
old                 0/1     Terminating        0          45d
job                 0/1     ExitCode:3         0          4h
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPodTableWideAllNamespacesLabels(t *testing.T) {
	got := printAll(t, "po", printOptions{output: outputWide, withNamespace: true, showLabels: true}, samplePods()[:3]...)
	want := `NAMESPACE   NAME                READY   STATUS             RESTARTS   AGE     IP         NODE     NOMINATED NODE   LABELS
default     web                 2/2     Running            3          5s      10.1.0.5   node-1   <none>           app=web,tier=front
default     batch-worker-7f9c   0/1     CrashLoopBackOff   12         3m20s   <none>     <none>   <none>           <none>
dev         db                  0/1     Unschedulable      0          2d3h    <none>     <none>   node-4           <none>
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestPodTableNoHeaders(t *testing.T) {
	got := printAll(t, "pods", printOptions{noHeaders: true}, samplePods()[0])
	if want := "web   2/2   Running   3     5s\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func sampleNodes() []api.Object {
	ready := &api.Node{ObjectMeta: testMeta("", "node-1", 20*24*time.Hour)}
	ready.Labels = map[string]string{"node-role.kubernetes.io/control-plane": "", "node-role.cloudmgr.dev/worker": "", api.LabelProvider: "libvirt"}
	ready.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionTrue}}
	ready.Status.Addresses = []api.NodeAddress{{Type: api.NodeHostName, Address: "node-1"}, {Type: api.NodeInternalIP, Address: "192.168.1.10"}}
	ready.Status.NodeInfo = api.NodeSystemInfo{KubeletVersion: "v0.3.0", OSImage: "Ubuntu 24.04", KernelVersion: "6.8.0", ContainerRuntimeVersion: "containerd://2.0"}

	cordoned := &api.Node{ObjectMeta: testMeta("", "node-2", 90*time.Minute)}
	cordoned.Spec.Unschedulable = true
	cordoned.Labels = map[string]string{"cloudmgr.dev/simulated": "true"}
	cordoned.Spec.ProviderID = "sim://rack-3/node-2"
	cordoned.Status.Conditions = []api.NodeCondition{{Type: api.NodeReady, Status: api.ConditionFalse}}

	unknown := &api.Node{ObjectMeta: testMeta("", "node-3", 30*time.Second)}
	unknown.Status.Conditions = []api.NodeCondition{{Type: api.NodeHypervisorReachable, Status: api.ConditionUnknown}}
	return []api.Object{ready, cordoned, unknown}
}

func TestNodeTable(t *testing.T) {
	got := printAll(t, "nodes", printOptions{}, sampleNodes()...)
	want := `NAME     STATUS                          ROLES                  AGE   VERSION
node-1   Ready                           control-plane,worker   20d   v0.3.0
node-2   NotReady,SchedulingDisabled     <none>                 90m   <none>
node-3   Unknown,HypervisorUnreachable   <none>                 30s   <none>
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestNodeTableWide(t *testing.T) {
	got := printAll(t, "no", printOptions{output: outputWide, withNamespace: true}, sampleNodes()[:2]...)
	// -A adds no NAMESPACE column to a cluster-scoped kind.
	want := `NAME     STATUS                        ROLES                  AGE   VERSION   INTERNAL-IP    OS-IMAGE       KERNEL-VERSION   CONTAINER-RUNTIME   PROVIDER
node-1   Ready                         control-plane,worker   20d   v0.3.0    192.168.1.10   Ubuntu 24.04   6.8.0            containerd://2.0    libvirt
node-2   NotReady,SchedulingDisabled   <none>                 90m   <none>    <none>         <unknown>      <unknown>        <unknown>           sim(simulated)
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}

func TestOtherKindTables(t *testing.T) {
	ns := &api.Namespace{ObjectMeta: testMeta("", "acme", 2*time.Hour), Status: api.NamespaceStatus{Phase: api.NamespaceActive}}
	ev := &api.Event{ObjectMeta: testMeta("default", "web.1", time.Hour), Type: "Warning", Reason: "FailedScheduling",
		InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "web"}, Message: "0/3 nodes are available", LastTimestamp: ago(15 * time.Second)}
	tenant := &api.Tenant{ObjectMeta: testMeta("", "acme", 3*24*time.Hour), Spec: api.TenantSpec{Namespaces: []string{"acme", "acme-dev"}}}
	pool := &api.NodePool{ObjectMeta: testMeta("", "private", 10*time.Minute),
		Spec:   api.NodePoolSpec{Provider: "libvirt", Flavor: "m1.large", MinSize: 1, MaxSize: 10},
		Status: api.NodePoolStatus{Size: 3, ReadyNodes: 2}}
	vm := &api.VirtualMachine{ObjectMeta: testMeta("acme", "db-1", time.Minute),
		Spec:   api.VirtualMachineSpec{CPUs: 2, Memory: api.MustParseQuantity("4Gi")},
		Status: api.VirtualMachineStatus{Phase: api.VMRunning, Hypervisor: "hv-1"}}
	hv := &api.Hypervisor{ObjectMeta: testMeta("", "hv-1", 400*24*time.Hour),
		Spec: api.HypervisorSpec{URI: "qemu+tcp://10.0.0.5/system"},
		Status: api.HypervisorStatus{Conditions: []api.Condition{{Type: api.ConditionReachable, Status: api.ConditionTrue}},
			Capacity:  api.ResourceList{api.ResourceCPU: api.MustParseQuantity("16"), api.ResourceMemory: api.MustParseQuantity("64Gi")},
			Allocated: api.ResourceList{api.ResourceCPU: api.MustParseQuantity("3"), api.ResourceMemory: api.MustParseQuantity("1536Mi")},
			Machines:  2}}
	newHV := &api.Hypervisor{ObjectMeta: testMeta("", "hv-2", time.Minute), Spec: api.HypervisorSpec{URI: "qemu:///system", Unschedulable: true}}
	ma := &api.Machine{ObjectMeta: testMeta("", "web-x7k2p", 3*time.Minute),
		Spec:   api.MachineSpec{Provider: "libvirt", Pool: "web", Hypervisor: "hv-1", VCPUs: 1, Memory: api.MustParseQuantity("512Mi")},
		Status: api.MachineStatus{Phase: api.MachineJoined, Host: "host-1", NodeName: "web-x7k2p"}}
	two := api.FromInt(2)
	pdb := &api.PodDisruptionBudget{ObjectMeta: testMeta("default", "web", 5*time.Minute),
		Spec: api.PodDisruptionBudgetSpec{MinAvailable: &two}, Status: api.PodDisruptionBudgetStatus{DisruptionsAllowed: 1}}

	tests := []struct {
		kind string
		obj  api.Object
		want string
	}{
		{"ns", ns, "NAME   STATUS   AGE\nacme   Active   120m\n"},
		{"events", ev, "LAST SEEN   TYPE      REASON             OBJECT    MESSAGE\n15s         Warning   FailedScheduling   pod/web   0/3 nodes are available\n"},
		{"tenants", tenant, "NAME   NAMESPACES      AGE\nacme   acme,acme-dev   3d\n"},
		{"np", pool, "NAME      PROVIDER   REPLICAS   READY   MIN   MAX   AGE\nprivate   libvirt    1          2       1     10    10m\n"},
		{"vm", vm, "NAME   PHASE     HYPERVISOR   FLAVOR     AGE\ndb-1   Running   hv-1         2cpu/4Gi   60s\n"},
		{"pdb", pdb, "NAME   MIN AVAILABLE   MAX UNAVAILABLE   ALLOWED DISRUPTIONS   AGE\nweb    2               N/A               1                     5m\n"},
		{"hypervisors.iaas.cloudmgr.dev", hv, "NAME   URI                          REACHABLE   CPU(ALLOC/CAP)   MEMORY(ALLOC/CAP)   MACHINES   AGE\nhv-1   qemu+tcp://10.0.0.5/system   True        3/16             1536Mi/64Gi         2          400d\n"},
		{"hypervisors", newHV, "NAME   URI              REACHABLE                    CPU(ALLOC/CAP)   MEMORY(ALLOC/CAP)   MACHINES   AGE\nhv-2   qemu:///system   Unknown,SchedulingDisabled   <unknown>        <unknown>           0          60s\n"},
		{"machines", ma, "NAME        POOL   PHASE    HYPERVISOR   HOST     NODE        AGE\nweb-x7k2p   web    Joined   hv-1         host-1   web-x7k2p   3m\n"},
	}
	for _, tt := range tests {
		t.Run(tt.kind, func(t *testing.T) {
			if got := printAll(t, tt.kind, printOptions{}, tt.obj); got != tt.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tt.want)
			}
		})
	}
	pool.Status.Updated = 1
	if got, want := printAll(t, "np", printOptions{output: outputWide}, pool),
		"NAME      PROVIDER   REPLICAS   READY   MIN   MAX   AGE   FLAVOR     SIZE   UP-TO-DATE\nprivate   libvirt    1          2       1     10    10m   m1.large   3      1\n"; got != want {
		t.Errorf("np -o wide: got:\n%s\nwant:\n%s", got, want)
	}
}

func TestNameOutput(t *testing.T) {
	got := printAll(t, "pods", printOptions{output: outputName}, samplePods()[:2]...)
	if want := "pod/web\npod/batch-worker-7f9c\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
	pool := &api.NodePool{ObjectMeta: testMeta("", "private", time.Minute)}
	if got, want := printAll(t, "np", printOptions{output: outputName}, pool), "nodepool.iaas.cloudmgr.dev/private\n"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestYAMLOutput(t *testing.T) {
	ns := &api.Namespace{ObjectMeta: testMeta("", "acme", time.Hour)}
	ns.TypeMeta = api.TypeMeta{} // as list items may come
	single := printAll(t, "ns", printOptions{output: outputYAML, single: true}, ns)
	want := "apiVersion: v1\nkind: Namespace\nmetadata:\n  creationTimestamp: \"2025-06-01T11:00:00Z\"\n  name: acme\n"
	if single != want {
		t.Errorf("single object:\n%s\nwant:\n%s", single, want)
	}
	list := printAll(t, "ns", printOptions{output: outputYAML}, ns)
	mustContain(t, "yaml list", list, "apiVersion: v1\nitems:\n- apiVersion: v1\n  kind: Namespace\n", "kind: List\n", "resourceVersion: \"\"")
}

func TestJSONOutput(t *testing.T) {
	ns := &api.Namespace{ObjectMeta: testMeta("", "acme", time.Hour)}
	got := printAll(t, "ns", printOptions{output: outputJSON}, ns)
	mustContain(t, "json list", got, "\"kind\": \"List\"", "\n    \"items\": [\n", "\"name\": \"acme\"")
	empty := printAll(t, "ns", printOptions{output: outputJSON})
	mustContain(t, "empty json list", empty, "\"items\": []")
}

func TestTablesOfSeveralKinds(t *testing.T) {
	s := api.NewScheme()
	pods, _ := s.Lookup("pods")
	nodes, _ := s.Lookup("nodes")
	var out bytes.Buffer
	p := newPrinter(&out, printOptions{now: func() time.Time { return testNow }})
	p.print(pods, samplePods()[:1])
	p.print(nodes, sampleNodes()[2:])
	want := "NAME   READY   STATUS    RESTARTS   AGE\nweb    2/2     Running   3          5s\n\n" +
		"NAME     STATUS                          ROLES    AGE   VERSION\nnode-3   Unknown,HypervisorUnreachable   <none>   30s   <none>\n"
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestValidOutput(t *testing.T) {
	for _, o := range []string{"", "wide", "yaml", "json", "name"} {
		if err := validOutput(o); err != nil {
			t.Errorf("validOutput(%q) = %v", o, err)
		}
	}
	if err := validOutput("xml"); err == nil || !strings.Contains(err.Error(), "xml") {
		t.Errorf("validOutput(xml) = %v, want an error naming xml", err)
	}
}
