// Package openstacktest is a test double of Keystone v3 and Nova v2.1 (and
// of Glance v2 for images and Neutron v2.0 for finding networks by name)
// for tests; it is not OpenStack. It is an httptest.Server answering the
// requests gophercloud makes with the JSON shapes of the OpenStack API
// reference (token with catalog, servers, flavors, server groups, limits,
// faults, images, networks) and keeps its state in memory.
//
// What it does like a cloud: tokens expire (401, so that the client
// re-authenticates), servers go BUILD -> ACTIVE after a delay on a compute
// host chosen by their server group's policy (hostId is sha224 of project
// and host, as Nova's), quotas are enforced, deletes take a while. What
// tests inject: quota refusals (403 with Nova's message), "No valid host
// was found" (the server goes ERROR with that fault), slow builds, expired
// tokens and server errors (5xx). It counts requests and tokens issued.
// Hooks (Options.OnActive, OnDeleted) let a test run what would boot in a
// server, such as a simulated node agent.
package openstacktest

import (
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// Options configure the double. Zero values take the defaults.
type Options struct {
	// TLS serves HTTPS with httptest's certificate (see CACertPEM).
	TLS bool
	// Region of the catalog's endpoints (default "RegionOne").
	Region string
	// The password user (default demo / demo-password in domain
	// "Default") and the project (default "demo").
	Username, Password, UserDomain, ProjectName string
	// The application credential (default ID "appcred-id", name
	// "appcred", secret "appcred-secret") of that user, on that project.
	AppCredID, AppCredName, AppCredSecret string
	// TokenTTL is how long a token is valid (default 1h).
	TokenTTL time.Duration
	// BuildDelay is how long a server stays in BUILD (default 50ms).
	BuildDelay time.Duration
	// DeleteDelay is how long a deleted server is still shown (task state
	// "deleting"; default 30ms).
	DeleteDelay time.Duration
	// ActionDelay is how long a start, stop or reboot takes (default 20ms).
	ActionDelay time.Duration
	// Hosts are the compute hosts (default compute-1, compute-2, compute-3).
	Hosts []string
	// Quota: instances, cores and RAM in MiB (defaults 10, 20, 51200;
	// -1 is unlimited).
	MaxInstances, MaxCores, MaxRAM int
	// OnActive, when set, is called once for each server created through
	// the API whose build ends ACTIVE (not after a power action, nor for
	// AddServer's): a test runs what would boot inside it, such as a
	// simulated node agent reading the server's user data.
	OnActive func(ServerInfo)
	// OnDeleted, when set, is called for each server as it is removed
	// (its delete done, DeleteDelay after the request).
	OnDeleted func(ServerInfo)
	// Both are called without the double's lock held (they may call the
	// double), one at a time and in the order the transitions happened,
	// by the goroutine of a request or an inspection (Server, Servers)
	// that made them happen: the double moves servers along as it is
	// asked about them.
}

// Cloud is a running double.
type Cloud struct {
	srv       *httptest.Server
	o         Options
	projectID string
	userID    string

	mu       sync.Mutex
	tokens   map[string]time.Time // token -> expiry
	issued   int
	requests map[string]int
	unauth   int

	servers  map[string]*server
	order    []string // server IDs by creation
	groups   map[string]*group
	flavors  []flavor
	images   []image
	networks []network
	nextIP   int

	quotaNext, noHostNext, faultNext, faultStatus int

	// events are the OnActive and OnDeleted calls due; delivering: a
	// goroutine is making them.
	events     []event
	delivering bool
}

// event is a call of OnActive or OnDeleted due.
type event struct {
	f func(ServerInfo)
	s ServerInfo
}

// notify queues a call of f (when set) with s. Called with c.mu held.
func (c *Cloud) notify(f func(ServerInfo), s *server) {
	if f != nil {
		c.events = append(c.events, event{f, c.info(s)})
	}
}

// deliver makes the calls due, in order, without c.mu held, unless another
// goroutine is making them (it will make these too).
func (c *Cloud) deliver() {
	c.mu.Lock()
	if c.delivering {
		c.mu.Unlock()
		return
	}
	c.delivering = true
	defer func() {
		c.delivering = false
		c.mu.Unlock()
	}()
	for len(c.events) > 0 {
		e := c.events[0]
		c.events = c.events[1:]
		c.mu.Unlock()
		e.f(e.s)
		c.mu.Lock()
	}
}

type flavor struct {
	ID, Name         string
	VCPUs, RAM, Disk int
}

type image struct{ ID, Name, Status string }

type network struct{ ID, Name, Prefix string }

// Start runs a double until the test ends.
func Start(t testing.TB, o Options) *Cloud {
	t.Helper()
	def := func(s *string, v string) {
		if *s == "" {
			*s = v
		}
	}
	def(&o.Region, "RegionOne")
	def(&o.Username, "demo")
	def(&o.Password, "demo-password")
	def(&o.UserDomain, "Default")
	def(&o.ProjectName, "demo")
	def(&o.AppCredID, "appcred-id")
	def(&o.AppCredName, "appcred")
	def(&o.AppCredSecret, "appcred-secret")
	dur := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	dur(&o.TokenTTL, time.Hour)
	dur(&o.BuildDelay, 50*time.Millisecond)
	dur(&o.DeleteDelay, 30*time.Millisecond)
	dur(&o.ActionDelay, 20*time.Millisecond)
	if len(o.Hosts) == 0 {
		o.Hosts = []string{"compute-1", "compute-2", "compute-3"}
	}
	num := func(n *int, v int) {
		if *n == 0 {
			*n = v
		}
	}
	num(&o.MaxInstances, 10)
	num(&o.MaxCores, 20)
	num(&o.MaxRAM, 51200)
	c := &Cloud{o: o, projectID: newID(), userID: newID(), tokens: map[string]time.Time{}, requests: map[string]int{},
		servers: map[string]*server{}, groups: map[string]*group{},
		// DevStack's flavors.
		flavors: []flavor{{"1", "m1.tiny", 1, 512, 1}, {"2", "m1.small", 1, 2048, 20}, {"3", "m1.medium", 2, 4096, 40},
			{"4", "m1.large", 4, 8192, 80}, {"5", "m1.xlarge", 8, 16384, 160}, {"c1", "cirros256", 1, 256, 1}},
		images:   []image{{newUUID(), "cirros-0.6.3-x86_64-disk", "active"}, {newUUID(), "ubuntu-24.04", "active"}},
		networks: []network{{newUUID(), "private", "10.0.0."}, {newUUID(), "public", "172.24.4."}},
	}
	mux := http.NewServeMux()
	c.keystoneRoutes(mux)
	c.novaRoutes(mux)
	c.otherRoutes(mux)
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		c.requests[r.Method+" "+route(r.URL.Path)]++
		c.mu.Unlock()
		mux.ServeHTTP(w, r)
	})
	c.srv = httptest.NewUnstartedServer(h)
	// Clients that do not trust the certificate are tested on purpose.
	c.srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	if o.TLS {
		c.srv.StartTLS()
	} else {
		c.srv.Start()
	}
	t.Cleanup(c.srv.Close)
	return c
}

