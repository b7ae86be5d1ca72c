package apiserver

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// nodeNameDetail says how a pod gets its node, for callers who may not set it.
const nodeNameDetail = "only an administrator may choose a pod's node; pods are placed by the scheduler through the binding subresource (pods/NAME/binding)"

// admitPod applies the admission rules of a new pod: only an
// administrator may bind it at creation, and its priority comes from its
// priority class.
func (s *Server) admitPod(ctx context.Context, id *Identity, k *api.KindInfo, p *api.Pod) error {
	if p.Spec.NodeName != "" && id.Role != RoleAdmin {
		return invalid(k, p.Name, api.ErrorList{{Type: api.ErrorTypeForbidden, Field: "spec.nodeName", Detail: nodeNameDetail}})
	}
	return s.admitPodPriority(ctx, id, k, p)
}

// admitPodUpdate keeps callers other than an administrator from binding a
// pod through an update: the binding subresource is the way, and it checks
// what an update cannot (the node exists, the pod is not being deleted).
func admitPodUpdate(k *api.KindInfo, id *Identity, next, cur api.Object) error {
	np, ok := next.(*api.Pod)
	if !ok || id.Role == RoleAdmin {
		return nil
	}
	if cp := cur.(*api.Pod); cp.Spec.NodeName == "" && np.Spec.NodeName != "" {
		return invalid(k, np.Name, api.ErrorList{{Type: api.ErrorTypeForbidden, Field: "spec.nodeName", Detail: nodeNameDetail}})
	}
	return nil
}

// bind serves POST /api/v1/namespaces/NS/pods/NAME/binding: it binds the
// pod to the target node, sets its PodScheduled condition to True and
// clears its nominated node, in one compare-and-swap that also requires
// the node to exist. A pod bound already, or deleted and created again
// (another uid than the binding names), is a 409 Conflict, so a stale
// scheduling decision can never move a pod or put it on two nodes; a pod
// that is gone is a 404, a node that is gone a 422 at target.name. The
// answer is the stored pod, with 201.
func (s *Server) bind(w http.ResponseWriter, r *http.Request, q *request) error {
	data, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var b api.Binding
	if err := s.scheme.DecodeInto(data, &b); err != nil {
		return err
	}
	if (b.Kind != "" && b.Kind != api.KindBinding) || (b.APIVersion != "" && b.APIVersion != api.APIVersionV1) {
		return errBadRequest("the body is a %s %s but a v1 Binding is expected", b.APIVersion, b.Kind)
	}
	if b.Name != "" && b.Name != q.name {
		return errBadRequest("the name of the binding (%s) does not match the name of the pod in the URL (%s)", b.Name, q.name)
	}
	if b.Namespace != "" && b.Namespace != q.ns {
		return errBadRequest("the namespace of the binding (%s) does not match the namespace of the request (%s)", b.Namespace, q.ns)
	}
	if errs := api.ValidateBinding(&b); len(errs) > 0 {
		return invalidBinding(q.name, errs)
	}
	wantRev, err := api.ParseResourceVersion(b.ResourceVersion)
	if err != nil {
		return errBadRequest("%v", err)
	}
	nodeKind, _ := s.scheme.ByKind(api.APIVersionV1, api.KindNode)
	node := b.Target.Name
	podKey, nodeKey := storeKey(q.kind, q.ns, q.name), storeKey(nodeKind, "", node)
	ctx := r.Context()
	for attempt := 0; ; attempt++ {
		var pod api.Pod
		if err := s.store.Get(ctx, podKey, &pod); err != nil {
			return err
		}
		rev, _ := api.ParseResourceVersion(pod.ResourceVersion)
		if err := bindable(&pod, &b, rev, wantRev); err != nil {
			return err
		}
		api.BindPod(&pod, node)
		err := s.store.UpdateIf(ctx, podKey, &pod, rev, []store.Cond{{Key: nodeKey}}, nil)
		var ce *store.CondError
		switch {
		case errors.As(err, &ce):
			return invalidBinding(q.name, api.ErrorList{{Type: api.ErrorTypeNotFound, Field: "target.name", Value: node,
				Detail: fmt.Sprintf("node %q not found", node)}})
		case errors.Is(err, store.ErrConflict) && wantRev == 0:
			// The pod changed since it was read (a status write, or a
			// competing binding): judge again on the newer state.
			if err := backoff(ctx, attempt); err != nil {
				return err
			}
			continue
		case err != nil:
			return err
		}
		writeJSON(w, http.StatusCreated, &pod)
		return nil
	}
}

// bindable says why a pod, read at revision rev, may not be bound as b
// asks, or nil.
func bindable(pod *api.Pod, b *api.Binding, rev, wantRev int64) error {
	conflict := func(format string, a ...any) error {
		return newStatus(http.StatusConflict, api.StatusReasonConflict,
			fmt.Sprintf("Operation cannot be fulfilled on pods/binding %q: ", pod.Name)+fmt.Sprintf(format, a...))
	}
	switch {
	case b.UID != "" && b.UID != pod.UID:
		return conflict("the pod's uid is %s, not %s: it was deleted and created again", pod.UID, b.UID)
	case wantRev != 0 && rev != wantRev:
		return conflict("the pod is at resourceVersion %d, not %d", rev, wantRev)
	case pod.Spec.NodeName != "":
		return conflict("pod %s/%s is already assigned to node %s", pod.Namespace, pod.Name, pod.Spec.NodeName)
	case pod.DeletionTimestamp != nil:
		return conflict("pod %s/%s is being deleted, cannot be assigned to a node", pod.Namespace, pod.Name)
	}
	return nil
}

// invalidBinding is the 422 of a binding of pod name.
func invalidBinding(name string, errs api.ErrorList) error {
	e := newStatus(http.StatusUnprocessableEntity, api.StatusReasonInvalid,
		fmt.Sprintf("Binding %q is invalid: %s", name, errs.Error()))
	e.st.Details = &api.StatusDetails{Name: name, Kind: "pods/binding", Causes: causes(errs)}
	return e
}
