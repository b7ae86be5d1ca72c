package store

import (
	"context"
	"fmt"
	"strconv"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/cloudmgr/cloud/api"
)

// Write is one object write of a Commit: Obj replaces the object at Key,
// or with Delete the key is removed, in either case only if the key's
// revision is still Rev.
type Write struct {
	Key    string
	Obj    api.Object
	Rev    int64
	Delete bool
}

// Commit makes all writes in one transaction, each under a
// compare-and-swap on its revision: either all are stored or none. This
// is how two objects that must change together do (an eviction marks a pod
// deleted and charges its disruption budget). A key that is gone is
// ErrNotFound, one that changed ErrConflict, both naming the key. On
// success each written Obj carries the new resourceVersion.
func (s *Store) Commit(ctx context.Context, writes []Write) error {
	cmps := make([]clientv3.Cmp, 0, len(writes))
	ops := make([]clientv3.Op, 0, len(writes))
	reads := make([]clientv3.Op, 0, len(writes))
	for _, w := range writes {
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(w.Key), "=", w.Rev))
		reads = append(reads, clientv3.OpGet(w.Key, clientv3.WithKeysOnly()))
		if w.Delete {
			ops = append(ops, clientv3.OpDelete(w.Key))
			continue
		}
		data, err := encode(w.Obj)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(w.Key, string(data)))
	}
	resp, err := s.client.Txn(ctx).If(cmps...).Then(ops...).Else(reads...).Commit()
	if err != nil {
		return fmt.Errorf("commit %d writes: %w", len(writes), err)
	}
	if !resp.Succeeded {
		for i, w := range writes {
			kvs := resp.Responses[i].GetResponseRange().Kvs
			switch {
			case len(kvs) == 0:
				return fmt.Errorf("%s: %w", w.Key, ErrNotFound)
			case kvs[0].ModRevision != w.Rev:
				return fmt.Errorf("%s: %w", w.Key, ErrConflict)
			}
		}
		return fmt.Errorf("commit: %w", ErrConflict) // not reached: some comparison failed
	}
	rv := strconv.FormatInt(resp.Header.Revision, 10)
	for _, w := range writes {
		if w.Obj != nil {
			w.Obj.GetObjectMeta().ResourceVersion = rv
		}
	}
	return nil
}
