package openstacktest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// maxMicroversion is the newest compute API version the double speaks.
const maxMicroversion = "2.96"

// server is a Nova server.
type server struct {
	ID, Name, FlavorID, ImageID string
	Metadata                    map[string]string
	UserData                    []byte
	ConfigDrive                 bool
	Networks                    []string // network names
	Group                       string   // server group ID
	Host                        string
	Status, VMState, TaskState  string
	PowerState                  int
	Created, Launched           time.Time
	Fault                       *fault
	Addresses                   map[string][]any
	Console                     []string
	// next is a transition due at nextAt (BUILD -> ACTIVE, a power
	// action); goneAt, when set, is when a deleted server disappears.
	next           string
	nextAt, goneAt time.Time
	noHost         bool
}

type fault struct {
	Code    int
	Message string
	Created time.Time
}

type group struct {
	ID, Name, Policy string
	Members          []string
}

// ServerInfo is what a test may inspect of a server.
type ServerInfo struct {
	ID, Name, Status, TaskState, Host, HostID, FlavorID, ImageID, Group string
	Metadata                                                            map[string]string
	// UserData is decoded from the base64 the client sent.
	UserData    []byte
	ConfigDrive bool
	Networks    []string
}

// GroupInfo is what a test may inspect of a server group.
type GroupInfo struct {
	ID, Name, Policy string
	Members          []string
}

// microversion is the request's compute API version as major*1000+minor.
func microversion(r *http.Request) int {
	v := r.Header.Get("X-OpenStack-Nova-API-Version")
	if h, ok := strings.CutPrefix(r.Header.Get("OpenStack-API-Version"), "compute "); ok {
		v = h
	}
	if v == "latest" {
		v = maxMicroversion
	}
	return parseVersion(v)
}

func parseVersion(v string) int {
	maj, min, ok := strings.Cut(v, ".")
	a, err1 := strconv.Atoi(maj)
	b, err2 := strconv.Atoi(min)
	if !ok || err1 != nil || err2 != nil {
		return 2001
	}
	return a*1000 + b
}

