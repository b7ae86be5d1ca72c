package hpa

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// TestClientMetrics: the pod metrics API's figures are summed over each
// pod's containers; figures of pods not asked for, or of an older pod of
// the same name, are left out.
func TestClientMetrics(t *testing.T) {
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		usage := func(cpu string) api.ResourceList {
			return api.ResourceList{api.ResourceCPU: api.MustParseQuantity(cpu)}
		}
		_ = json.NewEncoder(w).Encode(api.PodMetricsList{Items: []api.PodMetrics{
			{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "web-1", UID: "u1"},
				Containers: []api.ContainerMetrics{{Name: "app", Usage: usage("250m")}, {Name: "log", Usage: usage("50m")}}},
			{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "web-2", UID: "old"}, Containers: []api.ContainerMetrics{{Name: "app", Usage: usage("1")}}},
			{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "db", UID: "u3"}, Containers: []api.ContainerMetrics{{Name: "db", Usage: usage("2")}}},
		}})
	}))
	t.Cleanup(srv.Close)
	c, err := client.New(client.Config{Server: srv.URL}, api.NewScheme())
	if err != nil {
		t.Fatal(err)
	}
	pods := []*api.Pod{
		{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "web-1", UID: "u1"}},
		{ObjectMeta: api.ObjectMeta{Namespace: "team-a", Name: "web-2", UID: "u2"}},
	}
	got, err := ClientMetrics{Client: c}.PodCPU(context.Background(), "team-a", pods)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["web-1"] != 300 {
		t.Errorf("usage %v, want web-1 at 300m only", got)
	}
	if path != "/apis/metrics.cloudmgr.dev/v1/namespaces/team-a/pods" {
		t.Errorf("asked %s", path)
	}
	srv.Close()
	if _, err := (ClientMetrics{Client: c}).PodCPU(context.Background(), "team-a", pods); err == nil {
		t.Error("no error from a server that is gone")
	}
}
