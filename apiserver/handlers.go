package apiserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"slices"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// storeKey is /registry/<resource>/<namespace>/<name>, or
// /registry/<resource>/<name> for cluster-scoped kinds.
func storeKey(k *api.KindInfo, ns, name string) string {
	if k.Namespaced {
		return "/registry/" + k.Resource + "/" + ns + "/" + name
	}
	return "/registry/" + k.Resource + "/" + name
}

// storePrefix is the key prefix of a collection; ns "" means all namespaces.
func storePrefix(k *api.KindInfo, ns string) string {
	if k.Namespaced && ns != "" {
		return "/registry/" + k.Resource + "/" + ns + "/"
	}
	return "/registry/" + k.Resource + "/"
}

func (s *Server) get(w http.ResponseWriter, r *http.Request, q *request) error {
	obj := q.kind.New()
	if err := s.store.Get(r.Context(), storeKey(q.kind, q.ns, q.name), obj); err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, obj)
	return nil
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, q *request, acc access) error {
	keep, err := s.filter(r, q, acc)
	if err != nil {
		return err
	}
	items, rev, err := s.store.List(r.Context(), storePrefix(q.kind, q.ns), q.kind.New, keep)
	if err != nil {
		return err
	}
	// Encode items one by one into one buffer: no second copy of the list.
	var buf bytes.Buffer
	fmt.Fprintf(&buf, `{"apiVersion":%q,"kind":%q,"metadata":{"resourceVersion":"%d"},"items":[`, q.kind.APIVersion(), q.kind.ListKind(), rev)
	enc := json.NewEncoder(&buf)
	for i, o := range items {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(o); err != nil {
			return fmt.Errorf("encode list: %w", err)
		}
	}
	buf.WriteString("]}\n")
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(buf.Bytes())
	return nil
}

// readBody reads a bounded JSON or YAML body.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mt, _, err := mime.ParseMediaType(ct)
		if err != nil || (mt != "application/json" && mt != "application/yaml" && mt != "application/x-yaml" && mt != "text/yaml") {
			return nil, newStatus(http.StatusUnsupportedMediaType, api.StatusReasonUnsupportedMediaType,
				fmt.Sprintf("unsupported media type %q; use application/json or application/yaml", ct))
		}
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, err
		}
		return nil, errBadRequest("read body: %v", err)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errBadRequest("the request body is empty")
	}
	return data, nil
}

// decodeBody strictly decodes the body into a new object of the kind the
// URL names, and reconciles the body's type, name and namespace with it.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, q *request) (api.Object, error) {
	data, err := s.readBody(w, r)
	if err != nil {
		return nil, err
	}
	obj := q.kind.New()
	want := *obj.GetTypeMeta()
	if err := s.scheme.DecodeInto(data, obj); err != nil {
		return nil, err
	}
	tm := obj.GetTypeMeta()
	if (tm.Kind != "" && tm.Kind != want.Kind) || (tm.APIVersion != "" && tm.APIVersion != want.APIVersion) {
		return nil, errBadRequest("the body is a %s %s but the URL is for %s %s", tm.APIVersion, tm.Kind, want.APIVersion, want.Kind)
	}
	*tm = want
	m := obj.GetObjectMeta()
	if q.kind.Namespaced {
		switch {
		case m.Namespace == "":
			m.Namespace = q.ns
		case q.ns != "" && m.Namespace != q.ns:
			return nil, errBadRequest("the namespace of the object (%s) does not match the namespace of the request (%s)", m.Namespace, q.ns)
		}
		if m.Namespace == "" {
			return nil, errBadRequest("a namespace is required to create a %s", q.kind.Kind)
		}
	} else if m.Namespace != "" {
		return nil, invalid(q.kind, m.Name, api.ErrorList{{Type: api.ErrorTypeForbidden, Field: "metadata.namespace", Detail: "not allowed on a cluster-scoped resource"}})
	}
	if q.name != "" && m.Name != "" && m.Name != q.name {
		return nil, errBadRequest("the name of the object (%s) does not match the name in the URL (%s)", m.Name, q.name)
	}
	if q.name != "" {
		m.Name = q.name
	}
	return obj, nil
}

func newUID() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:])
}