// route is a path with its IDs replaced by {id}, for counting.
func route(p string) string {
	parts := strings.Split(p, "/")
	for i := 1; i < len(parts); i++ {
		switch parts[i-1] {
		case "servers", "os-server-groups", "images", "flavors", "networks":
			if parts[i] != "detail" {
				parts[i] = "{id}"
			}
		}
	}
	return strings.Join(parts, "/")
}

// Close stops the double (it stops by itself when the test ends): the
// cloud is then unreachable.
func (c *Cloud) Close() { c.srv.Close() }

// URL is the double's base URL.
func (c *Cloud) URL() string { return c.srv.URL }

// AuthURL is the Keystone v3 endpoint, as clouds.yaml's auth_url.
func (c *Cloud) AuthURL() string { return c.srv.URL + "/identity/v3" }

// Region is the catalog's region.
func (c *Cloud) Region() string { return c.o.Region }

// ProjectID is the project's ID.
func (c *Cloud) ProjectID() string { return c.projectID }

// Options are the double's options, defaults filled in.
func (c *Cloud) Options() Options { return c.o }

// Client is an HTTP client that trusts the double's certificate.
func (c *Cloud) Client() *http.Client { return c.srv.Client() }

// CACertPEM is the PEM of the TLS certificate (TLS only).
func (c *Cloud) CACertPEM() []byte {
	if c.srv.Certificate() == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.srv.Certificate().Raw})
}

