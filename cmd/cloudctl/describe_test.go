package main

import (
	"bytes"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

func describedPod() *api.Pod {
	p := &api.Pod{ObjectMeta: testMeta("dev", "web", time.Hour)}
	p.UID = "uid-web"
	p.Labels = map[string]string{"app": "web", "tier": "front"}
	p.Spec = api.PodSpec{
		NodeName:     "node-1",
		NodeSelector: map[string]string{"disk": "ssd"},
		Tolerations:  []api.Toleration{{Key: "dedicated", Operator: api.TolerationOpEqual, Value: "web", Effect: api.TaintEffectNoSchedule}},
		Containers: []api.Container{{
			Name: "web", Image: "nginx:1.27",
			Ports: []api.ContainerPort{{ContainerPort: 80, Protocol: api.ProtocolTCP}},
			LivenessProbe: &api.Probe{HTTPGet: &api.HTTPGetAction{Path: "/healthz", Port: api.FromInt(8080), Scheme: api.URISchemeHTTP},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 3},
			ReadinessProbe: &api.Probe{Exec: &api.ExecAction{Command: []string{"test", "-f", "/tmp/ready"}},
				InitialDelaySeconds: 5, TimeoutSeconds: 2, PeriodSeconds: 3, SuccessThreshold: 2, FailureThreshold: 1},
			StartupProbe: &api.Probe{TCPSocket: &api.TCPSocketAction{Port: api.FromString("http")},
				TimeoutSeconds: 1, PeriodSeconds: 10, SuccessThreshold: 1, FailureThreshold: 30},
			Resources: api.ResourceRequirements{
				Requests: api.ResourceList{"cpu": api.MustParseQuantity("250m"), "memory": api.MustParseQuantity("64Mi")},
				Limits:   api.ResourceList{"cpu": api.MustParseQuantity("500m")},
			},
		}},
	}
	p.Status = api.PodStatus{
		Phase: api.PodRunning, PodIP: "10.1.0.5", HostIP: "192.168.1.10",
		Conditions: []api.PodCondition{{Type: api.PodScheduled, Status: api.ConditionTrue}, {Type: api.PodReady, Status: api.ConditionTrue}},
		ContainerStatuses: []api.ContainerStatus{{
			Name: "web", Ready: true, RestartCount: 2,
			State:     api.ContainerState{Running: &api.ContainerStateRunning{StartedAt: ago(30 * time.Minute)}},
			LastState: api.ContainerState{Terminated: &api.ContainerStateTerminated{ExitCode: 137, Reason: "OOMKilled"}},
		}},
	}
	return p
}

// TestDescribePodLayout pins the layout, including kubectl's quirk that
// consecutive "key:\tvalue" lines align even across sections.
func TestDescribePodLayout(t *testing.T) {
	d := newDescriber(testNow, time.UTC)
	d.pod(describedPod())
	d.events([]*api.Event{
		{Type: "Normal", Reason: "Scheduled", Source: api.EventSource{Component: "default-scheduler"},
			Message: "Successfully assigned dev/web to node-1", LastTimestamp: ago(time.Hour)},
		{Type: "Warning", Reason: "BackOff", ReportingComponent: "cloudlet", Count: 3,
			Message: "Back-off restarting failed container", FirstTimestamp: ago(40 * time.Minute), LastTimestamp: ago(31 * time.Minute)},
	})
	var out bytes.Buffer
	if err := d.flush(&out); err != nil {
		t.Fatal(err)
	}
	want := `Name:               web
Namespace:          dev
Node:               node-1/192.168.1.10
Labels:             app=web
                    tier=front
Annotations:        <none>
CreationTimestamp:  Sun, 01 Jun 2025 11:00:00 +0000
Status:             Running
IP:                 10.1.0.5
Containers:
  web:
    Image:          nginx:1.27
    Port:           80/TCP
    State:          Running
      Started:      Sun, 01 Jun 2025 11:30:00 +0000
    Last State:     Terminated
      Reason:       OOMKilled
      Exit Code:    137
      Started:      <unset>
      Finished:     <unset>
    Ready:          True
    Restart Count:  2
    Limits:
      cpu:  500m
    Requests:
      cpu:        250m
      memory:     64Mi
    Liveness:     http-get http://:8080/healthz delay=0s timeout=1s period=10s #success=1 #failure=3
    Readiness:    exec [test -f /tmp/ready] delay=5s timeout=2s period=3s #success=2 #failure=1
    Startup:      tcp-socket :http delay=0s timeout=1s period=10s #success=1 #failure=30
    Environment:  <none>
Conditions:
  Type           Status
  PodScheduled   True 
  Ready          True 
Node-Selectors:  disk=ssd
Tolerations:     dedicated=web:NoSchedule
Events:
  Type     Reason     Age                From               Message
  ----     ------     ----               ----               -------
  Normal   Scheduled  60m                default-scheduler  Successfully assigned dev/web to node-1
  Warning  BackOff    31m (x3 over 40m)  cloudlet           Back-off restarting failed container
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

func TestDescribeNodeSections(t *testing.T) {
	n := sampleNodes()[0].(*api.Node)
	n.Status.Capacity = api.ResourceList{"cpu": api.MustParseQuantity("4"), "memory": api.MustParseQuantity("8Gi")}
	n.Spec.Taints = []api.Taint{{Key: "dedicated", Value: "gpu", Effect: api.TaintEffectNoSchedule}}
	d := newDescriber(testNow, time.UTC)
	d.node(n)
	d.events(nil)
	var out bytes.Buffer
	d.flush(&out)
	mustContain(t, "node description", out.String(),
		"Roles:              control-plane,worker\n",
		"Taints:             dedicated=gpu:NoSchedule\n",
		"Conditions:\n  Type    Status  LastHeartbeatTime",
		"Addresses:\n  Hostname:    node-1\n  InternalIP:  192.168.1.10\n",
		"Capacity:\n  cpu:     4\n  memory:  8Gi\n",
		"Agent Version:              v0.3.0\n",
		// As in kubectl, the Events line aligns with the block above it.
		"Events:                       <none>\n")
}

func TestDescribeGenericKind(t *testing.T) {
	pool := &api.NodePool{ObjectMeta: testMeta("", "private", time.Hour),
		Spec:   api.NodePoolSpec{Provider: "libvirt", MinSize: 1, MaxSize: 1000000, HypervisorSelector: map[string]string{"rack": "a"}},
		Status: api.NodePoolStatus{Size: 2, Conditions: []api.Condition{{Type: "Ready", Status: api.ConditionTrue}}}}
	k, _ := api.NewScheme().Lookup("np")
	d := newDescriber(testNow, time.UTC)
	if err := d.generic(k, pool); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	d.flush(&out)
	mustContain(t, "generic description", out.String(),
		"Name:               private\n",
		"Spec:\n  Hypervisor Selector:\n    rack:    a\n  Max Size:  1000000\n  Min Size:  1\n  Provider:  libvirt\n",
		"Status:\n  Conditions:\n    Status:     True\n    Type:       Ready\n  Ready Nodes:  0\n  Size:         2\n")
}

func TestDescribeFallsBackWhenFieldSelectorIsRejected(t *testing.T) {
	pod := describedPod()
	mine := &api.Event{ObjectMeta: api.ObjectMeta{Namespace: "dev", Name: "e1"}, Type: "Normal", Reason: "Pulled",
		InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "web", Namespace: "dev"}, LastTimestamp: realAgo(20 * 24 * time.Hour)}
	other := &api.Event{ObjectMeta: api.ObjectMeta{Namespace: "dev", Name: "e2"}, Type: "Normal", Reason: "NotMine",
		InvolvedObject: api.ObjectReference{Kind: "Pod", Name: "db", Namespace: "dev"}}
	sameNameOtherKind := &api.Event{ObjectMeta: api.ObjectMeta{Namespace: "dev", Name: "e3"}, Type: "Normal", Reason: "VMEvent",
		InvolvedObject: api.ObjectReference{Kind: "VirtualMachine", Name: "web", Namespace: "dev"}}
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/namespaces/dev/pods/web": objectOf(pod),
		"GET /api/v1/namespaces/dev/events": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("fieldSelector") != "" {
				writeStatus(w, 400, api.StatusReasonBadRequest, `field label "involvedObject.name" not supported`)
				return
			}
			listOf("Event", "3", mine, other, sameNameOtherKind)(w, r)
		},
	})
	cfg := writeConfig(t, f.URL, "dev")
	out, errOut, code := runCLI(t, "--config", cfg, "describe", "pod", "web")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	mustContain(t, "describe", out, "Name:", "Image:          nginx:1.27", "Normal  Pulled  20d")
	if strings.Contains(out, "NotMine") || strings.Contains(out, "VMEvent") {
		t.Errorf("events of other objects shown:\n%s", out)
	}
	log := f.log()
	if len(log) != 3 || log[1] != "GET /api/v1/namespaces/dev/events?fieldSelector=involvedObject.name%3Dweb" || log[2] != "GET /api/v1/namespaces/dev/events" {
		t.Errorf("requests %q", log)
	}
}

// TestDescribePodDisruptionBudget: the spec, then what the status allows,
// as kubectl lays it out, with a stale status and pending evictions shown.
func TestDescribePodDisruptionBudget(t *testing.T) {
	k, _ := api.NewScheme().Lookup("pdb")
	half := api.FromString("50%")
	b := &api.PodDisruptionBudget{ObjectMeta: testMeta("default", "web", time.Hour),
		Spec: api.PodDisruptionBudgetSpec{MaxUnavailable: &half, Selector: &api.LabelSelector{MatchLabels: map[string]string{"app": "web"}}},
		Status: api.PodDisruptionBudgetStatus{ObservedGeneration: 1, ExpectedPods: 4, CurrentHealthy: 4, DesiredHealthy: 2, DisruptionsAllowed: 1,
			DisruptedPods: map[string]api.Time{"web-b": ago(time.Second), "web-a": ago(time.Second)},
			Conditions:    []api.PodDisruptionBudgetCondition{{Type: api.DisruptionAllowed, Status: api.ConditionTrue, Reason: api.ReasonSufficientPods}}}}
	b.Generation = 2
	d := newDescriber(testNow, time.UTC)
	d.podDisruptionBudget(k, b)
	var out bytes.Buffer
	if err := d.flush(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Max unavailable:", "50%", "Selector:", "app=web", "Allowed disruptions:  1",
		"Current:", "Desired:", "Total:", "Observed generation:  1 (the spec is at 2", "Disrupted pods:", "web-a, web-b",
		"DisruptionAllowed:", "True (SufficientPods)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
}