// novaRoutes serves the compute API under /compute/v2.1.
func (c *Cloud) novaRoutes(mux *http.ServeMux) {
	h := func(pattern string, f func(w http.ResponseWriter, r *http.Request, mv int)) {
		mux.HandleFunc(pattern, c.auth(func(w http.ResponseWriter, r *http.Request) {
			mv := microversion(r)
			if mv > parseVersion(maxMicroversion) {
				writeError(w, 406, "computeFault", "Version "+r.Header.Get("X-OpenStack-Nova-API-Version")+" is not supported by the API.")
				return
			}
			v := fmt.Sprintf("%d.%d", mv/1000, mv%1000)
			w.Header().Set("OpenStack-API-Version", "compute "+v)
			w.Header().Set("X-OpenStack-Nova-API-Version", v)
			w.Header().Set("Vary", "OpenStack-API-Version, X-OpenStack-Nova-API-Version")
			defer c.deliver() // after the unlock
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.faultNext > 0 {
				c.faultNext--
				writeError(w, c.faultStatus, "computeFault", "The server has either erred or is incapable of performing the requested operation.")
				return
			}
			c.advance(time.Now())
			f(w, r, mv)
		}))
	}
	const p = "/compute/v2.1"
	h("POST "+p+"/servers", c.createServer)
	h("GET "+p+"/servers/detail", func(w http.ResponseWriter, r *http.Request, mv int) { c.listServers(w, r, mv, true) })
	h("GET "+p+"/servers", func(w http.ResponseWriter, r *http.Request, mv int) { c.listServers(w, r, mv, false) })
	h("GET "+p+"/servers/{id}", func(w http.ResponseWriter, r *http.Request, mv int) {
		if s := c.server(w, r); s != nil {
			writeJSON(w, 200, map[string]any{"server": c.serverJSON(s, mv)})
		}
	})
	h("DELETE "+p+"/servers/{id}", func(w http.ResponseWriter, r *http.Request, mv int) {
		if s := c.server(w, r); s != nil {
			if s.goneAt.IsZero() {
				s.TaskState, s.goneAt = "deleting", time.Now().Add(c.o.DeleteDelay)
			}
			w.WriteHeader(204)
		}
	})
	h("POST "+p+"/servers/{id}/action", c.serverAction)
	h("GET "+p+"/flavors/detail", func(w http.ResponseWriter, r *http.Request, mv int) {
		out := []any{}
		for _, f := range c.flavors {
			out = append(out, c.flavorJSON(f, mv))
		}
		writeJSON(w, 200, map[string]any{"flavors": out})
	})
	h("GET "+p+"/flavors/{id}", func(w http.ResponseWriter, r *http.Request, mv int) {
		for _, f := range c.flavors {
			if f.ID == r.PathValue("id") {
				writeJSON(w, 200, map[string]any{"flavor": c.flavorJSON(f, mv)})
				return
			}
		}
		writeError(w, 404, "itemNotFound", "Flavor "+r.PathValue("id")+" could not be found.")
	})
	h("GET "+p+"/os-server-groups", func(w http.ResponseWriter, r *http.Request, mv int) {
		out := []any{}
		for _, id := range slices.Sorted(maps.Keys(c.groups)) {
			out = append(out, c.groupJSON(c.groups[id], mv))
		}
		writeJSON(w, 200, map[string]any{"server_groups": out})
	})
	h("POST "+p+"/os-server-groups", c.createGroup)
	h("GET "+p+"/os-server-groups/{id}", func(w http.ResponseWriter, r *http.Request, mv int) {
		if g, ok := c.groups[r.PathValue("id")]; ok {
			writeJSON(w, 200, map[string]any{"server_group": c.groupJSON(g, mv)})
			return
		}
		writeError(w, 404, "itemNotFound", "Instance group "+r.PathValue("id")+" could not be found.")
	})
	h("DELETE "+p+"/os-server-groups/{id}", func(w http.ResponseWriter, r *http.Request, mv int) {
		if _, ok := c.groups[r.PathValue("id")]; !ok {
			writeError(w, 404, "itemNotFound", "Instance group "+r.PathValue("id")+" could not be found.")
			return
		}
		delete(c.groups, r.PathValue("id"))
		w.WriteHeader(204)
	})
	h("GET "+p+"/limits", func(w http.ResponseWriter, r *http.Request, mv int) {
		inst, cores, ram := c.usage()
		writeJSON(w, 200, map[string]any{"limits": map[string]any{"rate": []any{}, "absolute": map[string]any{
			"maxTotalInstances": c.o.MaxInstances, "maxTotalCores": c.o.MaxCores, "maxTotalRAMSize": c.o.MaxRAM,
			"totalInstancesUsed": inst, "totalCoresUsed": cores, "totalRAMUsed": ram,
			"maxServerMeta": 128, "maxImageMeta": 128, "maxTotalKeypairs": 100, "maxServerGroups": 10,
			"maxServerGroupMembers": 10, "totalServerGroupsUsed": len(c.groups)}}})
	})
}