// ExpireTokens makes every token issued so far expired: the next request
// with one is answered 401.
func (c *Cloud) ExpireTokens() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for t := range c.tokens {
		c.tokens[t] = time.Time{}
	}
}

// TokensIssued counts the tokens Keystone issued.
func (c *Cloud) TokensIssued() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.issued
}

// Unauthorized counts the requests answered 401 for want of a valid token.
func (c *Cloud) Unauthorized() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.unauth
}

// Requests counts the requests to a route: "POST /compute/v2.1/servers",
// "GET /compute/v2.1/servers/{id}", "POST /identity/v3/auth/tokens".
func (c *Cloud) Requests(route string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.requests[route]
}

// InjectQuota makes the next n server creates fail with Nova's 403 quota
// message, whatever the limits say.
func (c *Cloud) InjectQuota(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.quotaNext = n
}

// InjectNoValidHost makes the next n servers created go ERROR with the
// fault "No valid host was found".
func (c *Cloud) InjectNoValidHost(n int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.noHostNext = n
}

// InjectFault makes the next n compute requests fail with status (500,
// 503) and a computeFault body.
func (c *Cloud) InjectFault(n, status int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.faultNext, c.faultStatus = n, status
}

// SetBuildDelay changes how long servers created from now stay in BUILD.
func (c *Cloud) SetBuildDelay(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.o.BuildDelay = d
}

// SetQuota changes the quota (-1 is unlimited).
func (c *Cloud) SetQuota(instances, cores, ramMiB int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.o.MaxInstances, c.o.MaxCores, c.o.MaxRAM = instances, cores, ramMiB
}

// AddImage adds an active image and returns its ID.
func (c *Cloud) AddImage(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	id := newUUID()
	c.images = append(c.images, image{id, name, "active"})
	return id
}

// ImageID returns the ID of the first image called name.
func (c *Cloud) ImageID(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, i := range c.images {
		if i.Name == name {
			return i.ID
		}
	}
	return ""
}

// NetworkID returns the ID of the network called name ("private",
// "public").
func (c *Cloud) NetworkID(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.networks {
		if n.Name == name {
			return n.ID
		}
	}
	return ""
}

// keystoneRoutes serves version discovery and POST /v3/auth/tokens.
func (c *Cloud) keystoneRoutes(mux *http.ServeMux) {
	version := func() map[string]any {
		return map[string]any{"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
			"links":       []any{map[string]any{"rel": "self", "href": c.AuthURL() + "/"}},
			"media-types": []any{map[string]any{"base": "application/json", "type": "application/vnd.openstack.identity-v3+json"}}}
	}
	mux.HandleFunc("GET /identity/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 300, map[string]any{"versions": map[string]any{"values": []any{version()}}})
	})
	mux.HandleFunc("GET /identity/v3/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"version": version()})
	})
	mux.HandleFunc("POST /identity/v3/auth/tokens", c.issueToken)
}

// authRequest is the body of POST /v3/auth/tokens.
type authRequest struct {
	Auth struct {
		Identity struct {
			Methods  []string `json:"methods"`
			Password *struct {
				User authUser `json:"user"`
			} `json:"password"`
			ApplicationCredential *struct {
				ID     string    `json:"id"`
				Name   string    `json:"name"`
				Secret string    `json:"secret"`
				User   *authUser `json:"user"`
			} `json:"application_credential"`
		} `json:"identity"`
		Scope *struct {
			Project *struct {
				ID     string  `json:"id"`
				Name   string  `json:"name"`
				Domain *domain `json:"domain"`
			} `json:"project"`
		} `json:"scope"`
	} `json:"auth"`
}

type authUser struct {
	ID       string  `json:"id"`
	Name     string  `json:"name"`
	Password string  `json:"password"`
	Domain   *domain `json:"domain"`
}

type domain struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func (c *Cloud) domainOK(d *domain) bool {
	return d != nil && (d.Name == c.o.UserDomain || (d.ID == "default" && c.o.UserDomain == "Default"))
}

func (c *Cloud) userOK(u authUser) bool {
	return u.ID == c.userID || (u.Name == c.o.Username && c.domainOK(u.Domain))
}

