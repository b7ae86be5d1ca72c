package main

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// realAgo is a creation time d before the real clock, for commands run
// through runCLI.
func realAgo(d time.Duration) api.Time { return api.NewTime(time.Now().Add(-d)) }

func testPod(ns, name, phase string) *api.Pod {
	p := &api.Pod{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: api.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: realAgo(20 * 24 * time.Hour), ResourceVersion: "5"}}
	p.Spec.Containers = []api.Container{{Name: "c", Image: "busybox"}}
	p.Status.Phase = api.PodPhase(phase)
	return p
}

func TestGetListsPods(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/namespaces/dev/pods": listOf("Pod", "7", testPod("dev", "web", "Running"), testPod("dev", "db", "Pending")),
	})
	cfg := writeConfig(t, f.URL, "dev")
	out, errOut, code := runCLI(t, "--config", cfg, "get", "pods", "-l", "app=web", "--field-selector", "status.phase=Running")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "NAME   READY   STATUS    RESTARTS   AGE\nweb    0/1     Running   0          20d\ndb     0/1     Pending   0          20d\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if got, want := f.log()[0], "GET /api/v1/namespaces/dev/pods?fieldSelector=status.phase%3DRunning&labelSelector=app%3Dweb"; got != want {
		t.Errorf("request %q, want %q", got, want)
	}
}

func TestGetAllNamespaces(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/pods": listOf("Pod", "7", testPod("a", "web", "Running"), testPod("bb", "db", "Running")),
	})
	cfg := writeConfig(t, f.URL, "dev")
	out, _, code := runCLI(t, "--config", cfg, "get", "po", "-A")
	want := "NAMESPACE   NAME   READY   STATUS    RESTARTS   AGE\na           web    0/1     Running   0          20d\nbb          db     0/1     Running   0          20d\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, got:\n%s\nwant:\n%s", code, out, want)
	}
}

func TestGetNamedObjects(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/namespaces/prod/pods/web": objectOf(testPod("prod", "web", "Running")),
		"GET /api/v1/namespaces/prod/pods/gone": func(w http.ResponseWriter, _ *http.Request) {
			writeStatus(w, 404, api.StatusReasonNotFound, `pods "gone" not found`)
		},
	})
	cfg := writeConfig(t, f.URL, "dev")

	_, errOut, code := runCLI(t, "--config", cfg, "-n", "prod", "get", "pod", "gone")
	if code != 1 || errOut != "Error from server (NotFound): pods \"gone\" not found\n" {
		t.Errorf("missing pod: exit %d, stderr %q", code, errOut)
	}

	out, errOut, code := runCLI(t, "--config", cfg, "--namespace", "prod", "get", "pods", "web", "gone", "-o", "name")
	if code != 1 || out != "pod/web\n" || errOut != "Error from server (NotFound): pods \"gone\" not found\n" {
		t.Errorf("one of two: exit %d, stdout %q, stderr %q", code, out, errOut)
	}

	out, _, code = runCLI(t, "--config", cfg, "-n", "prod", "get", "pod/web", "-o", "yaml")
	if code != 0 || !strings.HasPrefix(out, "apiVersion: v1\nkind: Pod\nmetadata:\n") {
		t.Errorf("yaml: exit %d, stdout:\n%s", code, out)
	}

	out, _, code = runCLI(t, "--config", cfg, "-n", "prod", "get", "pod/web", "-o", "json")
	var decoded api.Pod
	if code != 0 || json.Unmarshal([]byte(out), &decoded) != nil || decoded.Name != "web" {
		t.Errorf("json: exit %d, stdout:\n%s", code, out)
	}
}

func TestGetSlashFormSeveralKinds(t *testing.T) {
	node := &api.Node{ObjectMeta: api.ObjectMeta{Name: "n1"}}
	pool := &api.NodePool{ObjectMeta: api.ObjectMeta{Name: "private"}}
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/namespaces/dev/pods/web":                    objectOf(testPod("dev", "web", "Running")),
		"GET /api/v1/nodes/n1":                                   objectOf(node),
		"GET /apis/iaas.cloudmgr.dev/v1alpha1/nodepools/private": objectOf(pool),
		"GET /api/v1/namespaces/dev/pods/db":                     objectOf(testPod("dev", "db", "Running")),
	})
	cfg := writeConfig(t, f.URL, "dev")
	out, errOut, code := runCLI(t, "--config", cfg, "get", "pod/web", "no/n1", "nodepools.iaas.cloudmgr.dev/private", "pods/db", "-o", "name")
	want := "pod/web\npod/db\nnode/n1\nnodepool.iaas.cloudmgr.dev/private\n"
	if code != 0 || out != want {
		t.Errorf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}

func TestGetNoResources(t *testing.T) {
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/namespaces/dev/pods": listOf("Pod", "3"),
		"GET /api/v1/nodes":               listOf("Node", "3"),
		"GET /api/v1/pods":                listOf("Pod", "3"),
	})
	cfg := writeConfig(t, f.URL, "dev")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"get", "pods"}, "No resources found in dev namespace.\n"},
		{[]string{"get", "nodes"}, "No resources found\n"},
		{[]string{"get", "pods", "-A"}, "No resources found\n"},
	} {
		out, errOut, code := runCLI(t, append([]string{"--config", cfg}, tt.args...)...)
		if code != 0 || out != "" || errOut != tt.want {
			t.Errorf("%v: exit %d, stdout %q, stderr %q, want %q", tt.args, code, out, errOut, tt.want)
		}
	}
}

