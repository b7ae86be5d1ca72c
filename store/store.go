// Package store keeps API objects in etcd, the only source of truth of the
// control plane. An object's resourceVersion is its etcd modification
// revision; updates compare-and-swap on it, and watches resume from a
// revision without missing or repeating events.
package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
)

// Sentinel errors at the package boundary; the API server converts them to
// HTTP statuses once. Match them with errors.Is.
var (
	// ErrNotFound: the key does not exist (or a required key is missing).
	ErrNotFound = errors.New("not found")
	// ErrAlreadyExists: a create found the key taken.
	ErrAlreadyExists = errors.New("already exists")
	// ErrConflict: the stored revision is not the one the caller read.
	ErrConflict = errors.New("the object has been modified; please apply your changes to the latest version and try again")
	// ErrTooOld: the requested revision has been compacted; the caller must relist.
	ErrTooOld = errors.New("too old resource version")
)

// Store is typed storage over an etcd client.
type Store struct {
	client *clientv3.Client
}

// New returns a store that uses client. The caller owns the client.
func New(client *clientv3.Client) *Store { return &Store{client: client} }

// Client exposes the etcd client for health checks and benchmarks.
func (s *Store) Client() *clientv3.Client { return s.client }

// encode writes obj compactly. The resourceVersion is derived from the etcd
// revision on every read, so it is not stored.
func encode(obj api.Object) ([]byte, error) {
	m := obj.GetObjectMeta()
	rv := m.ResourceVersion
	m.ResourceVersion = ""
	data, err := json.Marshal(obj)
	m.ResourceVersion = rv
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", m.Name, err)
	}
	return data, nil
}

func decode(data []byte, rev int64, into api.Object) error {
	if err := json.Unmarshal(data, into); err != nil {
		return fmt.Errorf("decode stored object: %w", err)
	}
	into.GetObjectMeta().ResourceVersion = strconv.FormatInt(rev, 10)
	return nil
}

// Get reads the object at key into out.
func (s *Store) Get(ctx context.Context, key string, out api.Object) error {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	kv := resp.Kvs[0]
	return decode(kv.Value, kv.ModRevision, out)
}

