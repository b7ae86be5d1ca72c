package apiserver

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// Role is what an identity is allowed to be.
type Role string

// The roles a token can carry.
const (
	// RoleAdmin may do everything.
	RoleAdmin Role = "admin"
	// RoleTenant may act only in the namespaces its tenant owns and read nodes.
	RoleTenant Role = "tenant"
	// RoleNode is a node agent: it may act on its own Node and Lease and on
	// the pods bound to it.
	RoleNode Role = "node"
	// RoleJoin is a single-use, short-lived token that may only be
	// exchanged for a node credential.
	RoleJoin Role = "join"
	// RoleScheduler is the control plane's scheduler: it reads pods, nodes
	// and priority classes everywhere, binds pods, writes their scheduling
	// status (conditions, nominated node), records events and deletes the
	// pods it preempts. Nothing else.
	RoleScheduler Role = "scheduler"
	// RoleController is the control plane's controller manager: it reads
	// everything but secrets and writes workloads, pods, events, and the
	// state of namespaces and nodes (see authorizeController).
	RoleController Role = "system:controller-manager"
)

// LabelTenant on a Namespace names the tenant that owns it.
const LabelTenant = "cloudmgr.dev/tenant"

// Identity is who a request acts as.
type Identity struct {
	Name   string
	Role   Role
	Tenant string // for RoleTenant
	Node   string // for RoleNode, and a join token bound to one node
	// Machine is the Machine a join token or node credential is bound to.
	Machine string
	// tokenKey is where the token is stored, so a single-use token can be
	// consumed.
	tokenKey string
}

// String names the identity in messages: "admin", "tenant:team-a".
func (id *Identity) String() string { return id.Name }

// TokenSpec describes what a token grants.
type TokenSpec struct {
	Role   Role   `json:"role"`
	User   string `json:"user"`
	Tenant string `json:"tenant,omitempty"`
	// Node is the node a node credential acts as, or the only node a join
	// token may join as (empty: any name).
	Node string `json:"node,omitempty"`
	// Machine binds a join token, and the node credential it becomes, to
	// one Machine object (whose name is Node).
	Machine string `json:"machine,omitempty"`
	// TenantUID binds a tenant token to one incarnation of the tenant: a
	// tenant deleted and created again under the same name does not
	// inherit the old tokens.
	TenantUID string    `json:"tenantUID,omitempty"`
	Expires   *api.Time `json:"expires,omitempty"`
}

// tokenRecord is how a token is stored: under the SHA-256 of the token, so
// the store never holds the secret itself. Tokens are 256 random bits, so a
// fast hash is enough; a slow password hash would add nothing.
type tokenRecord struct {
	api.TypeMeta   `json:",inline"`
	api.ObjectMeta `json:"metadata"`
	Spec           TokenSpec `json:"spec"`
}

const tokenPrefix = "/registry/tokens/"

func tokenKey(token string) string {
	sum := sha256.Sum256([]byte(token))
	return tokenPrefix + hex.EncodeToString(sum[:])
}

// authenticator checks bearer tokens against the store, caching answers
// briefly so that the hot path does not pay an etcd read per request.
type authenticator struct {
	store *store.Store
	ttl   time.Duration

	mu    sync.Mutex
	cache map[string]authEntry
	// bad remembers unknown tokens briefly, apart from cache, so a flood
	// of bad tokens can neither grow memory without bound nor push the
	// valid tokens out.
	bad map[string]time.Time
	// gen counts forget calls, so that an answer read from the store
	// before a revocation is not cached after it.
	gen uint64
}

type authEntry struct {
	id      *Identity // nil: known bad
	expires time.Time
}

var errUnauthorized = newStatus(http.StatusUnauthorized, api.StatusReasonUnauthorized, "Unauthorized: a valid bearer token is required")