func (c *Cloud) issueToken(w http.ResponseWriter, r *http.Request) {
	var req authRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 400, "error", "Expecting to find auth in request body. "+err.Error())
		return
	}
	id := req.Auth.Identity
	method := strings.Join(id.Methods, ",")
	ok := false
	switch {
	case method == "password" && id.Password != nil:
		ok = c.userOK(id.Password.User) && id.Password.User.Password == c.o.Password
	case method == "application_credential" && id.ApplicationCredential != nil:
		ac := id.ApplicationCredential
		if req.Auth.Scope != nil {
			writeError(w, 401, "error", "Application credentials cannot request a scope.")
			return
		}
		ok = ac.Secret == c.o.AppCredSecret &&
			(ac.ID == c.o.AppCredID || (ac.Name == c.o.AppCredName && ac.User != nil && c.userOK(*ac.User)))
	}
	if !ok {
		writeError(w, 401, "error", "The request you have made requires authentication.")
		return
	}
	scoped := method == "application_credential"
	if s := req.Auth.Scope; s != nil && s.Project != nil {
		p := s.Project
		if p.ID != c.projectID && (p.Name != c.o.ProjectName || !c.domainOK(p.Domain)) {
			writeError(w, 401, "error", "The request you have made requires authentication.")
			return
		}
		scoped = true
	}
	now := time.Now().UTC()
	expires := now.Add(c.o.TokenTTL)
	tok := "gAAAAA" + newID() + newID()
	c.mu.Lock()
	c.tokens[tok] = expires
	c.issued++
	c.mu.Unlock()
	dom := map[string]any{"id": "default", "name": c.o.UserDomain}
	body := map[string]any{
		"methods": id.Methods, "audit_ids": []string{newID()[:22]}, "is_domain": false,
		"issued_at": now.Format("2006-01-02T15:04:05.000000Z"), "expires_at": expires.Format("2006-01-02T15:04:05.000000Z"),
		"user": map[string]any{"id": c.userID, "name": c.o.Username, "domain": dom, "password_expires_at": nil},
	}
	if scoped {
		body["project"] = map[string]any{"id": c.projectID, "name": c.o.ProjectName, "domain": dom}
		body["roles"] = []any{map[string]any{"id": newID(), "name": "member"}, map[string]any{"id": newID(), "name": "reader"}}
		body["catalog"] = c.catalog()
	}
	if method == "application_credential" {
		body["application_credential"] = map[string]any{"id": c.o.AppCredID, "name": c.o.AppCredName, "restricted": true}
	}
	w.Header().Set("X-Subject-Token", tok)
	writeJSON(w, 201, map[string]any{"token": body})
}

func (c *Cloud) catalog() []any {
	entry := func(typ, name, url string) map[string]any {
		var eps []any
		for _, iface := range []string{"public", "internal"} {
			eps = append(eps, map[string]any{"id": newID(), "interface": iface, "region": c.o.Region, "region_id": c.o.Region, "url": url})
		}
		return map[string]any{"id": newID(), "type": typ, "name": name, "endpoints": eps}
	}
	return []any{
		entry("identity", "keystone", c.srv.URL+"/identity"),
		entry("compute", "nova", c.srv.URL+"/compute/v2.1"),
		entry("image", "glance", c.srv.URL+"/image"),
		entry("network", "neutron", c.srv.URL+"/networking"),
	}
}

// authorized answers 401 unless the request carries a valid token.
func (c *Cloud) authorized(w http.ResponseWriter, r *http.Request) bool {
	c.mu.Lock()
	exp, ok := c.tokens[r.Header.Get("X-Auth-Token")]
	ok = ok && time.Now().Before(exp)
	if !ok {
		c.unauth++
	}
	c.mu.Unlock()
	if !ok {
		w.Header().Set("WWW-Authenticate", `Keystone uri="`+c.srv.URL+`/identity"`)
		writeError(w, 401, "error", "The request you have made requires authentication.")
	}
	return ok
}

