package caas

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// relister decides which pods a resync tick syncs, after the kubelet's
// pod lifecycle event generator: one list of all the agent's containers
// per tick, and a sync only for the pods whose containers changed since
// the last list, plus those that still need attention (pending, being
// deleted, in a back-off that may have ended, whose last sync failed). A
// slow full resync of every pod is the safety net for whatever no signal
// covers.
type relister struct {
	full time.Duration

	// prints are the fingerprints of the last list, by pod UID; only the
	// relist loop touches them.
	prints   map[string]string
	lastTick time.Time
	lastFull time.Time

	mu sync.Mutex
	// failed are the keys of the pods whose last sync returned an error.
	failed map[string]bool
}

func newRelister(full time.Duration) *relister {
	return &relister{full: full, prints: map[string]string{}, failed: map[string]bool{}}
}

// syncDone records how the sync of the pod with key ended.
func (r *relister) syncDone(key string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if err != nil {
		r.failed[key] = true
	} else {
		delete(r.failed, key)
	}
}

func (r *relister) hasFailed(key string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failed[key]
}

// fingerprints sums up each pod's containers (ID, state, exit code,
// attempt, OOM kill), by pod UID: a pod whose fingerprint changes has a
// container that started, exited, was replaced or went away.
func fingerprints(list []ContainerStatus) map[string]string {
	byPod := map[string][]ContainerStatus{}
	for _, c := range list {
		byPod[c.PodUID] = append(byPod[c.PodUID], c)
	}
	out := make(map[string]string, len(byPod))
	for uid, cs := range byPod {
		slices.SortFunc(cs, func(a, b ContainerStatus) int { return strings.Compare(a.ID, b.ID) })
		var b strings.Builder
		for _, c := range cs {
			fmt.Fprintf(&b, "%s:%s:%d:%d:%t;", c.ID, c.State, c.ExitCode, c.Attempt, c.OOMKilled)
		}
		out[uid] = b.String()
	}
	return out
}

// relist lists the containers once, removes those of pods gone from the
// node, and returns the keys of the pods to sync now.
func (m *PodManager) relist(ctx context.Context, cache *client.Cache, r *relister) []string {
	now := time.Now()
	pods := cache.List()
	list, err := m.rt.ListContainers(ctx)
	if err != nil {
		// Blind this tick: look at every pod, as a full resync does.
		m.log.Warn("list containers", "err", err)
		return keysOf(pods)
	}
	m.cleanOrphans(ctx, pods, list)
	if r.lastFull.IsZero() || now.Sub(r.lastFull) >= r.full {
		r.lastFull, r.lastTick, r.prints = now, now, fingerprints(list)
		return keysOf(pods)
	}
	prints := fingerprints(list)
	due := m.backoffDue(r.lastTick, now)
	var keys []string
	for _, o := range pods {
		meta := o.GetObjectMeta()
		key := client.Key(o)
		if prints[meta.UID] != r.prints[meta.UID] || due[meta.UID] || needsAttention(o) || r.hasFailed(key) {
			keys = append(keys, key)
		}
	}
	r.prints, r.lastTick = prints, now
	return keys
}

// needsAttention reports a pod that is synced every tick whatever its
// containers do: one being deleted, or one not yet seen running all its
// containers.
func needsAttention(o api.Object) bool {
	if o.GetObjectMeta().DeletionTimestamp != nil {
		return true
	}
	p, ok := o.(*api.Pod)
	return ok && (p.Status.Phase == "" || p.Status.Phase == api.PodPending)
}

// backoffDue returns the UIDs of the pods with a container whose back-off
// ended since the last tick, or ended and still waits (its retry has not
// cleared the waiting reason yet).
func (m *PodManager) backoffDue(last, now time.Time) map[string]bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	due := map[string]bool{}
	for key, b := range m.backoff {
		if b.until.After(now) {
			continue
		}
		if _, waiting := m.waiting[key]; waiting || b.until.After(last) {
			uid, _, _ := strings.Cut(key, "/")
			due[uid] = true
		}
	}
	return due
}

func keysOf(objs []api.Object) []string {
	keys := make([]string, 0, len(objs))
	for _, o := range objs {
		keys = append(keys, client.Key(o))
	}
	return keys
}