func TestGetUsageErrors(t *testing.T) {
	cfg := writeConfig(t, unreachableServer(t), "dev")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"no type", []string{"get"}, "requires at least 1 arg"},
		{"unknown type", []string{"get", "widgets"}, `doesn't have a resource type "widgets"`},
		{"bad output", []string{"get", "pods", "-o", "xml"}, `output format "xml"`},
		{"unknown flag", []string{"get", "pods", "--frobnicate"}, "unknown flag: --frobnicate"},
		{"name and selector", []string{"get", "pods", "web", "-l", "a=b"}, "name cannot be provided when a selector is specified"},
		{"mixed forms", []string{"get", "pods", "pod/web"}, "no need to specify a resource type"},
		{"bad timeout", []string{"get", "pods", "--request-timeout", "soon"}, "invalid --request-timeout"},
		{"watch two names", []string{"get", "pods", "a", "b", "-w"}, "watch is only supported"},
		{"name across namespaces", []string{"get", "pods", "a", "-A"}, "cannot be retrieved by name across all namespaces"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, code := runCLI(t, append([]string{"--config", cfg}, tt.args...)...)
			if code != 1 || out != "" || !strings.HasPrefix(errOut, "error: ") || !strings.Contains(errOut, tt.want) {
				t.Errorf("exit %d, stdout %q, stderr %q; want an error with %q", code, out, errOut, tt.want)
			}
		})
	}
	// Flag and argument errors come with the usage; runtime errors do not.
	_, errOut, _ := runCLI(t, "--config", cfg, "get", "pods", "--frobnicate")
	mustContain(t, "flag error", errOut, "Usage:\n  cloudctl get")
	_, errOut, _ = runCLI(t, "--config", cfg, "get", "widgets")
	if strings.Contains(errOut, "Usage:") {
		t.Errorf("runtime error printed the usage:\n%s", errOut)
	}
}

func TestGetWatch(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	watchQuery := make(chan string, 1)
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/namespaces/dev/pods": func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("watch") == "" {
				listOf("Pod", "7", testPod("dev", "web", "Pending"))(w, r)
				return
			}
			watchQuery <- r.URL.RawQuery
			w.Header().Set("Content-Type", "application/json")
			enc := json.NewEncoder(w)
			enc.Encode(map[string]any{"type": "MODIFIED", "object": testPod("dev", "web", "Running")})
			enc.Encode(map[string]any{"type": "ADDED", "object": testPod("dev", "a-longer-name", "Pending")})
			w.(http.Flusher).Flush()
			time.Sleep(200 * time.Millisecond) // let the client print before it is stopped
			cancel()
			<-r.Context().Done()
		},
	})
	cfg := writeConfig(t, f.URL, "dev")
	out, errOut, code := runCLIWith(t, ctx, "", "--config", cfg, "get", "pods", "-w", "-l", "app=web")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "NAME   READY   STATUS    RESTARTS   AGE\n" +
		"web    0/1     Pending   0          20d\n" +
		"web    0/1     Running   0          20d\n" +
		"a-longer-name   0/1     Pending   0          20d\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
	if q := <-watchQuery; q != "labelSelector=app%3Dweb&resourceVersion=7&watch=1" {
		t.Errorf("watch query %q", q)
	}
}

// TestGetEventsSortedByLastSeen: events print oldest first, as kubectl
// events does, whatever order the server lists them in.
func TestGetEventsSortedByLastSeen(t *testing.T) {
	ev := func(name, reason string, ago time.Duration) *api.Event {
		return &api.Event{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Event"},
			ObjectMeta:     api.ObjectMeta{Namespace: "dev", Name: name, CreationTimestamp: realAgo(time.Hour)},
			InvolvedObject: api.ObjectReference{Kind: "ReplicaSet", Name: "web-1"},
			Type:           api.EventTypeNormal, Reason: reason, Message: reason + " pod", LastTimestamp: realAgo(ago)}
	}
	f := newFakeAPI(t, map[string]http.HandlerFunc{
		"GET /api/v1/namespaces/dev/events": listOf("Event", "7", ev("a", "SuccessfulDelete", 10*time.Second), ev("b", "SuccessfulCreate", 2*time.Minute)),
	})
	cfg := writeConfig(t, f.URL, "dev")
	out, errOut, code := runCLI(t, "--config", cfg, "get", "events")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	want := "LAST SEEN   TYPE     REASON             OBJECT             MESSAGE\n" +
		"2m          Normal   SuccessfulCreate   replicaset/web-1   SuccessfulCreate pod\n" +
		"10s         Normal   SuccessfulDelete   replicaset/web-1   SuccessfulDelete pod\n"
	if out != want {
		t.Errorf("got:\n%s\nwant:\n%s", out, want)
	}
}
