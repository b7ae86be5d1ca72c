package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// TenantToken is the answer of POST /api/v1/tenants/NAME/token: a new token
// of the tenant, shown once.
type TenantToken struct {
	Token     string `json:"token"`
	Namespace string `json:"namespace"`
}

// createTenant stores a tenant and the namespaces it owns. A namespace that
// exists already must belong to the tenant. On failure the namespaces this
// call created are removed again, so a refused tenant leaves nothing behind.
func (s *Server) createTenant(ctx context.Context, w http.ResponseWriter, q *request, t *api.Tenant) (err error) {
	nsKind, _ := s.scheme.ByKind("v1", "Namespace")
	if err := s.store.Get(ctx, storeKey(q.kind, "", t.Name), q.kind.New()); err == nil {
		return fmt.Errorf("%s: %w", t.Name, store.ErrAlreadyExists)
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if len(t.Spec.Namespaces) == 0 {
		t.Spec.Namespaces = []string{t.Name}
	}
	var created []*api.Namespace
	defer func() {
		if err == nil {
			return
		}
		// The request may be gone; the undo must still happen.
		uctx := context.WithoutCancel(ctx)
		for _, ns := range created {
			if derr := s.purgeNamespace(uctx, ns.Name, nsKind.New()); derr != nil {
				s.log.Error("undo namespace of a refused tenant", "tenant", t.Name, "namespace", ns.Name, "err", derr)
			}
		}
	}()
	for _, name := range t.Spec.Namespaces {
		ns := nsKind.New().(*api.Namespace)
		ns.Name = name
		ns.Labels = map[string]string{LabelTenant: t.Name}
		s.prepareCreate(nsKind, ns)
		err := s.store.Create(ctx, storeKey(nsKind, "", name), ns)
		if errors.Is(err, store.ErrAlreadyExists) {
			owner, oerr := s.ownsNamespace(ctx, t.Name, name)
			if oerr != nil {
				return oerr
			}
			if !owner {
				return newStatus(http.StatusConflict, api.StatusReasonAlreadyExists,
					fmt.Sprintf("namespaces %q already exists and does not belong to tenant %q", name, t.Name))
			}
			continue
		}
		if err != nil {
			return err
		}
		created = append(created, ns)
	}
	if err := s.store.Create(ctx, storeKey(q.kind, "", t.Name), t); err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, t)
	return nil
}

// tenantToken mints a token for an existing tenant.
func (s *Server) tenantToken(w http.ResponseWriter, r *http.Request, q *request) error {
	var t api.Tenant
	if err := s.store.Get(r.Context(), storeKey(q.kind, "", q.name), &t); err != nil {
		return err
	}
	token, err := s.IssueToken(r.Context(), TokenSpec{Role: RoleTenant, User: "tenant:" + t.Name, Tenant: t.Name, TenantUID: t.UID})
	if err != nil {
		return err
	}
	ns := t.Name
	if len(t.Spec.Namespaces) > 0 {
		ns = t.Spec.Namespaces[0]
	}
	w.Header().Set("Cache-Control", "no-store")
	data, _ := json.Marshal(TenantToken{Token: token, Namespace: ns})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	_, _ = w.Write(data)
	return nil
}