// List reads every object under prefix at one revision, keeps those for
// which keep returns true (keep may be nil), and returns them with the
// revision they were read at.
func (s *Store) List(ctx context.Context, prefix string, newObj func() api.Object, keep func(api.Object) bool) ([]api.Object, int64, error) {
	const page = 1000
	var out []api.Object
	var rev int64
	key := prefix
	end := clientv3.GetPrefixRangeEnd(prefix)
	for {
		opts := []clientv3.OpOption{clientv3.WithRange(end), clientv3.WithLimit(page)}
		if rev != 0 {
			opts = append(opts, clientv3.WithRev(rev))
		}
		resp, err := s.client.Get(ctx, key, opts...)
		if err != nil {
			return nil, 0, fmt.Errorf("list %s: %w", prefix, err)
		}
		if rev == 0 {
			rev = resp.Header.Revision
		}
		for _, kv := range resp.Kvs {
			obj := newObj()
			if err := decode(kv.Value, kv.ModRevision, obj); err != nil {
				return nil, 0, fmt.Errorf("%s: %w", kv.Key, err)
			}
			if keep == nil || keep(obj) {
				out = append(out, obj)
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return out, rev, nil
		}
		key = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// Cond is a precondition of a write on another key, checked in the same
// transaction: the namespace must exist, say, and must not be terminating,
// or the node a pod is bound to must exist.
type Cond struct {
	Key    string
	Absent bool // the key must not exist (by default it must)
}

// ErrPresent: a key that a Cond requires to be absent exists.
var ErrPresent = errors.New("a key that must be absent exists")

// CondError is a Cond that did not hold. It wraps ErrNotFound (a required
// key is missing) or ErrPresent (a forbidden key exists), so callers that
// only need the kind of failure match those, and callers that must tell
// which key failed read Key.
type CondError struct {
	Key    string
	Absent bool
}

// Error names the key, as the other store errors do.
func (e *CondError) Error() string { return e.Key + ": " + e.Unwrap().Error() }

// Unwrap returns ErrPresent or ErrNotFound.
func (e *CondError) Unwrap() error {
	if e.Absent {
		return ErrPresent
	}
	return ErrNotFound
}

// Side is another key written (or removed) in the same transaction as an
// object, as raw bytes: a marker that a Cond of later writes looks at (the
// name of the one default priority class), or a record that must change
// together with the object.
type Side struct {
	Key   string
	Value string
	// Remove deletes the key instead of writing Value.
	Remove bool
}

func condCmps(conds []Cond) []clientv3.Cmp {
	cmps := make([]clientv3.Cmp, len(conds))
	for i, c := range conds {
		if c.Absent {
			cmps[i] = clientv3.Compare(clientv3.CreateRevision(c.Key), "=", 0)
		} else {
			cmps[i] = clientv3.Compare(clientv3.CreateRevision(c.Key), ">", 0)
		}
	}
	return cmps
}

func sideOps(sides []Side) []clientv3.Op {
	ops := make([]clientv3.Op, len(sides))
	for i, m := range sides {
		if m.Remove {
			ops[i] = clientv3.OpDelete(m.Key)
		} else {
			ops[i] = clientv3.OpPut(m.Key, m.Value)
		}
	}
	return ops
}

// failedCond finds the condition that failed from the count-only reads of
// a failed transaction (one per condition); nil if all held.
func failedCond(conds []Cond, resps []*etcdserverpb.ResponseOp) error {
	for i, c := range conds {
		exists := resps[i].GetResponseRange().Count > 0
		if exists == c.Absent {
			return &CondError{Key: c.Key, Absent: c.Absent}
		}
	}
	return nil
}

func condReads(conds []Cond) []clientv3.Op {
	ops := make([]clientv3.Op, len(conds))
	for i, c := range conds {
		ops[i] = clientv3.OpGet(c.Key, clientv3.WithCountOnly())
	}
	return ops
}

// Create stores obj at key if the key is free and every condition holds,
// all in one transaction. A failed condition is a *CondError (wrapping
// ErrNotFound or ErrPresent) naming its key; a taken key is
// ErrAlreadyExists. On success obj carries its new resourceVersion.
func (s *Store) Create(ctx context.Context, key string, obj api.Object, conds ...Cond) error {
	return s.CreateWith(ctx, key, obj, conds, nil)
}

// CreateWith is Create that also makes side writes in the same transaction.
func (s *Store) CreateWith(ctx context.Context, key string, obj api.Object, conds []Cond, sides []Side) error {
	data, err := encode(obj)
	if err != nil {
		return err
	}
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.CreateRevision(key), "=", 0)}, condCmps(conds)...)
	ops := append([]clientv3.Op{clientv3.OpPut(key, string(data))}, sideOps(sides)...)
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(condReads(conds)...).Commit()
	if err != nil {
		return fmt.Errorf("create %s: %w", key, err)
	}
	if !resp.Succeeded {
		if err := failedCond(conds, resp.Responses); err != nil {
			return err
		}
		return fmt.Errorf("%s: %w", key, ErrAlreadyExists)
	}
	obj.GetObjectMeta().ResourceVersion = strconv.FormatInt(resp.Header.Revision, 10)
	return nil
}

// Raw reads the value of a key that holds no object, such as a marker;
// ok is false when it is absent.
func (s *Store) Raw(ctx context.Context, key string) (value string, ok bool, err error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return "", false, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return "", false, nil
	}
	return string(resp.Kvs[0].Value), true, nil
}

// Mark writes a key that holds no object, such as the marker of a
// terminating namespace that Create conditions look at. It is idempotent.
func (s *Store) Mark(ctx context.Context, key string) error {
	if _, err := s.client.Put(ctx, key, ""); err != nil {
		return fmt.Errorf("mark %s: %w", key, err)
	}
	return nil
}