// prepareCreate sets what the server owns on a new object.
func (s *Server) prepareCreate(k *api.KindInfo, obj api.Object) {
	m := obj.GetObjectMeta()
	m.UID = newUID()
	m.CreationTimestamp = api.Now()
	m.ResourceVersion = ""
	m.Generation = 1
	m.DeletionTimestamp = nil
	m.DeletionGracePeriodSeconds = nil
	if k.PrepareForCreate != nil {
		k.PrepareForCreate(obj)
	}
	if k.Default != nil {
		k.Default(obj)
	}
}

func validate(k *api.KindInfo, obj api.Object) error {
	if k.Validate == nil {
		return nil
	}
	if errs := k.Validate(obj); len(errs) > 0 {
		return invalid(k, obj.GetObjectMeta().Name, errs)
	}
	return nil
}

func (s *Server) create(w http.ResponseWriter, r *http.Request, q *request, id *Identity) error {
	if q.name != "" {
		return errMethod(r.Method)
	}
	obj, err := s.decodeBody(w, r, q)
	if err != nil {
		return err
	}
	m := obj.GetObjectMeta()
	generated := m.Name == "" && m.GenerateName != ""
	for attempt := 0; ; attempt++ {
		if generated {
			m.Name = m.GenerateName + randomSuffix()
		}
		q.name = m.Name
		s.prepareCreate(q.kind, obj)
		claimNamespace(q.kind, obj, id)
		if err := admitNode(id, obj); err != nil {
			return err
		}
		if err := s.admitMachineNodeCreate(r.Context(), id, obj); err != nil {
			return err
		}
		if err := validate(q.kind, obj); err != nil {
			return err
		}
		if p, ok := obj.(*api.Pod); ok {
			if err := s.admitPod(r.Context(), id, q.kind, p); err != nil {
				return err
			}
		}
		if q.kind.Kind == "Tenant" {
			return s.createTenant(r.Context(), w, q, obj.(*api.Tenant))
		}
		var conds []store.Cond
		if q.kind.Namespaced {
			conds = append(conds, store.Cond{Key: "/registry/namespaces/" + m.Namespace},
				store.Cond{Key: terminatingKey(m.Namespace), Absent: true})
		}
		moreConds, sides := writeConds(obj, nil)
		err := s.store.CreateWith(r.Context(), storeKey(q.kind, m.Namespace, m.Name), obj, append(conds, moreConds...), sides)
		switch {
		case isDefaultTaken(err):
			return s.errDefaultTaken(r.Context(), q.kind, m.Name)
		case errors.Is(err, store.ErrAlreadyExists) && generated && attempt < 5:
			continue // an unlucky draw: draw again
		case errors.Is(err, store.ErrNotFound):
			return errNotFound("namespaces", m.Namespace)
		case errors.Is(err, store.ErrPresent):
			return errForbidden("%s %q is forbidden: unable to create new content in namespace %s because it is being terminated",
				q.kind.Resource, m.Name, m.Namespace)
		case err != nil:
			return err
		}
		writeJSON(w, http.StatusCreated, obj)
		return nil
	}
}

// randomSuffix is five characters for generateName, from the alphabet
// Kubernetes uses (no vowels, so no words; no look-alike characters).
func randomSuffix() string {
	const alphabet = "bcdfghjklmnpqrstvwxz2456789"
	var b [5]byte
	_, _ = rand.Read(b[:])
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b[:])
}

// claimNamespace labels a namespace written by a tenant as the tenant's:
// the label is what authorization trusts, so a tenant may neither set it to
// another tenant nor drop it.
func claimNamespace(k *api.KindInfo, obj api.Object, id *Identity) {
	if k.Kind != "Namespace" || id.Role != RoleTenant {
		return
	}
	m := obj.GetObjectMeta()
	if m.Labels == nil {
		m.Labels = map[string]string{}
	}
	m.Labels[LabelTenant] = id.Tenant
}

// errDeleteNow tells the update loop that the object lost its last
// finalizer while being deleted, so it is to be removed.
var errDeleteNow = errors.New("delete now")

