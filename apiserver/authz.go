package apiserver

import (
	"context"
	"errors"
	"fmt"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// access is the outcome of authorization: allowed, and for tenants listing
// across namespaces, the namespaces whose objects they may see.
type access struct {
	// onlyNamespaces, when not nil, limits results to these namespaces.
	onlyNamespaces map[string]bool
	// tenant is the tenant a tenant caller acts for. Namespace objects are
	// limited to those labelled as its own, judged on each object so that
	// a watch sees namespaces the tenant creates or loses while it runs,
	// and watches of namespaced kinds re-check ownership as they go.
	tenant string
}

func (a access) allows(namespace string) bool {
	return a.onlyNamespaces == nil || a.onlyNamespaces[namespace]
}

// kindsHiddenFromTenants are cluster-scoped kinds a tenant may not read.
var kindsHiddenFromTenants = map[string]bool{"Tenant": true, "NodePool": true, "Hypervisor": true, "Machine": true}

func forbidden(id *Identity, verb string, k *api.KindInfo, ns string) error {
	where := ""
	if ns != "" {
		where = fmt.Sprintf(" in the namespace %q", ns)
	} else if k.Namespaced {
		where = " at the cluster scope"
	}
	return errForbidden("%s is forbidden: User %q cannot %s resource %q%s", k.Resource, id.Name, verb, k.Resource, where)
}

// authorize decides whether id may do verb on kind k in namespace ns (for
// Namespace objects, ns is the namespace's own name).
func (s *Server) authorize(ctx context.Context, id *Identity, verb string, k *api.KindInfo, ns string) (access, error) {
	if id.Role == RoleAdmin {
		return access{}, nil
	}
	if id.Role != RoleTenant {
		return access{}, forbidden(id, verb, k, ns)
	}
	readOnly := verb == "get" || verb == "list" || verb == "watch"
	switch {
	case kindsHiddenFromTenants[k.Kind]:
		return access{}, forbidden(id, verb, k, ns)
	case k.Kind == "Namespace":
		if ns == "" {
			if verb == "create" {
				return access{}, nil // the new namespace is labelled as the tenant's
			}
			return access{tenant: id.Tenant}, nil
		}
	case !k.Namespaced:
		if !readOnly {
			return access{}, forbidden(id, verb, k, ns)
		}
		return access{}, nil
	case ns == "":
		if !readOnly {
			return access{}, forbidden(id, verb, k, ns)
		}
		owned, err := s.tenantNamespaces(ctx, id.Tenant)
		return access{onlyNamespaces: owned, tenant: id.Tenant}, err
	}
	ok, err := s.ownsNamespace(ctx, id.Tenant, ns)
	if err != nil {
		return access{}, err
	}
	if !ok {
		return access{}, forbidden(id, verb, k, ns)
	}
	return access{tenant: id.Tenant}, nil
}

func (s *Server) ownsNamespace(ctx context.Context, tenant, ns string) (bool, error) {
	var n api.Namespace
	err := s.store.Get(ctx, "/registry/namespaces/"+ns, &n)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return n.Labels[LabelTenant] == tenant, nil
}

func (s *Server) tenantNamespaces(ctx context.Context, tenant string) (map[string]bool, error) {
	items, _, err := s.store.List(ctx, "/registry/namespaces/", func() api.Object { return &api.Namespace{} }, func(o api.Object) bool {
		return o.GetObjectMeta().Labels[LabelTenant] == tenant
	})
	if err != nil {
		return nil, err
	}
	out := make(map[string]bool, len(items))
	for _, o := range items {
		out[o.GetObjectMeta().Name] = true
	}
	return out, nil
}
