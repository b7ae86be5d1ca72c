package apiserver

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// SchedulerUser is the user name of the scheduler's token.
const SchedulerUser = "system:scheduler"

// authorizeScheduler applies the scheduler's rules: it may get, list and
// watch pods, nodes and priority classes in every namespace; bind pods;
// update the status of pods (only conditions and nominatedNodeName are
// taken, see merge); delete pods (preemption); and create events.
// Anything else is forbidden.
func authorizeScheduler(id *Identity, q *request) error {
	read := q.verb == "get" || q.verb == "list" || q.verb == "watch"
	switch q.kind.Kind {
	case api.KindPod:
		switch q.sub {
		case "":
			if read || q.verb == "delete" {
				return nil
			}
		case "binding":
			return nil // create is the only verb of the subresource
		case "status":
			return nil // get or update
		}
	case api.KindNode, api.KindPriorityClass:
		if read {
			return nil
		}
	case api.KindEvent:
		if q.verb == "create" {
			return nil
		}
	}
	return forbiddenSub(id, q)
}

// forbiddenSub is forbidden naming the subresource, such as pods/binding.
func forbiddenSub(id *Identity, q *request) error {
	if q.sub == "" {
		return forbidden(id, q.verb, q.kind, q.ns)
	}
	where := ""
	if q.ns != "" {
		where = fmt.Sprintf(" in the namespace %q", q.ns)
	}
	return errForbidden("%s %q is forbidden: User %q cannot %s resource \"%s/%s\"%s",
		q.kind.Resource, q.name, id.Name, q.verb, q.kind.Resource, q.sub, where)
}

// tokenSlotPrefix holds, for identities that the control plane mints
// tokens for itself (the in-process scheduler), the key of the current
// token, so the next one replaces it.
const tokenSlotPrefix = "/registry/tokenslots/"

// tokenSlot records which stored token currently holds a slot.
type tokenSlot struct {
	api.TypeMeta   `json:",inline"`
	api.ObjectMeta `json:"metadata"`
	Spec           struct {
		// TokenKey is the store key (hash) of the current token.
		TokenKey string `json:"tokenKey"`
	} `json:"spec"`
}

// SchedulerToken mints a token of the scheduler role for the control
// plane's in-process scheduler, and revokes the one the previous call
// minted, in the same transaction. A token is stored only as its hash, so
// the previous one cannot be handed out again; replacing it instead means
// that a cloudd restarted a thousand times holds one scheduler token, and
// that a token leaked from an earlier run stops working at the next start.
// Concurrent calls leave exactly one valid token: the last to commit.
func (s *Server) SchedulerToken(ctx context.Context) (string, error) {
	return s.replaceToken(ctx, "scheduler", TokenSpec{Role: RoleScheduler, User: SchedulerUser})
}

// SimulatorUser is the user name of the simulator's watch token.
const SimulatorUser = "system:simulator"

// SimulatorToken mints a token for an in-process simulator of nodes
// (providers/sim): one watch of pods and one of nodes serve all its
// simulated nodes, which act with their own node credentials. It has the
// scheduler's role (it reads pods and nodes everywhere) and replaces the
// one the previous call minted, as SchedulerToken does.
func (s *Server) SimulatorToken(ctx context.Context) (string, error) {
	return s.replaceToken(ctx, "simulator", TokenSpec{Role: RoleScheduler, User: SimulatorUser})
}

// replaceToken mints a token for spec that takes the place of the one
// held in slot, which is deleted in the same transaction.
func (s *Server) replaceToken(ctx context.Context, slot string, spec TokenSpec) (string, error) {
	slotKey := tokenSlotPrefix + slot
	for attempt := 0; ; attempt++ {
		var cur tokenSlot
		err := s.store.Get(ctx, slotKey, &cur)
		exists := err == nil
		if err != nil && !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
		token, rec, err := newTokenRecord(spec)
		if err != nil {
			return "", err
		}
		data, err := json.Marshal(rec)
		if err != nil {
			return "", fmt.Errorf("encode token: %w", err)
		}
		newKey := tokenKey(token)
		sides := []store.Side{{Key: newKey, Value: string(data)}}
		if old := cur.Spec.TokenKey; old != "" {
			sides = append(sides, store.Side{Key: old, Remove: true})
		}
		next := &tokenSlot{TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "TokenSlot"},
			ObjectMeta: api.ObjectMeta{Name: slot, CreationTimestamp: api.Now()}}
		next.Spec.TokenKey = newKey
		if exists {
			rev, _ := api.ParseResourceVersion(cur.ResourceVersion)
			next.CreationTimestamp = cur.CreationTimestamp
			err = s.store.UpdateIf(ctx, slotKey, next, rev, nil, sides)
		} else {
			err = s.store.CreateWith(ctx, slotKey, next, nil, sides)
		}
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrAlreadyExists) || errors.Is(err, store.ErrNotFound) {
			if err := backoff(ctx, attempt); err != nil {
				return "", err
			}
			continue // another call replaced it meanwhile
		}
		if err != nil {
			return "", fmt.Errorf("store token: %w", err)
		}
		s.auth.forget()
		return token, nil
	}
}

// newTokenRecord draws a token and the record stored under its hash.
func newTokenRecord(spec TokenSpec) (string, *tokenRecord, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", nil, fmt.Errorf("random token: %w", err)
	}
	token := "cm_" + base64.RawURLEncoding.EncodeToString(b)
	key := tokenKey(token)
	return token, &tokenRecord{
		TypeMeta:   api.TypeMeta{APIVersion: "v1", Kind: "Token"},
		ObjectMeta: api.ObjectMeta{Name: key[len(tokenPrefix):], CreationTimestamp: api.Now()},
		Spec:       spec,
	}, nil
}