// advance makes the transitions due by now. Called with c.mu held.
func (c *Cloud) advance(now time.Time) {
	for _, id := range slices.Clone(c.order) {
		s := c.servers[id]
		if !s.goneAt.IsZero() && !now.Before(s.goneAt) {
			c.notify(c.o.OnDeleted, s)
			delete(c.servers, id)
			c.order = slices.DeleteFunc(c.order, func(o string) bool { return o == id })
			if g := c.groups[s.Group]; g != nil {
				g.Members = slices.DeleteFunc(g.Members, func(m string) bool { return m == id })
			}
			continue
		}
		if s.next == "" || now.Before(s.nextAt) {
			continue
		}
		switch next := s.next; {
		case s.Status == "BUILD" && s.noHost:
			s.Status, s.VMState, s.TaskState, s.Host = "ERROR", "error", "", ""
			s.Fault = &fault{500, "No valid host was found. There are not enough hosts available.", now}
		case s.Status == "BUILD":
			s.Status, s.VMState, s.TaskState, s.PowerState, s.Launched = "ACTIVE", "active", "", 1, now
			for _, n := range s.Networks {
				c.nextIP++
				prefix := "10.0.0."
				for _, net := range c.networks {
					if net.Name == n {
						prefix = net.Prefix
					}
				}
				s.Addresses[n] = append(s.Addresses[n], map[string]any{"version": 4, "addr": fmt.Sprintf("%s%d", prefix, 10+c.nextIP),
					"OS-EXT-IPS:type": "fixed", "OS-EXT-IPS-MAC:mac_addr": fmt.Sprintf("fa:16:3e:00:%02x:%02x", c.nextIP/256, c.nextIP%256)})
			}
			s.Console = append(s.Console, "[    0.000000] Linux version 6.8.0 (buildd@lcy02-amd64-001)",
				"cloud-init: Cloud-init v. 24.1 running 'modules:config'", "cloud-init: write_files done", s.Name+" login:")
			c.notify(c.o.OnActive, s)
		default:
			s.Status, s.TaskState = next, ""
			s.VMState, s.PowerState = strings.ToLower(next), 1
			if next == "SHUTOFF" {
				s.VMState, s.PowerState = "stopped", 4
			}
		}
		s.next = ""
	}
}

// server finds the server of the path's {id}, or answers 404.
func (c *Cloud) server(w http.ResponseWriter, r *http.Request) *server {
	s, ok := c.servers[r.PathValue("id")]
	if !ok {
		writeError(w, 404, "itemNotFound", "Instance "+r.PathValue("id")+" could not be found.")
		return nil
	}
	return s
}

// usage is the project's instances, cores and RAM in use.
func (c *Cloud) usage() (inst, cores, ram int) {
	for _, s := range c.servers {
		f := c.flavor(s.FlavorID)
		inst, cores, ram = inst+1, cores+f.VCPUs, ram+f.RAM
	}
	return
}

func (c *Cloud) flavor(id string) flavor {
	for _, f := range c.flavors {
		if f.ID == id {
			return f
		}
	}
	return flavor{}
}

// createRequest is the body of POST /servers.
type createRequest struct {
	Server struct {
		Name        string            `json:"name"`
		ImageRef    string            `json:"imageRef"`
		FlavorRef   string            `json:"flavorRef"`
		UserData    *string           `json:"user_data"`
		ConfigDrive bool              `json:"config_drive"`
		Metadata    map[string]string `json:"metadata"`
		Networks    json.RawMessage   `json:"networks"`
	} `json:"server"`
	Hints struct {
		Group string `json:"group"`
	} `json:"os:scheduler_hints"`
}