func (s *Server) update(w http.ResponseWriter, r *http.Request, q *request, id *Identity) error {
	in, err := s.decodeBody(w, r, q)
	if err != nil {
		return err
	}
	claimNamespace(q.kind, in, id)
	if err := admitNode(id, in); err != nil {
		return err
	}
	wantRev, err := api.ParseResourceVersion(in.GetObjectMeta().ResourceVersion)
	if err != nil {
		return errBadRequest("%v", err)
	}
	key := storeKey(q.kind, q.ns, q.name)
	var stored api.Object
	for attempt := 0; ; attempt++ {
		cur := q.kind.New()
		if err := s.store.Get(r.Context(), key, cur); err != nil {
			return err
		}
		curRev, _ := api.ParseResourceVersion(cur.GetObjectMeta().ResourceVersion)
		if wantRev != 0 && curRev != wantRev {
			return fmt.Errorf("%s: %w", key, store.ErrConflict)
		}
		next, err := s.merge(q, id, in, cur)
		if errors.Is(err, errDeleteNow) {
			// Store the change first (watchers see the finalizer go), then
			// remove the object as of that state.
			if err = s.store.Update(r.Context(), key, next, curRev); err == nil {
				newRev, _ := api.ParseResourceVersion(next.GetObjectMeta().ResourceVersion)
				out := q.kind.New()
				if err = s.remove(r.Context(), q.kind, q.name, key, newRev, out); err == nil {
					writeJSON(w, http.StatusOK, out)
					return nil
				}
			}
		} else if err != nil {
			return err
		} else {
			conds, sides := writeConds(next, cur)
			err = s.store.UpdateIf(r.Context(), key, next, curRev, conds, sides)
			if isDefaultTaken(err) {
				return s.errDefaultTaken(r.Context(), q.kind, q.name)
			}
			stored = next
		}
		if errors.Is(err, store.ErrConflict) && wantRev == 0 {
			if err := backoff(r.Context(), attempt); err != nil {
				return err
			}
			continue // unconditional update: retry on the newer state
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, stored)
		return nil
	}
}

// merge computes the object to store from the request body and the stored
// state: the status subresource changes only status (and for the
// scheduler only a pod's conditions and nominated node), the main resource
// everything but status and server-owned metadata.
func (s *Server) merge(q *request, id *Identity, in, cur api.Object) (api.Object, error) {
	k := q.kind
	var next api.Object
	switch {
	case q.sub == "status" && id.Role == RoleScheduler:
		next = cur
		if p, ok := next.(*api.Pod); ok {
			inPod := in.(*api.Pod)
			p.Status.Conditions, p.Status.NominatedNodeName = inPod.Status.Conditions, inPod.Status.NominatedNodeName
		}
	case q.sub == "status" && id.Role == RoleIaaSController && k.Kind == api.KindNode:
		// Of a node's status the IaaS controllers own one condition; the
		// rest is its agent's.
		next = cur
		mergeNodeCondition(next.(*api.Node), in.(*api.Node), api.NodeHypervisorReachable)
	case q.sub == "status":
		next = cur
		setField(next, "Status", getField(in, "Status"))
	case q.sub == api.SubresourceFinalize:
		// Only spec.finalizers changes, as in Kubernetes.
		next = cur
		ns := next.(*api.Namespace)
		before := slices.Clone(ns.Spec.Finalizers)
		ns.Spec.Finalizers = in.(*api.Namespace).Spec.Finalizers
		if !slices.Equal(before, ns.Spec.Finalizers) {
			ns.Generation++
		}
	default:
		next = in
		nm, cm := next.GetObjectMeta(), cur.GetObjectMeta()
		nm.UID, nm.CreationTimestamp = cm.UID, cm.CreationTimestamp
		nm.DeletionTimestamp, nm.DeletionGracePeriodSeconds = cm.DeletionTimestamp, cm.DeletionGracePeriodSeconds
		nm.Generation = cm.Generation
		if k.HasStatus {
			setField(next, "Status", getField(cur, "Status"))
		}
		if k.PrepareForUpdate != nil {
			k.PrepareForUpdate(next, cur)
		}
		if k.Default != nil {
			k.Default(next)
		}
		if err := admitPodUpdate(k, id, next, cur); err != nil {
			return nil, err
		}
		if err := admitMachineNodeUpdate(k, id, next, cur); err != nil {
			return nil, err
		}
		if err := admitIaaSControllerUpdate(k, id, next, cur); err != nil {
			return nil, err
		}
		if !fieldEqual(next, cur, "Spec") {
			nm.Generation++
		}
	}
	if err := validate(k, next); err != nil {
		return nil, err
	}
	if k.ValidateUpdate != nil {
		if errs := k.ValidateUpdate(next, cur); len(errs) > 0 {
			return nil, invalid(k, next.GetObjectMeta().Name, errs)
		}
	}
	if nm := next.GetObjectMeta(); (q.sub == "" || q.sub == api.SubresourceFinalize) && nm.DeletionTimestamp != nil && len(nm.Finalizers) == 0 && !heldByNamespaceFinalizers(next) && (!awaitsTermination(next) || forced(nm)) {
		return next, errDeleteNow
	}
	return next, nil
}

