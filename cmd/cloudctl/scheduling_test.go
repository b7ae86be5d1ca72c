package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

func samplePriorityClasses() []api.Object {
	never := api.PreemptNever
	high := &api.PriorityClass{ObjectMeta: testMeta("", "high", 5*time.Hour), Value: 1000000, GlobalDefault: true}
	batch := &api.PriorityClass{ObjectMeta: testMeta("", "batch", 90*time.Second), Value: -10, PreemptionPolicy: &never}
	return []api.Object{high, batch}
}

func TestPriorityClassTable(t *testing.T) {
	got := printAll(t, "pc", printOptions{}, samplePriorityClasses()...)
	want := `NAME    VALUE     GLOBAL-DEFAULT   AGE
high    1000000   true             5h
batch   -10       false            90s
`
	if got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
	got = printAll(t, "priorityclasses", printOptions{output: outputWide}, samplePriorityClasses()...)
	want = `NAME    VALUE     GLOBAL-DEFAULT   AGE   PREEMPTIONPOLICY
high    1000000   true             5h    PreemptLowerPriority
batch   -10       false            90s   Never
`
	if got != want {
		t.Errorf("wide: got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDescribePriorityClass(t *testing.T) {
	pc := samplePriorityClasses()[1].(*api.PriorityClass)
	pc.Description = "Batch jobs that yield to everything."
	d := newDescriber(testNow, time.UTC)
	d.priorityClass(pc)
	d.events(nil)
	var out bytes.Buffer
	d.flush(&out)
	want := `Name:              batch
Value:             -10
GlobalDefault:     false
PreemptionPolicy:  Never
Description:       Batch jobs that yield to everything.
Annotations:       <none>
Events:            <none>
`
	if out.String() != want {
		t.Errorf("got:\n%s\nwant:\n%s", out.String(), want)
	}
}

// unschedulablePod is a pending pod the scheduler could not place and has
// nominated a node for after preempting there.
func unschedulablePod() *api.Pod {
	prio := int32(1000)
	p := &api.Pod{ObjectMeta: testMeta("dev", "big", time.Minute)}
	p.Spec = api.PodSpec{
		Priority: &prio, PriorityClassName: "high",
		Containers: []api.Container{{Name: "big", Image: "busybox"}},
		TopologySpreadConstraints: []api.TopologySpreadConstraint{
			{MaxSkew: 1, TopologyKey: api.LabelHypervisor, WhenUnsatisfiable: api.DoNotSchedule,
				LabelSelector: &api.LabelSelector{MatchLabels: map[string]string{"app": "big"},
					MatchExpressions: []api.LabelSelectorRequirement{{Key: "tier", Operator: api.LabelSelectorOpIn, Values: []string{"b", "a"}}}}},
			{MaxSkew: 2, TopologyKey: api.LabelZone, WhenUnsatisfiable: api.ScheduleAnyway},
		},
	}
	p.Status = api.PodStatus{Phase: api.PodPending, NominatedNodeName: "node-4", Conditions: []api.PodCondition{
		{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: "Unschedulable",
			Message: "0/12 nodes are available: 8 Insufficient cpu,\n4 node(s) had untolerated taint."},
		{Type: api.PodReady, Status: api.ConditionFalse},
	}}
	return p
}

// TestDescribeUnschedulablePod: why a pod waits reads in full, on one
// line, with the priority, nominated node and spread constraints.
func TestDescribeUnschedulablePod(t *testing.T) {
	d := newDescriber(testNow, time.UTC)
	d.pod(unschedulablePod())
	var out bytes.Buffer
	d.flush(&out)
	mustContain(t, "describe", out.String(),
		"Priority:             1000\nPriority Class Name:  high\nNode:                 <none>\n",
		"IP:                   \nNominatedNodeName:    node-4\n",
		// As in kubectl, the sections below align with the conditions.
		"Conditions:\n"+
			"  Type                        Status  Reason         Message\n"+
			"  ----                        ------  ------         -------\n"+
			"  PodScheduled                False   Unschedulable  0/12 nodes are available: 8 Insufficient cpu, 4 node(s) had untolerated taint.\n"+
			"  Ready                       False                  \n"+
			"Node-Selectors:               <none>\n",
		"Topology Spread Constraints:  topology.cloud/hypervisor:DoNotSchedule when max skew 1 is exceeded for selector app=big,tier in (a,b)\n"+
			"                              topology.kubernetes.io/zone:ScheduleAnyway when max skew 2 is exceeded for selector <none>\n")
}

// TestSchedulingViewsAgainstRealServer: priority classes applied and
// listed, and a pod the scheduler marked unschedulable and nominated,
// through the real API server.
func TestSchedulingViewsAgainstRealServer(t *testing.T) {
	env, admin := realServerConfig(t)
	ctx := context.Background()
	cli := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, append([]string{"--config", admin}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		return out
	}
	manifest := filepath.Join(t.TempDir(), "pc.yaml")
	os.WriteFile(manifest, []byte("apiVersion: scheduling.cloudmgr.dev/v1\nkind: PriorityClass\nmetadata:\n  name: high\nvalue: 1000\nglobalDefault: true\ndescription: Web front ends.\n"), 0o600)
	if out := cli("apply", "-f", manifest); out != "priorityclass.scheduling.cloudmgr.dev/high created\n" {
		t.Errorf("apply printed %q", out)
	}
	out := cli("get", "pc")
	mustContain(t, "get pc", out, "NAME                      VALUE        GLOBAL-DEFAULT   AGE\n",
		"high                      1000         true", "system-cluster-critical   2000000000   false", "system-node-critical      2000001000   false")
	mustContain(t, "describe pc", cli("describe", "priorityclass", "high"), "Value:             1000\n", "GlobalDefault:     true\n", "Description:       Web front ends.\n")

	pod := &api.Pod{ObjectMeta: api.ObjectMeta{Namespace: "default", Name: "big"},
		Spec: api.PodSpec{PriorityClassName: "high", Containers: []api.Container{{Name: "big", Image: "busybox"}}}}
	if err := env.Admin.Create(ctx, pod); err != nil {
		t.Fatal(err)
	}
	pod.Status.NominatedNodeName = "node-4"
	msg := "0/12 nodes are available: 8 Insufficient cpu, 4 node(s) had untolerated taint."
	api.SetPodCondition(&pod.Status, api.PodCondition{Type: api.PodScheduled, Status: api.ConditionFalse, Reason: "Unschedulable", Message: msg})
	if _, err := client.For[api.Pod](env.Scheduler).UpdateStatus(ctx, pod); err != nil {
		t.Fatal(err)
	}
	mustContain(t, "get pods -o wide", cli("get", "pods", "-o", "wide"),
		"IP       NODE     NOMINATED NODE\n", "<none>   <none>   node-4\n")
	out = cli("describe", "pod", "big")
	mustContain(t, "describe pod", out, "Priority:             1000\n", "Priority Class Name:  high\n", "NominatedNodeName:    node-4\n",
		"Reason         Message\n")
	if !regexp.MustCompile(`\n  PodScheduled +False +Unschedulable +` + regexp.QuoteMeta(msg) + `\n`).MatchString(out) {
		t.Errorf("the condition row does not read PodScheduled False Unschedulable %s:\n%s", msg, out)
	}
}
