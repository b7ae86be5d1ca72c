package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

func testHPA(name string, util *int32) *api.HorizontalPodAutoscaler {
	two := int32(2)
	h := &api.HorizontalPodAutoscaler{ObjectMeta: testMeta("default", name, 3*time.Minute),
		Spec: api.HorizontalPodAutoscalerSpec{ScaleTargetRef: api.CrossVersionObjectReference{Kind: "Deployment", Name: name},
			MinReplicas: &two, MaxReplicas: 10}}
	api.DefaultHorizontalPodAutoscaler(h)
	if util != nil {
		h.Status.CurrentReplicas, h.Status.DesiredReplicas = 3, 4
		h.Status.CurrentMetrics = []api.MetricStatus{{Type: api.ResourceMetricSourceType,
			Resource: &api.ResourceMetricStatus{Name: "cpu", Current: api.MetricValueStatus{AverageUtilization: util}}}}
	}
	return h
}

func TestHPATable(t *testing.T) {
	u := int32(45)
	got := printAll(t, "hpa", printOptions{}, testHPA("web", &u), testHPA("new", nil))
	want := "NAME   REFERENCE        TARGETS         MINPODS   MAXPODS   REPLICAS   AGE\n" +
		"web    Deployment/web   45%/80%         2         10        3          3m\n" +
		"new    Deployment/new   <unknown>/80%   2         10        0          3m\n"
	if got != want {
		t.Errorf("hpa table: got:\n%s\nwant:\n%s", got, want)
	}
}

func TestDescribeHPA(t *testing.T) {
	k, _ := api.NewScheme().Lookup("hpa")
	u := int32(45)
	h := testHPA("web", &u)
	api.SetHPACondition(&h.Status, api.AbleToScale, api.ConditionTrue, "ScaleDownStabilized", "recent recommendations were higher than current one", testNow)
	d := newDescriber(testNow, time.UTC)
	d.horizontalPodAutoscaler(k, h)
	var out bytes.Buffer
	if err := d.flush(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"Reference:", "Deployment/web", "resource cpu on pods  (as a percentage of request):  45% / 80%",
		"Min replicas:", "Max replicas:", "Scale down stabilization window:  5m0s", "Deployment pods:", "3 current / 4 desired",
		"AbleToScale  True    ScaleDownStabilized  recent recommendations"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("missing %q in:\n%s", want, out.String())
		}
	}
}

// TestAutoscaleAgainstRealServer: cloudctl autoscale creates the
// autoscaler named like its target, with the flags' bounds and target,
// and refuses bad input before and at the server.
func TestAutoscaleAgainstRealServer(t *testing.T) {
	env := apiservertest.Start(t, apiservertest.Options{})
	cfg := filepath.Join(t.TempDir(), "config")
	f := client.NewConfigFile("admin", client.Context{Server: env.URL, Token: env.AdminToken,
		CertificateAuthorityData: base64.StdEncoding.EncodeToString(env.CAPEM)})
	if err := f.Save(cfg); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, string, int) {
		t.Helper()
		return runCLI(t, append([]string{"--config", cfg}, args...)...)
	}
	ctx := context.Background()
	one := int32(1)
	labels := map[string]string{"app": "web"}
	if _, err := client.For[api.Deployment](env.Admin).Create(ctx, &api.Deployment{ObjectMeta: api.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: api.DeploymentSpec{Replicas: &one, Selector: &api.LabelSelector{MatchLabels: labels},
			Template: api.PodTemplateSpec{ObjectMeta: api.ObjectMeta{Labels: labels},
				Spec: api.PodSpec{Containers: []api.Container{{Name: "c", Image: "busybox"}}}}}}); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := cli("autoscale", "deployment", "web", "--cpu-percent", "60", "--min", "2", "--max", "10")
	if code != 0 || out != "horizontalpodautoscaler.autoscaling/web autoscaled\n" {
		t.Fatalf("autoscale: exit %d: %q %s", code, out, errOut)
	}
	h, err := client.For[api.HorizontalPodAutoscaler](env.Admin).Get(ctx, "default", "web")
	if err != nil {
		t.Fatal(err)
	}
	if h.Spec.ScaleTargetRef != (api.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}) ||
		h.MinReplicasOrDefault() != 2 || h.Spec.MaxReplicas != 10 || h.CPUTargetUtilization() != 60 {
		t.Errorf("created %+v", h.Spec)
	}
	out, _, _ = cli("get", "hpa")
	mustContain(t, "get hpa", out, "NAME   REFERENCE        TARGETS         MINPODS   MAXPODS   REPLICAS   AGE", "web    Deployment/web   <unknown>/60%   2         10        0")
	out, _, _ = cli("describe", "hpa", "web")
	mustContain(t, "describe hpa", out, "Reference:", "Deployment/web", "<unknown> / 60%")

	for _, tc := range []struct {
		args []string
		code int
		err  string
	}{
		{[]string{"autoscale", "deploy/web", "--max", "3"}, 1, "already exists"},
		{[]string{"autoscale", "deploy/web", "--name", "other"}, 1, "--max=MAXPODS is required"},
		{[]string{"autoscale", "pod/web", "--max", "3"}, 1, "only Deployment, ReplicaSet"},
		{[]string{"autoscale", "deploy/missing", "--max", "3"}, 1, "not found"},
		{[]string{"autoscale", "deploy/web", "--name", "bad", "--min", "5", "--max", "3"}, 1, "spec.maxReplicas"},
		{[]string{"autoscale", "deploy/web", "--name", "bad", "--cpu-percent", "0", "--max", "3"}, 1, "spec.metrics[0].resource.target.averageUtilization"},
	} {
		_, errOut, code := cli(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.err) {
			t.Errorf("%v: exit %d %q, want exit %d mentioning %q", tc.args, code, errOut, tc.code, tc.err)
		}
	}
	if _, err := client.For[api.HorizontalPodAutoscaler](env.Admin).Get(ctx, "default", "bad"); !client.IsNotFound(err) {
		t.Errorf("a refused autoscaler was stored: %v", err)
	}
	out, _, _ = cli("autoscale", "--help")
	mustContain(t, "help", out, "cloudctl autoscale deployment web --cpu-percent 80 --min 2 --max 10")
}
