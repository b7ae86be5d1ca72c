package openstacktest_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/providers/openstack/openstacktest"
)

// recorder records the hooks' calls.
type recorder struct {
	mu     sync.Mutex
	calls  []string
	active map[string]openstacktest.ServerInfo
}

func (r *recorder) add(what string, s openstacktest.ServerInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, what+" "+s.Name)
	if what == "active" {
		r.active[s.Name] = s
	}
}

func (r *recorder) get() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

// TestHooks: OnActive is called once when a server's build ends ACTIVE,
// with its user data; OnDeleted once when a deleted server goes; neither
// for a power action, a server that went ERROR is only deleted, and a hook
// may call the double (its lock is not held).
func TestHooks(t *testing.T) {
	rec := &recorder{active: map[string]openstacktest.ServerInfo{}}
	var c *openstacktest.Cloud
	c = openstacktest.Start(t, openstacktest.Options{BuildDelay: time.Millisecond, DeleteDelay: time.Millisecond, ActionDelay: time.Millisecond,
		OnActive: func(s openstacktest.ServerInfo) {
			// The double answers from within a hook.
			if got, ok := c.Server(s.ID); !ok || got.Status != "ACTIVE" {
				t.Errorf("from OnActive, the server is %+v, %v", got, ok)
			}
			rec.add("active", s)
		},
		OnDeleted: func(s openstacktest.ServerInfo) { rec.add("deleted", s) }})
	o := c.Options()
	_, h, _ := call(t, c, "POST", "/identity/v3/auth/tokens", "", "", passwordAuth(o, o.Password))
	tok := h.Get("X-Subject-Token")
	img := c.ImageID("cirros-0.6.3-x86_64-disk")
	create := func(name string) string {
		t.Helper()
		code, _, body := call(t, c, "POST", "/compute/v2.1/servers", tok, "2.64", map[string]any{"server": map[string]any{
			"name": name, "imageRef": img, "flavorRef": "1", "networks": "auto", "user_data": "I2Nsb3VkLWNvbmZpZwo="}})
		if code != 202 {
			t.Fatalf("create %s: %d %v", name, code, body)
		}
		return body["server"].(map[string]any)["id"].(string)
	}
	wait := func(what string, done func() bool) {
		t.Helper()
		for deadline := time.Now().Add(5 * time.Second); !done(); time.Sleep(2 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s; calls %v", what, rec.get())
			}
		}
	}
	id := create("s1")
	if got := rec.get(); len(got) != 0 {
		t.Fatalf("hooks called while the server builds: %v", got)
	}
	wait("s1 ACTIVE", func() bool {
		_, _, body := call(t, c, "GET", "/compute/v2.1/servers/"+id, tok, "2.64", nil)
		return body["server"].(map[string]any)["status"] == "ACTIVE"
	})
	wait("OnActive", func() bool { return len(rec.get()) == 1 })
	rec.mu.Lock()
	s := rec.active["s1"]
	rec.mu.Unlock()
	if s.ID != id || s.Status != "ACTIVE" || string(s.UserData) != "#cloud-config\n" || s.HostID == "" {
		t.Fatalf("OnActive's server: %+v", s)
	}

	// A power cycle calls no hook.
	for _, action := range []string{"os-stop", "os-start"} {
		if code, _, body := call(t, c, "POST", "/compute/v2.1/servers/"+id+"/action", tok, "2.64", map[string]any{action: nil}); code != 202 {
			t.Fatalf("%s: %d %v", action, code, body)
		}
		time.Sleep(5 * time.Millisecond)
		c.Servers()
	}

	// A server that goes ERROR is not ACTIVE; deleted, both go.
	c.InjectNoValidHost(1)
	bad := create("s2")
	wait("s2 ERROR", func() bool { s, _ := c.Server(bad); return s.Status == "ERROR" })
	for _, sid := range []string{id, bad} {
		if code, _, _ := call(t, c, "DELETE", "/compute/v2.1/servers/"+sid, tok, "2.64", nil); code != 204 {
			t.Fatalf("delete %s: %d", sid, code)
		}
	}
	wait("both deleted", func() bool { return len(c.Servers()) == 0 })
	wait("OnDeleted", func() bool { return len(rec.get()) == 3 })
	time.Sleep(10 * time.Millisecond)
	if got := rec.get(); !slices.Equal(got, []string{"active s1", "deleted s1", "deleted s2"}) {
		t.Fatalf("hook calls %v", got)
	}
}
