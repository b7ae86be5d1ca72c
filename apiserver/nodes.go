package apiserver

import (
	"context"
	"encoding/json"
	"errors"

	"io"
	"net/http"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

const maxJoinTTL = 7 * 24 * time.Hour

// createJoinToken mints a single-use join token. Administrators may mint
// any; the IaaS controllers only tokens bound to a Machine.
func (s *Server) createJoinToken(w http.ResponseWriter, r *http.Request, id *Identity) {
	if id.Role != RoleAdmin && id.Role != RoleIaaSController {
		writeError(w, s.log, errForbidden("User %q cannot get path %q", id.Name, r.URL.Path), "", "")
		return
	}
	var req api.JoinTokenRequest
	if err := decodeSmall(r, &req); err != nil {
		writeError(w, s.log, err, "jointokens", "")
		return
	}
	if req.Machine != "" {
		if msgs := api.IsDNS1123Subdomain(req.Machine); len(msgs) > 0 {
			writeError(w, s.log, errBadRequest("machine: %s", strings.Join(msgs, "; ")), "jointokens", "")
			return
		}
		if req.NodeName != "" && req.NodeName != req.Machine {
			writeError(w, s.log, errBadRequest("nodeName: must be empty or equal machine %q: a machine's node is named after it", req.Machine), "jointokens", "")
			return
		}
		req.NodeName = req.Machine
	} else if id.Role != RoleAdmin {
		writeError(w, s.log, errForbidden("User %q may only mint join tokens bound to a machine", id.Name), "jointokens", "")
		return
	}
	ttl := time.Duration(req.TTLSeconds) * time.Second
	switch {
	case req.TTLSeconds == 0:
		ttl = time.Hour
	case req.TTLSeconds < 0 || ttl > maxJoinTTL:
		writeError(w, s.log, errBadRequest("ttlSeconds: must be between 1 and %d", int64(maxJoinTTL.Seconds())), "jointokens", "")
		return
	}
	if req.NodeName != "" {
		if msgs := api.IsDNS1123Subdomain(req.NodeName); len(msgs) > 0 {
			writeError(w, s.log, errBadRequest("nodeName: %s", strings.Join(msgs, "; ")), "jointokens", "")
			return
		}
	}
	exp := api.NewTime(time.Now().Add(ttl))
	token, err := s.IssueToken(r.Context(), TokenSpec{Role: RoleJoin, User: "join", Node: req.NodeName, Machine: req.Machine, Expires: &exp})
	if err != nil {
		writeError(w, s.log, err, "jointokens", "")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, api.JoinToken{Token: token, ExpirationTimestamp: exp, NodeName: req.NodeName, Machine: req.Machine})
}

// join exchanges a join token for a node credential. The join token is
// consumed in the same step, so it works once.
func (s *Server) join(w http.ResponseWriter, r *http.Request, id *Identity) {
	if id.Role != RoleJoin {
		writeError(w, s.log, errForbidden("User %q cannot join: only a join token can", id.Name), "nodes", "")
		return
	}
	var req api.JoinRequest
	if err := decodeSmall(r, &req); err != nil {
		writeError(w, s.log, err, "nodes", "")
		return
	}
	if msgs := api.IsDNS1123Subdomain(req.NodeName); len(msgs) > 0 {
		writeError(w, s.log, errBadRequest("nodeName: %s", strings.Join(msgs, "; ")), "nodes", req.NodeName)
		return
	}
	if id.Node != "" && id.Node != req.NodeName {
		writeError(w, s.log, errForbidden("this join token may only join as node %q", id.Node), "nodes", req.NodeName)
		return
	}
	if id.Machine != "" {
		// Before the token is used up: a machine the provider has not
		// reported yet is worth a retry with the same token.
		if err := s.bindMachineNode(r.Context(), id.Machine, req.NodeName); err != nil {
			writeError(w, s.log, err, "nodes", req.NodeName)
			return
		}
	}
	var used tokenRecord
	if err := s.store.Delete(r.Context(), id.tokenKey, 0, &used); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			err = errUnauthorized // used by a concurrent join
		}
		writeError(w, s.log, err, "nodes", req.NodeName)
		return
	}
	s.auth.forget()
	token, err := s.IssueToken(r.Context(), TokenSpec{Role: RoleNode, User: "node:" + req.NodeName, Node: req.NodeName, Machine: id.Machine})
	if err != nil {
		writeError(w, s.log, err, "nodes", req.NodeName)
		return
	}
	s.log.Info("node joined", "node", req.NodeName, "machine", id.Machine)
	w.Header().Set("Cache-Control", "no-store")
	writeJSON(w, http.StatusCreated, api.NodeCredential{Token: token, NodeName: req.NodeName, Machine: id.Machine})
}