// otherRoutes serves Glance's images and Neutron's networks.
func (c *Cloud) otherRoutes(mux *http.ServeMux) {
	// Version discovery of the unversioned endpoints (no token needed).
	mux.HandleFunc("GET /image/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 300, map[string]any{"versions": []any{
			map[string]any{"id": "v2.17", "status": "CURRENT", "links": []any{map[string]any{"rel": "self", "href": c.srv.URL + "/image/v2/"}}},
			map[string]any{"id": "v2.16", "status": "SUPPORTED", "links": []any{map[string]any{"rel": "self", "href": c.srv.URL + "/image/v2/"}}},
		}})
	})
	mux.HandleFunc("GET /networking/{$}", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"versions": []any{
			map[string]any{"id": "v2.0", "status": "CURRENT", "links": []any{map[string]any{"rel": "self", "href": c.srv.URL + "/networking/v2.0/"}}},
		}})
	})
	mux.HandleFunc("GET /image/v2/images", c.auth(func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		c.mu.Lock()
		var out []any
		for _, i := range c.images {
			if (q.Get("name") == "" || q.Get("name") == i.Name) && (q.Get("status") == "" || q.Get("status") == i.Status) {
				out = append(out, c.imageJSON(i))
			}
		}
		c.mu.Unlock()
		writeJSON(w, 200, map[string]any{"images": orEmpty(out), "schema": "/v2/schemas/images", "first": "/v2/images"})
	}))
	mux.HandleFunc("GET /image/v2/images/{id}", c.auth(func(w http.ResponseWriter, r *http.Request) {
		c.mu.Lock()
		defer c.mu.Unlock()
		for _, i := range c.images {
			if i.ID == r.PathValue("id") {
				writeJSON(w, 200, c.imageJSON(i))
				return
			}
		}
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(404)
		fmt.Fprintf(w, "404 Not Found\n\nNo image found with ID %s\n\n   ", r.PathValue("id"))
	}))
	mux.HandleFunc("GET /networking/v2.0/networks", c.auth(func(w http.ResponseWriter, r *http.Request) {
		name := r.URL.Query().Get("name")
		c.mu.Lock()
		var out []any
		for _, n := range c.networks {
			if name == "" || name == n.Name {
				out = append(out, map[string]any{"id": n.ID, "name": n.Name, "status": "ACTIVE", "admin_state_up": true,
					"shared": false, "subnets": []string{newUUID()}, "tenant_id": c.projectID, "project_id": c.projectID,
					"router:external": n.Name == "public", "mtu": 1450, "tags": []string{}, "description": "",
					"port_security_enabled": true, "availability_zones": []string{"nova"}, "revision_number": 1})
			}
		}
		c.mu.Unlock()
		writeJSON(w, 200, map[string]any{"networks": orEmpty(out)})
	}))
}

func (c *Cloud) imageJSON(i image) map[string]any {
	return map[string]any{"id": i.ID, "name": i.Name, "status": i.Status, "visibility": "public", "protected": false,
		"os_hidden": false, "tags": []string{}, "container_format": "bare", "disk_format": "qcow2", "min_disk": 0,
		"min_ram": 0, "size": 21430272, "owner": c.projectID, "created_at": "2026-01-02T03:04:05Z",
		"updated_at": "2026-01-02T03:04:06Z", "self": "/v2/images/" + i.ID, "file": "/v2/images/" + i.ID + "/file",
		"schema": "/v2/schemas/image"}
}

// auth wraps a handler of an authenticated service.
func (c *Cloud) auth(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if c.authorized(w, r) {
			h(w, r)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// writeError writes an OpenStack error body: {"KIND": {"code": N,
// "message": "..."}} (Nova's badRequest, itemNotFound, forbidden...;
// Keystone's error).
func writeError(w http.ResponseWriter, status int, kind, msg string) {
	e := map[string]any{"code": status, "message": msg}
	if kind == "error" {
		e["title"] = http.StatusText(status)
	}
	writeJSON(w, status, map[string]any{kind: e})
}

func orEmpty(v []any) []any {
	if v == nil {
		return []any{}
	}
	return v
}

func newID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// newUUID is a random (version 4) UUID, as Nova's IDs.
func newUUID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b)
	return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

// sortedHosts returns hosts ordered by score, then as configured.
func sortedHosts(hosts []string, score func(string) int) []string {
	out := slices.Clone(hosts)
	slices.SortStableFunc(out, func(a, b string) int { return score(a) - score(b) })
	return out
}
