package apiserver

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/cloudmgr/cloud/api"
)

// deleteOptions reads the options of a DELETE: an optional DeleteOptions
// body, overridden by the query parameters gracePeriodSeconds and
// propagationPolicy. The policy defaults to Background; preconditions
// come from the body only, as in Kubernetes.
func (s *Server) deleteOptions(w http.ResponseWriter, r *http.Request) (*int64, api.DeletionPropagation, *api.Preconditions, error) {
	var opts api.DeleteOptions
	if r.Body != nil && r.Body != http.NoBody {
		data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
		if err != nil {
			return nil, "", nil, errBadRequest("read body: %v", err)
		}
		if len(bytes.TrimSpace(data)) > 0 {
			dec := json.NewDecoder(bytes.NewReader(data))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&opts); err != nil {
				return nil, "", nil, errBadRequest("decode DeleteOptions: %v", err)
			}
			if opts.Kind != "" && opts.Kind != "DeleteOptions" {
				return nil, "", nil, errBadRequest("kind: the body of a delete must be DeleteOptions, not %q", opts.Kind)
			}
		}
	}
	q := r.URL.Query()
	if g := q.Get("gracePeriodSeconds"); g != "" {
		n, err := strconv.ParseInt(g, 10, 64)
		if err != nil {
			return nil, "", nil, errBadRequest("gracePeriodSeconds: must be a non-negative integer")
		}
		opts.GracePeriodSeconds = &n
	}
	if opts.GracePeriodSeconds != nil && *opts.GracePeriodSeconds < 0 {
		return nil, "", nil, errBadRequest("gracePeriodSeconds: must be a non-negative integer")
	}
	if p := q.Get("propagationPolicy"); p != "" {
		pp := api.DeletionPropagation(p)
		opts.PropagationPolicy = &pp
	}
	policy := api.DeletePropagationBackground
	if opts.PropagationPolicy != nil {
		policy = *opts.PropagationPolicy
	}
	switch policy {
	case api.DeletePropagationOrphan, api.DeletePropagationBackground, api.DeletePropagationForeground:
	default:
		return nil, "", nil, errBadRequest("propagationPolicy: Unsupported value: %q: supported values: \"Orphan\", \"Background\", \"Foreground\"", policy)
	}
	return opts.GracePeriodSeconds, policy, opts.Preconditions, nil
}

// checkPreconditions refuses (409 Conflict) a delete whose preconditions
// the current object m does not meet, with Kubernetes' wording.
func checkPreconditions(pre *api.Preconditions, k *api.KindInfo, m *api.ObjectMeta) error {
	if pre == nil {
		return nil
	}
	var msg string
	switch {
	case pre.UID != nil && *pre.UID != m.UID:
		msg = fmt.Sprintf("Precondition failed: UID in precondition: %s, UID in object meta: %s", *pre.UID, m.UID)
	case pre.ResourceVersion != nil && *pre.ResourceVersion != m.ResourceVersion:
		msg = fmt.Sprintf("Precondition failed: ResourceVersion in precondition: %s, ResourceVersion in object meta: %s", *pre.ResourceVersion, m.ResourceVersion)
	default:
		return nil
	}
	e := newStatus(http.StatusConflict, api.StatusReasonConflict, fmt.Sprintf("Operation cannot be fulfilled on %s %q: %s", k.Resource, m.Name, msg))
	e.st.Details = &api.StatusDetails{Name: m.Name, Group: k.Group, Kind: k.Resource}
	return e
}