// decodeSmall reads a small JSON body strictly; an empty body is {}.
func decodeSmall(r *http.Request, into any) error {
	data, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		return errBadRequest("read body: %v", err)
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		return nil
	}
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		return errBadRequest("body: %v", err)
	}
	return nil
}

// authorizeNode applies the node rules: a node reads nodes, writes only its
// own Node and Lease, reads only the pods bound to it (a list or watch of
// pods must select spec.nodeName=itself), updates their status and deletes
// them, reads the secrets those pods pull images with, and records events.
// Anything else is forbidden.
func (s *Server) authorizeNode(ctx context.Context, id *Identity, q *request, r *http.Request) error {
	deny := func() error { return forbidden(id, q.verb, q.kind, q.ns) }
	switch q.kind.Kind {
	case "Node":
		if q.verb == "get" || q.verb == "list" || q.verb == "watch" || q.verb == "create" {
			return nil // a create is checked against the body in admitNode
		}
		if q.name != id.Node {
			return deny()
		}
		return nil
	case "Lease":
		if q.ns != api.NamespaceNodeLease || (q.verb != "create" && q.name != id.Node) || q.verb == "list" || q.verb == "watch" {
			return deny()
		}
		return nil
	case "Event":
		if q.verb != "create" {
			return deny()
		}
		return nil
	case "Secret":
		return s.authorizeNodeSecret(ctx, id, q)
	case "Pod":
		switch q.verb {
		case "list", "watch":
			fields, err := parseFieldSelector(r.URL.Query().Get("fieldSelector"))
			if err != nil {
				return err
			}
			for _, f := range fields {
				if f.field == "spec.nodeName" && !f.not && f.value == id.Node {
					return nil
				}
			}
			return errForbidden("pods is forbidden: node %q may only %s pods with fieldSelector spec.nodeName=%s", id.Node, q.verb, id.Node)
		case "get", "delete", "update":
			if q.verb == "update" && q.sub != "status" {
				return deny()
			}
			var p api.Pod
			if err := s.store.Get(ctx, storeKey(q.kind, q.ns, q.name), &p); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return deny() // do not tell a node which pods exist elsewhere
				}
				return err
			}
			if p.Spec.NodeName != id.Node {
				return errForbidden("pods %q is forbidden: it is not bound to node %q", q.name, id.Node)
			}
			return nil
		}
	}
	return deny()
}

// admitNode checks what a node writes: the objects must be its own.
func admitNode(id *Identity, obj api.Object) error {
	if id.Role != RoleNode {
		return nil
	}
	m := obj.GetObjectMeta()
	switch obj.(type) {
	case *api.Node, *api.Lease:
		if m.Name != id.Node {
			return errForbidden("node %q may not write %s %q", id.Node, obj.GetTypeMeta().Kind, m.Name)
		}
	}
	return nil
}

// nodeRoutes are the endpoints outside the resource paths.
func (s *Server) nodeRoutes(mux *http.ServeMux) {
	mux.Handle("POST /api/v1/jointokens", s.authenticated(s.createJoinToken))
	mux.Handle("POST /api/v1/join", s.authenticated(s.join))
}

// authorizeNodeSecret lets a node get a secret only while a pod bound to it
// names the secret in imagePullSecrets, as Kubernetes' node authorizer
// does; listing or watching secrets, and any write, is forbidden. A denial
// says the same whether the secret exists or not.
func (s *Server) authorizeNodeSecret(ctx context.Context, id *Identity, q *request) error {
	deny := func() error { return forbidden(id, q.verb, q.kind, q.ns) }
	if q.verb != "get" || q.name == "" || q.sub != "" {
		return deny()
	}
	pods, _, err := s.store.List(ctx, "/registry/pods/"+q.ns+"/", func() api.Object { return &api.Pod{} }, func(o api.Object) bool {
		p := o.(*api.Pod)
		if p.Spec.NodeName != id.Node {
			return false
		}
		for _, ref := range p.Spec.ImagePullSecrets {
			if ref.Name == q.name {
				return true
			}
		}
		return false
	})
	if err != nil {
		return err
	}
	if len(pods) == 0 {
		return errForbidden("secrets %q is forbidden: no pod bound to node %q in namespace %q references it", q.name, id.Node, q.ns)
	}
	return nil
}