func (a *authenticator) authenticate(ctx context.Context, r *http.Request) (*Identity, error) {
	h := r.Header.Get("Authorization")
	token, ok := strings.CutPrefix(h, "Bearer ")
	if !ok || token == "" {
		return nil, errUnauthorized
	}
	key := tokenKey(strings.TrimSpace(token))
	now := time.Now()
	a.mu.Lock()
	e, hit := a.cache[key]
	badUntil, isBad := a.bad[key]
	gen := a.gen
	a.mu.Unlock()
	if isBad && now.Before(badUntil) {
		return nil, errUnauthorized
	}
	if hit && now.Before(e.expires) {
		return e.id, nil
	}
	id, until, err := a.lookup(ctx, key, now)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.gen != gen {
		// Revoked while we read: answer, but do not remember.
	} else if id == nil {
		if len(a.bad) >= 1000 {
			a.bad = map[string]time.Time{}
		}
		// A token just minted elsewhere is soon accepted.
		a.bad[key] = now.Add(min(a.ttl, 2*time.Second))
	} else {
		if len(a.cache) >= 10000 {
			a.cache = map[string]authEntry{}
		}
		a.cache[key] = authEntry{id: id, expires: until}
	}
	if id == nil {
		return nil, errUnauthorized
	}
	return id, nil
}

// lookup reads a token record and, for a tenant token, checks that its
// tenant still exists as the same object. It returns nil for a bad token,
// and how long a good answer may be remembered: the cache TTL, but never
// past the token's expiry.
func (a *authenticator) lookup(ctx context.Context, key string, now time.Time) (*Identity, time.Time, error) {
	var rec tokenRecord
	err := a.store.Get(ctx, key, &rec)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil, time.Time{}, nil
	case err != nil:
		return nil, time.Time{}, fmt.Errorf("authenticate: %w", err)
	case rec.Spec.Expires != nil && !now.Before(rec.Spec.Expires.Time):
		return nil, time.Time{}, nil
	}
	until := now.Add(a.ttl)
	if rec.Spec.Expires != nil && rec.Spec.Expires.Time.Before(until) {
		until = rec.Spec.Expires.Time
	}
	if rec.Spec.Role == RoleTenant {
		var t api.Tenant
		err := a.store.Get(ctx, "/registry/tenants/"+rec.Spec.Tenant, &t)
		switch {
		case errors.Is(err, store.ErrNotFound):
			return nil, time.Time{}, nil
		case err != nil:
			return nil, time.Time{}, fmt.Errorf("authenticate: %w", err)
		case t.UID != rec.Spec.TenantUID:
			return nil, time.Time{}, nil
		}
	}
	return &Identity{Name: rec.Spec.User, Role: rec.Spec.Role, Tenant: rec.Spec.Tenant, Node: rec.Spec.Node, Machine: rec.Spec.Machine, tokenKey: key}, until, nil
}

// forget drops cached answers, after tokens are revoked.
func (a *authenticator) forget() {
	a.mu.Lock()
	a.cache = map[string]authEntry{}
	a.bad = map[string]time.Time{}
	a.gen++
	a.mu.Unlock()
}

// IssueToken mints a token for spec and stores its hash. The token itself is
// returned once and never stored or logged.
func (s *Server) IssueToken(ctx context.Context, spec TokenSpec) (string, error) {
	token, rec, err := newTokenRecord(spec)
	if err != nil {
		return "", err
	}
	if err := s.store.Create(ctx, tokenKey(token), rec); err != nil {
		return "", fmt.Errorf("store token: %w", err)
	}
	return token, nil
}

// Authenticate tells whether token is valid, for callers outside HTTP
// (cloudd checks its admin config on start).
func (s *Server) Authenticate(ctx context.Context, token string) (*Identity, error) {
	r := &http.Request{Header: http.Header{"Authorization": {"Bearer " + token}}}
	return s.auth.authenticate(ctx, r)
}

// revokeTenantTokens deletes every token of a tenant.
func (s *Server) revokeTenantTokens(ctx context.Context, tenant string) error {
	recs, _, err := s.store.List(ctx, tokenPrefix, func() api.Object { return &tokenRecord{} }, func(o api.Object) bool {
		return o.(*tokenRecord).Spec.Tenant == tenant
	})
	if err != nil {
		return err
	}
	for _, o := range recs {
		var out tokenRecord
		if err := s.store.Delete(ctx, tokenPrefix+o.GetObjectMeta().Name, 0, &out); err != nil && !errors.Is(err, store.ErrNotFound) {
			return err
		}
	}
	s.auth.forget()
	return nil
}
