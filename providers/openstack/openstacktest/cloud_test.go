package openstacktest_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/providers/openstack/openstacktest"
)

// call sends a JSON request and decodes the JSON answer.
func call(t *testing.T, c *openstacktest.Cloud, method, path, token, microversion string, body any) (int, http.Header, map[string]any) {
	t.Helper()
	var r bytes.Buffer
	if body != nil {
		if err := json.NewEncoder(&r).Encode(body); err != nil {
			t.Fatal(err)
		}
	}
	req, err := http.NewRequest(method, c.URL()+path, &r)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("X-Auth-Token", token)
	}
	if microversion != "" {
		req.Header.Set("X-OpenStack-Nova-API-Version", microversion)
	}
	resp, err := c.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(resp.Body).Decode(&out)
	return resp.StatusCode, resp.Header, out
}

func passwordAuth(o openstacktest.Options, password string) map[string]any {
	return map[string]any{"auth": map[string]any{
		"identity": map[string]any{"methods": []string{"password"}, "password": map[string]any{"user": map[string]any{
			"name": o.Username, "domain": map[string]any{"name": o.UserDomain}, "password": password}}},
		"scope": map[string]any{"project": map[string]any{"name": o.ProjectName, "domain": map[string]any{"name": o.UserDomain}}}}}
}

// TestShapes checks the double's answers against the shapes of the
// OpenStack API reference, without gophercloud.
func TestShapes(t *testing.T) {
	c := openstacktest.Start(t, openstacktest.Options{BuildDelay: time.Millisecond})
	o := c.Options()
	if code, _, body := call(t, c, "POST", "/identity/v3/auth/tokens", "", "", passwordAuth(o, "wrong")); code != 401 || body["error"] == nil {
		t.Fatalf("wrong password: %d %v", code, body)
	}
	code, h, body := call(t, c, "POST", "/identity/v3/auth/tokens", "", "", passwordAuth(o, o.Password))
	tok := h.Get("X-Subject-Token")
	token, _ := body["token"].(map[string]any)
	if code != 201 || tok == "" || token["expires_at"] == nil || token["project"] == nil {
		t.Fatalf("token: %d %v", code, body)
	}
	if _, err := time.Parse(time.RFC3339, token["expires_at"].(string)); err != nil {
		t.Fatal(err)
	}
	services := map[string]bool{}
	for _, e := range token["catalog"].([]any) {
		entry := e.(map[string]any)
		for _, ep := range entry["endpoints"].([]any) {
			if ep.(map[string]any)["region_id"] == "RegionOne" && ep.(map[string]any)["interface"] == "public" {
				services[entry["type"].(string)] = true
			}
		}
	}
	if !services["compute"] || !services["image"] || !services["identity"] {
		t.Fatalf("catalog services %v", services)
	}
	if code, _, _ := call(t, c, "GET", "/compute/v2.1/servers/detail", "", "", nil); code != 401 {
		t.Fatalf("no token: %d", code)
	}

	// Server groups: policies before 2.64, policy after.
	code, _, body = call(t, c, "POST", "/compute/v2.1/os-server-groups", tok, "2.15",
		map[string]any{"server_group": map[string]any{"name": "old", "policies": []string{"soft-anti-affinity"}}})
	if g, _ := body["server_group"].(map[string]any); code != 200 || g["policies"] == nil || g["policy"] != nil {
		t.Fatalf("group at 2.15: %d %v", code, body)
	}
	code, _, body = call(t, c, "POST", "/compute/v2.1/os-server-groups", tok, "2.64",
		map[string]any{"server_group": map[string]any{"name": "new", "policy": "anti-affinity"}})
	g, _ := body["server_group"].(map[string]any)
	if code != 200 || g["policy"] != "anti-affinity" || g["policies"] != nil {
		t.Fatalf("group at 2.64: %d %v", code, body)
	}
	if code, _, _ := call(t, c, "POST", "/compute/v2.1/os-server-groups", tok, "2.1",
		map[string]any{"server_group": map[string]any{"name": "soft", "policies": []string{"soft-affinity"}}}); code != 400 {
		t.Fatalf("soft-affinity before 2.15: %d", code)
	}

	// A server, with the flavor as a link before 2.47 and embedded after.
	img := c.ImageID("cirros-0.6.3-x86_64-disk")
	code, _, body = call(t, c, "POST", "/compute/v2.1/servers", tok, "2.64", map[string]any{
		"server":             map[string]any{"name": "s1", "imageRef": img, "flavorRef": "1", "networks": "auto"},
		"os:scheduler_hints": map[string]any{"group": g["id"]}})
	srv, _ := body["server"].(map[string]any)
	if code != 202 || srv["id"] == nil || srv["adminPass"] == nil {
		t.Fatalf("create: %d %v", code, body)
	}
	id := srv["id"].(string)
	if code, _, body := call(t, c, "POST", "/compute/v2.1/servers", tok, "2.64", map[string]any{
		"server": map[string]any{"name": "s2", "imageRef": img, "flavorRef": "1"}}); code != 400 {
		t.Fatalf("create without networks at 2.64: %d %v", code, body)
	}
	time.Sleep(5 * time.Millisecond)
	_, _, body = call(t, c, "GET", "/compute/v2.1/servers/"+id, tok, "2.1", nil)
	s := body["server"].(map[string]any)
	if f := s["flavor"].(map[string]any); f["id"] != "1" || s["status"] != "ACTIVE" || len(s["hostId"].(string)) != 56 {
		t.Fatalf("server at 2.1: %v", s)
	}
	_, h, body = call(t, c, "GET", "/compute/v2.1/servers/"+id, tok, "2.64", nil)
	if f := body["server"].(map[string]any)["flavor"].(map[string]any); f["vcpus"] != 1.0 || f["original_name"] != "m1.tiny" ||
		h.Get("OpenStack-API-Version") != "compute 2.64" {
		t.Fatalf("server at 2.64: %v %v", body, h)
	}
	_, _, body = call(t, c, "GET", "/compute/v2.1/limits", tok, "2.64", nil)
	abs := body["limits"].(map[string]any)["absolute"].(map[string]any)
	if abs["totalInstancesUsed"] != 1.0 || abs["maxTotalInstances"] != 10.0 || abs["totalRAMUsed"] != 512.0 {
		t.Fatalf("limits %v", abs)
	}
	if code, _, body := call(t, c, "GET", "/compute/v2.1/servers/nope", tok, "2.64", nil); code != 404 || body["itemNotFound"] == nil {
		t.Fatalf("missing server: %d %v", code, body)
	}
	c.ExpireTokens()
	if code, _, _ := call(t, c, "GET", "/compute/v2.1/servers/"+id, tok, "", nil); code != 401 || c.Unauthorized() != 2 {
		t.Fatalf("expired token: %d, %d 401s", code, c.Unauthorized())
	}
}