func (c *Cloud) createServer(w http.ResponseWriter, r *http.Request, mv int) {
	var req createRequest
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 400, "badRequest", "Invalid JSON: "+err.Error())
		return
	}
	rs := req.Server
	bad := func(msg string) { writeError(w, 400, "badRequest", msg) }
	if rs.Name == "" {
		bad("Invalid input for field/attribute name.")
		return
	}
	f := c.flavor(rs.FlavorRef)
	if f.ID == "" {
		bad("Flavor " + rs.FlavorRef + " could not be found.")
		return
	}
	if !slices.ContainsFunc(c.images, func(i image) bool { return i.ID == rs.ImageRef && i.Status == "active" }) {
		bad("Image " + rs.ImageRef + " could not be found.")
		return
	}
	if len(rs.Metadata) > 128 {
		bad("Quota exceeded for metadata_items: too many metadata items")
		return
	}
	for k, v := range rs.Metadata {
		if k == "" || len(k) > 255 || len(v) > 255 {
			bad("Invalid input for field/attribute metadata.")
			return
		}
	}
	var userData []byte
	if rs.UserData != nil {
		b, err := base64.StdEncoding.DecodeString(*rs.UserData)
		if err != nil || len(*rs.UserData) > 65535 {
			bad("User data needs to be valid base 64.")
			return
		}
		userData = b
	}
	nets, msg := c.requestNetworks(rs.Networks, mv)
	if msg != "" {
		bad(msg)
		return
	}
	var g *group
	if id := req.Hints.Group; id != "" {
		if g = c.groups[id]; g == nil {
			bad("Invalid input for field/attribute group. Value: " + id + ". Group " + id + " could not be found.")
			return
		}
	}
	inst, cores, ram := c.usage()
	over := func(what string, max, used, want int) bool {
		if max < 0 || used+want <= max {
			return false
		}
		writeError(w, 403, "forbidden", fmt.Sprintf("Quota exceeded for %s: Requested %d, but already used %d of %d %s", what, want, used, max, what))
		return true
	}
	if c.quotaNext > 0 {
		c.quotaNext--
		writeError(w, 403, "forbidden", fmt.Sprintf("Quota exceeded for instances: Requested 1, but already used %d of %d instances", inst, inst))
		return
	}
	if over("instances", c.o.MaxInstances, inst, 1) || over("cores", c.o.MaxCores, cores, f.VCPUs) || over("ram", c.o.MaxRAM, ram, f.RAM) {
		return
	}
	now := time.Now().UTC()
	s := &server{ID: newUUID(), Name: rs.Name, FlavorID: f.ID, ImageID: rs.ImageRef, Metadata: rs.Metadata,
		UserData: userData, ConfigDrive: rs.ConfigDrive, Networks: nets, Status: "BUILD", VMState: "building",
		TaskState: "scheduling", Created: now, Addresses: map[string][]any{}, next: "ACTIVE", nextAt: now.Add(c.o.BuildDelay)}
	if s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	s.Host, s.noHost = c.place(g)
	if c.noHostNext > 0 {
		c.noHostNext--
		s.Host, s.noHost = "", true
	}
	if g != nil {
		s.Group = g.ID
		g.Members = append(g.Members, s.ID)
	}
	c.servers[s.ID] = s
	c.order = append(c.order, s.ID)
	links := c.links("servers", s.ID)
	writeJSON(w, 202, map[string]any{"server": map[string]any{"id": s.ID, "links": links, "OS-DCF:diskConfig": "MANUAL",
		"security_groups": []any{map[string]any{"name": "default"}}, "adminPass": newID()[:12]}})
}

// requestNetworks checks a create's networks: "auto", "none" or
// [{"uuid": ...}], and returns their names.
func (c *Cloud) requestNetworks(raw json.RawMessage, mv int) ([]string, string) {
	var word string
	if len(raw) == 0 {
		if mv >= 2037 {
			return nil, "Invalid input for field/attribute server. Value: ... 'networks' is a required property"
		}
		return []string{"private"}, ""
	}
	if json.Unmarshal(raw, &word) == nil {
		switch word {
		case "auto":
			return []string{"private"}, ""
		case "none":
			return nil, ""
		}
		return nil, "Invalid input for field/attribute networks."
	}
	var list []struct {
		UUID string `json:"uuid"`
	}
	if err := json.Unmarshal(raw, &list); err != nil {
		return nil, "Invalid input for field/attribute networks."
	}
	var names []string
	for _, n := range list {
		i := slices.IndexFunc(c.networks, func(net network) bool { return net.ID == n.UUID })
		if i < 0 {
			return nil, "Network " + n.UUID + " could not be found."
		}
		names = append(names, c.networks[i].Name)
	}
	return names, ""
}