func getField(obj api.Object, name string) reflect.Value {
	return reflect.ValueOf(obj).Elem().FieldByName(name)
}

func setField(obj api.Object, name string, v reflect.Value) {
	f := reflect.ValueOf(obj).Elem().FieldByName(name)
	if f.IsValid() && v.IsValid() {
		f.Set(v)
	}
}

func fieldEqual(a, b api.Object, name string) bool {
	fa, fb := getField(a, name), getField(b, name)
	if !fa.IsValid() || !fb.IsValid() {
		return true
	}
	ja, _ := json.Marshal(fa.Interface())
	jb, _ := json.Marshal(fb.Interface())
	return bytes.Equal(ja, jb)
}

// awaitsTermination is true for a pod that a node still runs: deleting it
// only marks it, and the node agent removes it once its containers stop.
func awaitsTermination(obj api.Object) bool {
	p, ok := obj.(*api.Pod)
	return ok && p.Spec.NodeName != "" && p.Status.Phase != api.PodSucceeded && p.Status.Phase != api.PodFailed
}

// forced is true for an object whose deletion grace period is 0: a node
// confirmed its pod stopped, or a user forced the delete, while finalizers
// held it; it goes once they do.
func forced(m *api.ObjectMeta) bool {
	return m.DeletionGracePeriodSeconds != nil && *m.DeletionGracePeriodSeconds == 0
}

func (s *Server) delete(w http.ResponseWriter, r *http.Request, q *request) error {
	if q.kind.Kind == "Namespace" && slices.Contains(systemNamespaces, q.name) {
		return errForbidden("namespaces %q is forbidden: this namespace may not be deleted", q.name)
	}
	grace, policy, pre, err := s.deleteOptions(w, r)
	if err != nil {
		return err
	}
	finalizer := ""
	switch policy {
	case api.DeletePropagationOrphan:
		finalizer = api.FinalizerOrphanDependents
	case api.DeletePropagationForeground:
		finalizer = api.FinalizerDeleteDependents
	}
	return s.deleteObject(w, r, q, grace, finalizer, pre)
}

