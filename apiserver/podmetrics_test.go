package apiserver_test

import (
	"context"
	"net/http"
	"slices"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/apiserver/apiservertest"
	"github.com/cloudmgr/cloud/client"
)

// TestPodMetricsFromNodes: pod figures come from the pods' nodes through
// their tunnels, and each caller sees only the pods it may list: a figure
// for a pod the store does not hold, or of another tenant, is dropped.
func TestPodMetricsFromNodes(t *testing.T) {
	te := startTunnelEnv(t, apiservertest.Options{})
	env := te.env
	if _, err := client.For[api.Pod](env.Admin).Create(context.Background(), &api.Pod{
		ObjectMeta: api.ObjectMeta{Namespace: "team-b", Name: "other"},
		Spec:       api.PodSpec{NodeName: "node-1", Containers: []api.Container{{Name: "app", Image: "busybox"}}}}); err != nil {
		t.Fatal(err)
	}
	names := func(c *client.Client, ns string) ([]string, error) {
		list, err := c.PodMetrics(context.Background(), ns)
		if err != nil {
			return nil, err
		}
		var out []string
		for _, m := range list.Items {
			if len(m.Containers) != 1 || m.Containers[0].Usage["cpu"].String() != "250m" {
				t.Errorf("%s/%s: containers %+v; want app at 250m", m.Namespace, m.Name, m.Containers)
			}
			out = append(out, m.Namespace+"/"+m.Name)
		}
		return out, nil
	}
	for _, c := range []struct {
		who  string
		c    *client.Client
		ns   string
		want []string
		code int
	}{
		{"owning tenant", te.tenantA, "team-a", []string{"team-a/two", "team-a/web"}, 0},
		{"tenant, all its namespaces", te.tenantB, "", []string{"team-b/other"}, 0},
		{"other tenant", te.tenantB, "team-a", nil, http.StatusForbidden},
		{"admin, every namespace", env.Admin, "", []string{"team-a/two", "team-a/web", "team-b/other"}, 0},
		{"node", te.node, "team-a", nil, http.StatusForbidden},
		{"controller manager (workload autoscaler)", env.ControllerManager(t), "team-a", []string{"team-a/two", "team-a/web"}, 0},
	} {
		t.Run(c.who, func(t *testing.T) {
			got, err := names(c.c, c.ns)
			if c.code != 0 {
				if client.Code(err) != c.code {
					t.Fatalf("pod metrics: %v; want %d", err, c.code)
				}
				return
			}
			if err != nil || !slices.Equal(got, c.want) {
				t.Fatalf("pod metrics = %v, %v; want %v", got, err, c.want)
			}
		})
	}
}