// place chooses a compute host as Nova's filters would with the group's
// policy: anti-affinity hosts with no member (none: no valid host),
// soft-anti-affinity the fewest members, affinity and soft-affinity the
// members' host; then the least loaded host.
func (c *Cloud) place(g *group) (string, bool) {
	load := map[string]int{}
	members := map[string]int{}
	for _, s := range c.servers {
		load[s.Host]++
		if g != nil && s.Group == g.ID {
			members[s.Host]++
		}
	}
	hosts := sortedHosts(c.o.Hosts, func(h string) int { return load[h] })
	if g == nil {
		return hosts[0], false
	}
	switch g.Policy {
	case "anti-affinity":
		for _, h := range hosts {
			if members[h] == 0 {
				return h, false
			}
		}
		return "", true
	case "soft-anti-affinity":
		return sortedHosts(hosts, func(h string) int { return members[h] })[0], false
	default:
		return sortedHosts(hosts, func(h string) int { return -members[h] })[0], false
	}
}

func (c *Cloud) links(kind, id string) []any {
	return []any{
		map[string]any{"rel": "self", "href": c.srv.URL + "/compute/v2.1/" + kind + "/" + id},
		map[string]any{"rel": "bookmark", "href": c.srv.URL + "/compute/" + kind + "/" + id},
	}
}

// hostID is Nova's hostId: sha224 of project ID and host.
func (c *Cloud) hostID(host string) string {
	if host == "" {
		return ""
	}
	sum := sha256.Sum224([]byte(c.projectID + host))
	return hex.EncodeToString(sum[:])
}

func (c *Cloud) serverJSON(s *server, mv int) map[string]any {
	f := c.flavor(s.FlavorID)
	var flavorJSON any = map[string]any{"id": f.ID, "links": c.links("flavors", f.ID)}
	if mv >= 2047 {
		flavorJSON = map[string]any{"vcpus": f.VCPUs, "ram": f.RAM, "disk": f.Disk, "ephemeral": 0, "swap": 0,
			"original_name": f.Name, "extra_specs": map[string]string{}}
	}
	var launched any
	if !s.Launched.IsZero() {
		launched = s.Launched.Format("2006-01-02T15:04:05.000000")
	}
	hostID := ""
	if s.Status != "BUILD" {
		hostID = c.hostID(s.Host)
	}
	var task any
	if s.TaskState != "" {
		task = s.TaskState
	}
	out := map[string]any{
		"id": s.ID, "name": s.Name, "status": s.Status, "tenant_id": c.projectID, "user_id": c.userID,
		"metadata": s.Metadata, "hostId": hostID, "image": map[string]any{"id": s.ImageID, "links": c.links("images", s.ImageID)},
		"flavor": flavorJSON, "created": s.Created.Format(time.RFC3339), "updated": time.Now().UTC().Format(time.RFC3339),
		"addresses": s.Addresses, "accessIPv4": "", "accessIPv6": "", "links": c.links("servers", s.ID),
		"OS-DCF:diskConfig": "MANUAL", "OS-EXT-AZ:availability_zone": "nova", "config_drive": map[bool]string{true: "True"}[s.ConfigDrive],
		"key_name": nil, "OS-SRV-USG:launched_at": launched, "OS-SRV-USG:terminated_at": nil,
		"OS-EXT-STS:task_state": task, "OS-EXT-STS:vm_state": s.VMState, "OS-EXT-STS:power_state": s.PowerState,
		"os-extended-volumes:volumes_attached": []any{}, "security_groups": []any{map[string]any{"name": "default"}},
		"locked": false, "description": nil, "tags": []string{}, "trusted_image_certificates": nil,
	}
	if s.Status == "BUILD" || s.Status == "ACTIVE" {
		out["progress"] = 0
	}
	if mv >= 2071 && s.Group != "" {
		out["server_groups"] = []string{s.Group}
	}
	if s.Fault != nil {
		out["fault"] = map[string]any{"code": s.Fault.Code, "message": s.Fault.Message,
			"created": s.Fault.Created.Format(time.RFC3339), "details": "  File \"/opt/stack/nova/nova/conductor/manager.py\", line 1580, in schedule_and_build_instances\n"}
	}
	return out
}