// deleteObject deletes the object q names, gracefully when grace allows;
// a non-empty finalizer (orphan or foreground propagation) is added and
// keeps the object until the garbage collector removes it. pre (may be
// nil) is checked against each state the delete is attempted on, and the
// store's compare-and-swap on that state's revision makes the check hold
// at the write.
func (s *Server) deleteObject(w http.ResponseWriter, r *http.Request, q *request, grace *int64, finalizer string, pre *api.Preconditions) error {
	ctx := r.Context()
	key := storeKey(q.kind, q.ns, q.name)
	if q.kind.Kind == "Namespace" {
		out := q.kind.New()
		if err := s.terminateNamespace(ctx, q.name, pre, out); err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
	for attempt := 0; ; attempt++ {
		cur := q.kind.New()
		if err := s.store.Get(ctx, key, cur); err != nil {
			return err
		}
		m := cur.GetObjectMeta()
		if err := checkPreconditions(pre, q.kind, m); err != nil {
			return err
		}
		rev, _ := api.ParseResourceVersion(m.ResourceVersion)
		graceful := awaitsTermination(cur) && (grace == nil || *grace > 0)
		if len(m.Finalizers) > 0 || graceful || finalizer != "" {
			err := s.markDeleted(ctx, key, cur, rev, grace, finalizer)
			if errors.Is(err, store.ErrConflict) {
				if err := backoff(ctx, attempt); err != nil {
					return err
				}
				continue
			}
			if err != nil {
				return err
			}
			writeJSON(w, http.StatusOK, cur)
			return nil
		}
		out := q.kind.New()
		err := s.remove(ctx, q.kind, q.name, key, rev, out)
		if errors.Is(err, store.ErrConflict) {
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return err
		}
		writeJSON(w, http.StatusOK, out)
		return nil
	}
}

// remove deletes an object from storage at revision rev with what goes
// with it: a namespace's contents, a tenant's tokens and namespaces. Both a
// direct delete and the update that drops the last finalizer end here.
func (s *Server) remove(ctx context.Context, k *api.KindInfo, name, key string, rev int64, out api.Object) error {
	switch k.Kind {
	case "Namespace":
		return s.purgeNamespace(ctx, name, out)
	case "Tenant":
		// Tokens first: if anything below fails, the tenant is still there
		// to delete again, and can no longer act meanwhile.
		if err := s.revokeTenantTokens(ctx, name); err != nil {
			return fmt.Errorf("revoke tokens of tenant %s: %w", name, err)
		}
		owned, err := s.tenantNamespaces(ctx, name)
		if err != nil {
			return err
		}
		nsKind, _ := s.scheme.ByKind("v1", "Namespace")
		for ns := range owned {
			if err := s.terminateNamespace(ctx, ns, nil, nsKind.New()); err != nil && !errors.Is(err, store.ErrNotFound) {
				return fmt.Errorf("delete namespace %s of tenant %s: %w", ns, name, err)
			}
		}
	}
	also, err := s.deletePrefixes(ctx, k, name)
	if err != nil {
		return err
	}
	return s.store.Delete(ctx, key, rev, out, also...)
}

// terminatingPrefix holds the marker of a namespace being deleted; creates
// in the namespace check in their transaction that it is absent.
func terminatingPrefix(ns string) string { return "/registry/terminating/" + ns + "/" }

func terminatingKey(ns string) string { return terminatingPrefix(ns) + "marker" }

// markDeleted sets the deletion timestamp and grace period of an object
// that cannot go at once (see setDeletionMark) and stores it.
func (s *Server) markDeleted(ctx context.Context, key string, obj api.Object, rev int64, grace *int64, finalizer string) error {
	if !setDeletionMark(obj, grace, finalizer, time.Now()) {
		return nil // already being deleted, no sooner
	}
	return s.store.Update(ctx, key, obj, rev)
}

// setDeletionMark sets the deletion timestamp and grace period of obj,
// adding finalizer (the garbage collector's orphan or foregroundDeletion)
// unless it is "" or already there; a shorter grace period shortens a
// pending one. It reports whether obj changed.
func setDeletionMark(obj api.Object, grace *int64, finalizer string, now time.Time) bool {
	m := obj.GetObjectMeta()
	g := int64(0)
	if p, ok := obj.(*api.Pod); ok {
		g = 30
		if p.Spec.TerminationGracePeriodSeconds != nil {
			g = *p.Spec.TerminationGracePeriodSeconds
		}
	}
	if grace != nil {
		g = *grace
	}
	added := false
	if finalizer != "" && !m.HasFinalizer(finalizer) {
		// One propagation policy at a time: a later orphan replaces a
		// pending foreground deletion and the reverse, as Kubernetes.
		m.Finalizers = slices.DeleteFunc(m.Finalizers, func(f string) bool {
			return f == api.FinalizerOrphanDependents || f == api.FinalizerDeleteDependents
		})
		m.Finalizers = append(m.Finalizers, finalizer)
		added = true
	}
	if !added && m.DeletionTimestamp != nil && (m.DeletionGracePeriodSeconds == nil || *m.DeletionGracePeriodSeconds <= g) {
		return false
	}
	if m.DeletionGracePeriodSeconds != nil && *m.DeletionGracePeriodSeconds < g {
		g = *m.DeletionGracePeriodSeconds
	}
	if m.DeletionTimestamp == nil {
		t := api.NewTime(now)
		m.DeletionTimestamp = &t
	}
	m.DeletionGracePeriodSeconds = &g
	return true
}

// backoff waits a little before retrying a write that lost a race, longer
// after each loss (up to 20ms), so contending writers spread out.
func backoff(ctx context.Context, attempt int) error {
	d := time.Duration(min(attempt, 20)) * time.Millisecond
	if d == 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
