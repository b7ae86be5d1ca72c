package apiserver

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
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
)

// LabelTenant on a Namespace names the tenant that owns it.
const LabelTenant = "cloudmgr.dev/tenant"

// Identity is who a request acts as.
type Identity struct {
	Name   string
	Role   Role
	Tenant string // for RoleTenant
}

// String names the identity in messages: "admin", "tenant:team-a".
func (id *Identity) String() string { return id.Name }

// TokenSpec describes what a token grants.
type TokenSpec struct {
	Role    Role      `json:"role"`
	User    string    `json:"user"`
	Tenant  string    `json:"tenant,omitempty"`
	Expires *api.Time `json:"expires,omitempty"`
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
	gen := a.gen
	a.mu.Unlock()
	if hit && now.Before(e.expires) {
		if e.id == nil {
			return nil, errUnauthorized
		}
		return e.id, nil
	}
	var rec tokenRecord
	err := a.store.Get(ctx, key, &rec)
	var id *Identity
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return nil, fmt.Errorf("authenticate: %w", err)
	case rec.Spec.Expires != nil && now.After(rec.Spec.Expires.Time):
	default:
		id = &Identity{Name: rec.Spec.User, Role: rec.Spec.Role, Tenant: rec.Spec.Tenant}
	}
	ttl := a.ttl
	if id == nil {
		ttl = min(ttl, 2*time.Second) // a token just minted elsewhere is soon accepted
	}
	a.mu.Lock()
	if len(a.cache) > 10000 {
		a.cache = map[string]authEntry{}
	}
	if a.gen == gen {
		a.cache[key] = authEntry{id: id, expires: now.Add(ttl)}
	}
	a.mu.Unlock()
	if id == nil {
		return nil, errUnauthorized
	}
	return id, nil
}

// forget drops cached answers, after tokens are revoked.
func (a *authenticator) forget() {
	a.mu.Lock()
	a.cache = map[string]authEntry{}
	a.gen++
	a.mu.Unlock()
}

// IssueToken mints a token for spec and stores its hash. The token itself is
// returned once and never stored or logged.
func (s *Server) IssueToken(ctx context.Context, spec TokenSpec) (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	token := "cm_" + base64.RawURLEncoding.EncodeToString(b)
	key := tokenKey(token)
	rec := &tokenRecord{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Token"},
		ObjectMeta: api.ObjectMeta{Name: key[len(tokenPrefix):], CreationTimestamp: api.Now()},
		Spec:       spec,
	}
	if err := s.store.Create(ctx, key, rec); err != nil {
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