func (c *Cloud) listServers(w http.ResponseWriter, r *http.Request, mv int, detail bool) {
	q := r.URL.Query()
	var nameRE *regexp.Regexp
	if n := q.Get("name"); n != "" {
		var err error
		if nameRE, err = regexp.Compile(n); err != nil {
			writeError(w, 400, "badRequest", "Invalid regular expression "+n)
			return
		}
	}
	out := []any{}
	for i := len(c.order) - 1; i >= 0; i-- { // newest first, as Nova
		s := c.servers[c.order[i]]
		if (nameRE != nil && !nameRE.MatchString(s.Name)) || (q.Get("status") != "" && q.Get("status") != s.Status) {
			continue
		}
		if detail {
			out = append(out, c.serverJSON(s, mv))
		} else {
			out = append(out, map[string]any{"id": s.ID, "name": s.Name, "links": c.links("servers", s.ID)})
		}
	}
	writeJSON(w, 200, map[string]any{"servers": out})
}

func (c *Cloud) serverAction(w http.ResponseWriter, r *http.Request, mv int) {
	s := c.server(w, r)
	if s == nil {
		return
	}
	var body map[string]json.RawMessage
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || len(body) != 1 {
		writeError(w, 400, "badRequest", "Invalid action body")
		return
	}
	conflict := func(action string) {
		writeError(w, 409, "conflictingRequest", fmt.Sprintf("Cannot '%s' instance %s while it is in vm_state %s", action, s.ID, s.VMState))
	}
	transition := func(action, from, during, to string) {
		if s.Status != from || s.TaskState != "" {
			conflict(action)
			return
		}
		s.TaskState, s.next, s.nextAt = during, to, time.Now().Add(c.o.ActionDelay)
		w.WriteHeader(202)
	}
	switch {
	case body["os-start"] != nil:
		transition("start", "SHUTOFF", "powering-on", "ACTIVE")
	case body["os-stop"] != nil:
		transition("stop", "ACTIVE", "powering-off", "SHUTOFF")
	case body["reboot"] != nil:
		transition("reboot", "ACTIVE", "reboot_started", "ACTIVE")
		if s.TaskState == "reboot_started" {
			s.Status = "REBOOT"
		}
	case body["os-getConsoleOutput"] != nil:
		var o struct {
			Length *int `json:"length"`
		}
		_ = json.Unmarshal(body["os-getConsoleOutput"], &o)
		lines := s.Console
		if o.Length != nil && *o.Length >= 0 && *o.Length < len(lines) {
			lines = lines[len(lines)-*o.Length:]
		}
		out := strings.Join(lines, "\n")
		if len(lines) > 0 {
			out += "\n"
		}
		writeJSON(w, 200, map[string]any{"output": out})
	default:
		writeError(w, 400, "badRequest", "There is no such action: "+slices.Collect(maps.Keys(body))[0])
	}
}

func (c *Cloud) flavorJSON(f flavor, mv int) map[string]any {
	out := map[string]any{"id": f.ID, "name": f.Name, "vcpus": f.VCPUs, "ram": f.RAM, "disk": f.Disk, "swap": "",
		"OS-FLV-EXT-DATA:ephemeral": 0, "OS-FLV-DISABLED:disabled": false, "os-flavor-access:is_public": true,
		"rxtx_factor": 1.0, "links": c.links("flavors", f.ID)}
	if mv >= 2055 {
		out["description"] = nil
	}
	if mv >= 2061 {
		out["extra_specs"] = map[string]string{}
	}
	if mv >= 2075 {
		out["swap"] = 0
	}
	return out
}

var policies = map[string]int{"affinity": 2001, "anti-affinity": 2001, "soft-affinity": 2015, "soft-anti-affinity": 2015}

