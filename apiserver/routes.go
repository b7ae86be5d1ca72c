package apiserver

import (
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// request is a parsed API call.
type request struct {
	verb string // get, list, watch, create, update, delete
	kind *api.KindInfo
	ns   string // namespace of the object or collection ("" for all / cluster)
	name string
	sub  string // subresource: "status", "token", "binding", "eviction", "finalize"
}

// authNamespace is the namespace authorization looks at: for a Namespace
// object, its own name.
func (q *request) authNamespace() string {
	if q.kind.Kind == "Namespace" {
		return q.name
	}
	return q.ns
}

// parse maps a path such as /api/v1/namespaces/ns/pods/name/status or
// /apis/iaas.cloudmgr.dev/v1alpha1/nodepools to a request.
func (s *Server) parse(r *http.Request) (*request, error) {
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	var group, version string
	switch {
	case len(parts) >= 2 && parts[0] == "api":
		version, parts = parts[1], parts[2:]
	case len(parts) >= 3 && parts[0] == "apis":
		group, version, parts = parts[1], parts[2], parts[3:]
	default:
		return nil, errNotFoundPath(r.URL.Path)
	}
	q := &request{}
	if len(parts) >= 3 && parts[0] == "namespaces" {
		if k, ok := s.scheme.ByResource(group, parts[2]); ok && k.Namespaced {
			q.ns, q.kind, parts = parts[1], k, parts[3:]
		}
	}
	if q.kind == nil {
		if len(parts) == 0 {
			return nil, errNotFoundPath(r.URL.Path)
		}
		k, ok := s.scheme.ByResource(group, parts[0])
		if !ok {
			return nil, errNotFoundPath(r.URL.Path)
		}
		q.kind, parts = k, parts[1:]
	}
	if q.kind.Version != version {
		return nil, errNotFoundPath(r.URL.Path)
	}
	switch len(parts) {
	case 0:
	case 1:
		q.name = parts[0]
	case 2:
		q.name, q.sub = parts[0], parts[1]
	default:
		return nil, errNotFoundPath(r.URL.Path)
	}
	switch q.sub {
	case "":
	case "status":
		if !q.kind.HasStatus {
			return nil, errNotFoundPath(r.URL.Path)
		}
	case "token":
		if q.kind.Kind != "Tenant" {
			return nil, errNotFoundPath(r.URL.Path)
		}
	case "binding", "eviction":
		if q.kind.Kind != api.KindPod {
			return nil, errNotFoundPath(r.URL.Path)
		}
	case api.SubresourceFinalize:
		if q.kind.Kind != api.KindNamespace {
			return nil, errNotFoundPath(r.URL.Path)
		}
	default:
		return nil, errNotFoundPath(r.URL.Path)
	}
	verb, err := verbOf(r.Method, q.name != "", isWatch(r))
	if err != nil {
		return nil, err
	}
	if (q.sub == "token" || q.sub == "binding" || q.sub == "eviction") && verb != "create" {
		return nil, errMethod(r.Method)
	}
	if q.sub == "status" && verb != "get" && verb != "update" || q.sub == api.SubresourceFinalize && verb != "update" {
		return nil, errMethod(r.Method)
	}
	q.verb = verb
	return q, nil
}

func verbOf(method string, named bool, watch bool) (string, error) {
	switch {
	case method == http.MethodGet && !named:
		if watch {
			return "watch", nil
		}
		return "list", nil
	case method == http.MethodGet:
		return "get", nil
	case method == http.MethodPost && !named:
		return "create", nil
	case method == http.MethodPost:
		return "create", nil // subresources such as tenants/NAME/token
	case method == http.MethodPut && named:
		return "update", nil
	case method == http.MethodDelete && named:
		return "delete", nil
	}
	return "", errMethod(method)
}

func errMethod(m string) error {
	return newStatus(http.StatusMethodNotAllowed, api.StatusReasonMethodNotAllowed, "method "+m+" is not allowed on this path")
}

func errNotFoundPath(p string) error {
	return newStatus(http.StatusNotFound, api.StatusReasonNotFound, "the server could not find the requested resource "+p)
}

// serveAPI authorizes and dispatches one REST call.
func (s *Server) serveAPI(w http.ResponseWriter, r *http.Request, id *Identity) {
	start := time.Now()
	rec := &recorder{ResponseWriter: w}
	q, err := s.parse(r)
	if err != nil {
		writeError(rec, s.log, err, "", "")
		s.metrics.requests.WithLabelValues(r.Method, "", strconv.Itoa(rec.code)).Inc()
		return
	}
	defer func() {
		s.log.Debug("request", "verb", q.verb, "resource", q.kind.Resource, "namespace", q.ns, "name", q.name,
			"user", id.Name, "code", rec.code, "duration", time.Since(start))
		s.metrics.requests.WithLabelValues(q.verb, q.kind.Resource, strconv.Itoa(rec.code)).Inc()
		if q.verb != "watch" {
			s.metrics.latency.WithLabelValues(q.verb, q.kind.Resource).Observe(time.Since(start).Seconds())
		}
	}()
	var acc access
	switch {
	case id.Role == RoleNode:
		err = s.authorizeNode(r.Context(), id, q, r)
	case id.Role == RoleScheduler:
		err = authorizeScheduler(id, q)
	case id.Role == RoleController:
		err = authorizeController(id, q)
	case id.Role == RoleIaaSController:
		err = s.authorizeIaaSController(r.Context(), id, q)
	case q.sub == "binding" && id.Role != RoleAdmin:
		// Tenants place no pods: the scheduler (or an administrator) does.
		err = forbiddenSub(id, q)
	case q.sub == "status" && q.kind.Kind == api.KindVirtualMachine && id.Role != RoleAdmin && q.verb != "get":
		// A VM's status (its provider ID, host) is the IaaS controllers'
		// record: a tenant who wrote another tenant's provider ID there
		// could make the controller act on that VM.
		err = forbiddenSub(id, q)
	case q.sub == "eviction":
		// An eviction deletes the pod: it takes the right to delete it.
		_, err = s.authorize(r.Context(), id, "delete", q.kind, q.authNamespace())
	default:
		acc, err = s.authorize(r.Context(), id, q.verb, q.kind, q.authNamespace())
	}
	if err != nil {
		writeError(rec, s.log, err, q.kind.Resource, q.name)
		return
	}
	switch q.verb {
	case "get":
		err = s.get(rec, r, q)
	case "list":
		err = s.list(rec, r, q, acc)
	case "watch":
		err = s.watch(rec, r, q, acc)
	case "create":
		switch q.sub {
		case "token":
			err = s.tenantToken(rec, r, q)
		case "binding":
			err = s.bind(rec, r, q)
		case "eviction":
			err = s.evict(rec, r, q)
		default:
			err = s.create(rec, r, q, id)
		}
	case "update":
		err = s.update(rec, r, q, id)
	case "delete":
		err = s.delete(rec, r, q)
	}
	if err != nil {
		writeError(rec, s.log, err, q.kind.Resource, q.name)
	}
}