// GetWithCreateRevision reads the object at key like Get and also returns
// the revision at which the key was created, which tells two objects of
// the same name apart in time.
func (s *Store) GetWithCreateRevision(ctx context.Context, key string, out api.Object) (int64, error) {
	resp, err := s.client.Get(ctx, key)
	if err != nil {
		return 0, fmt.Errorf("get %s: %w", key, err)
	}
	if len(resp.Kvs) == 0 {
		return 0, fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	kv := resp.Kvs[0]
	return kv.CreateRevision, decode(kv.Value, kv.ModRevision, out)
}

// Update replaces the object at key if its revision is still expectedRev.
// A different revision is ErrConflict, a missing key ErrNotFound. On success
// obj carries its new resourceVersion.
func (s *Store) Update(ctx context.Context, key string, obj api.Object, expectedRev int64) error {
	return s.UpdateIf(ctx, key, obj, expectedRev, nil, nil)
}

// UpdateIf is Update that also requires conds and makes side writes, all in
// the same transaction: a binding stores the pod only while its node
// exists. The failures are checked in this order: a missing object is
// ErrNotFound, a changed one ErrConflict, a failed condition a *CondError.
func (s *Store) UpdateIf(ctx context.Context, key string, obj api.Object, expectedRev int64, conds []Cond, sides []Side) error {
	data, err := encode(obj)
	if err != nil {
		return err
	}
	cmps := append([]clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", expectedRev)}, condCmps(conds)...)
	ops := append([]clientv3.Op{clientv3.OpPut(key, string(data))}, sideOps(sides)...)
	reads := append([]clientv3.Op{clientv3.OpGet(key, clientv3.WithKeysOnly())}, condReads(conds)...)
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(reads...).Commit()
	if err != nil {
		return fmt.Errorf("update %s: %w", key, err)
	}
	if !resp.Succeeded {
		kvs := resp.Responses[0].GetResponseRange().Kvs
		switch {
		case len(kvs) == 0:
			return fmt.Errorf("%s: %w", key, ErrNotFound)
		case kvs[0].ModRevision != expectedRev:
			return fmt.Errorf("%s: %w", key, ErrConflict)
		}
		if err := failedCond(conds, resp.Responses[1:]); err != nil {
			return err
		}
		return fmt.Errorf("%s: %w", key, ErrConflict) // not reached: some comparison failed
	}
	obj.GetObjectMeta().ResourceVersion = strconv.FormatInt(resp.Header.Revision, 10)
	return nil
}

// UpdateFunc computes the next state of an object from the current one. It
// returns nil to mean "leave it as it is".
type UpdateFunc func(current api.Object) (api.Object, error)

// GuaranteedUpdate reads the object at key, applies fn and writes the result
// with a compare-and-swap, retrying on conflict until ctx ends. It returns
// the state that was stored.
func (s *Store) GuaranteedUpdate(ctx context.Context, key string, newObj func() api.Object, fn UpdateFunc) (api.Object, error) {
	for attempt := 0; ; attempt++ {
		cur := newObj()
		if err := s.Get(ctx, key, cur); err != nil {
			return nil, err
		}
		rev, _ := strconv.ParseInt(cur.GetObjectMeta().ResourceVersion, 10, 64)
		next, err := fn(cur)
		if err != nil {
			return nil, err
		}
		if next == nil {
			return cur, nil
		}
		err = s.Update(ctx, key, next, rev)
		if err == nil {
			return next, nil
		}
		if !errors.Is(err, ErrConflict) {
			return nil, err
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(time.Duration(attempt%10) * time.Millisecond):
		}
	}
}

// Delete removes the object at key, if expectedRev is 0 or equals its
// revision, together with everything under alsoPrefixes (the contents of a
// namespace), in one transaction. It returns the deleted object in out.
func (s *Store) Delete(ctx context.Context, key string, expectedRev int64, out api.Object, alsoPrefixes ...string) error {
	cmp := clientv3.Compare(clientv3.CreateRevision(key), ">", 0)
	if expectedRev != 0 {
		cmp = clientv3.Compare(clientv3.ModRevision(key), "=", expectedRev)
	}
	ops := []clientv3.Op{clientv3.OpDelete(key, clientv3.WithPrevKV())}
	for _, p := range alsoPrefixes {
		ops = append(ops, clientv3.OpDelete(p, clientv3.WithPrefix()))
	}
	resp, err := s.client.Txn(ctx).If(cmp).Then(ops...).Else(clientv3.OpGet(key, clientv3.WithCountOnly())).Commit()
	if err != nil {
		return fmt.Errorf("delete %s: %w", key, err)
	}
	if !resp.Succeeded {
		if resp.Responses[0].GetResponseRange().Count == 0 {
			return fmt.Errorf("%s: %w", key, ErrNotFound)
		}
		return fmt.Errorf("%s: %w", key, ErrConflict)
	}
	prev := resp.Responses[0].GetResponseDeleteRange().PrevKvs
	if len(prev) == 0 {
		return fmt.Errorf("%s: %w", key, ErrNotFound)
	}
	return decode(prev[0].Value, resp.Header.Revision, out)
}

// CurrentRevision returns the store's latest revision.
func (s *Store) CurrentRevision(ctx context.Context) (int64, error) {
	resp, err := s.client.Get(ctx, "/registry/", clientv3.WithCountOnly(), clientv3.WithLimit(1))
	if err != nil {
		return 0, fmt.Errorf("read revision: %w", err)
	}
	return resp.Header.Revision, nil
}