func (c *Cloud) createGroup(w http.ResponseWriter, r *http.Request, mv int) {
	var req struct {
		ServerGroup struct {
			Name     string   `json:"name"`
			Policy   string   `json:"policy"`
			Policies []string `json:"policies"`
		} `json:"server_group"`
	}
	if err := json.NewDecoder(r.Body).Decode(&req); err != nil {
		writeError(w, 400, "badRequest", "Invalid JSON: "+err.Error())
		return
	}
	sg := req.ServerGroup
	policy := sg.Policy
	if mv < 2064 {
		if len(sg.Policies) != 1 || sg.Policy != "" {
			writeError(w, 400, "badRequest", "Invalid input for field/attribute policies.")
			return
		}
		policy = sg.Policies[0]
	} else if len(sg.Policies) > 0 {
		writeError(w, 400, "badRequest", "Additional properties are not allowed ('policies' was unexpected)")
		return
	}
	if min, ok := policies[policy]; !ok || mv < min || sg.Name == "" {
		writeError(w, 400, "badRequest", "Invalid input for field/attribute policy. Value: "+policy+".")
		return
	}
	if len(c.groups) >= 10 {
		writeError(w, 403, "forbidden", "Quota exceeded, too many server groups.")
		return
	}
	g := &group{ID: newUUID(), Name: sg.Name, Policy: policy}
	c.groups[g.ID] = g
	writeJSON(w, 200, map[string]any{"server_group": c.groupJSON(g, mv)})
}

func (c *Cloud) groupJSON(g *group, mv int) map[string]any {
	out := map[string]any{"id": g.ID, "name": g.Name, "members": append([]string{}, g.Members...),
		"project_id": c.projectID, "user_id": c.userID}
	if mv >= 2064 {
		out["policy"], out["rules"] = g.Policy, map[string]any{}
	} else {
		out["policies"], out["metadata"] = []string{g.Policy}, map[string]any{}
	}
	return out
}

// Server returns a server as the double holds it.
func (c *Cloud) Server(id string) (ServerInfo, bool) {
	defer c.deliver()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(time.Now())
	s, ok := c.servers[id]
	if !ok {
		return ServerInfo{}, false
	}
	return c.info(s), true
}

// Servers returns every server, oldest first.
func (c *Cloud) Servers() []ServerInfo {
	defer c.deliver()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(time.Now())
	out := []ServerInfo{}
	for _, id := range c.order {
		out = append(out, c.info(c.servers[id]))
	}
	return out
}

func (c *Cloud) info(s *server) ServerInfo {
	hostID := ""
	if s.Status != "BUILD" {
		hostID = c.hostID(s.Host)
	}
	return ServerInfo{ID: s.ID, Name: s.Name, Status: s.Status, TaskState: s.TaskState, Host: s.Host, HostID: hostID,
		FlavorID: s.FlavorID, ImageID: s.ImageID, Group: s.Group, Metadata: maps.Clone(s.Metadata),
		UserData: slices.Clone(s.UserData), ConfigDrive: s.ConfigDrive, Networks: slices.Clone(s.Networks)}
}

// ServerGroups returns the server groups.
func (c *Cloud) ServerGroups() []GroupInfo {
	defer c.deliver()
	c.mu.Lock()
	defer c.mu.Unlock()
	c.advance(time.Now())
	out := []GroupInfo{}
	for _, id := range slices.Sorted(maps.Keys(c.groups)) {
		g := c.groups[id]
		out = append(out, GroupInfo{ID: g.ID, Name: g.Name, Policy: g.Policy, Members: slices.Clone(g.Members)})
	}
	return out
}

// AddServer adds an ACTIVE server that some other client made (with its
// metadata), and returns its ID.
func (c *Cloud) AddServer(name string, metadata map[string]string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := time.Now().UTC()
	s := &server{ID: newUUID(), Name: name, FlavorID: c.flavors[0].ID, ImageID: c.images[0].ID, Metadata: maps.Clone(metadata),
		Status: "ACTIVE", VMState: "active", PowerState: 1, Created: now, Launched: now, Host: c.o.Hosts[0],
		Addresses: map[string][]any{}}
	if s.Metadata == nil {
		s.Metadata = map[string]string{}
	}
	c.servers[s.ID] = s
	c.order = append(c.order, s.ID)
	return s.ID
}

// AppendConsole adds lines to a server's console output.
func (c *Cloud) AppendConsole(id string, lines ...string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.servers[id]; ok {
		s.Console = append(s.Console, lines...)
	}
}
