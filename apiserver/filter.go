package apiserver

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/cloudmgr/cloud/api"
)

// fieldReq is one term of a field selector: field=value or field!=value.
type fieldReq struct {
	field, value string
	not          bool
}

// parseFieldSelector reads "a=b,c!=d" (== also accepted).
func parseFieldSelector(s string) ([]fieldReq, error) {
	var out []fieldReq
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, term := range strings.Split(s, ",") {
		term = strings.TrimSpace(term)
		var r fieldReq
		switch {
		case strings.Contains(term, "!="):
			r.field, r.value, _ = strings.Cut(term, "!=")
			r.not = true
		case strings.Contains(term, "=="):
			r.field, r.value, _ = strings.Cut(term, "==")
		case strings.Contains(term, "="):
			r.field, r.value, _ = strings.Cut(term, "=")
		default:
			return nil, errBadRequest("fieldSelector: invalid term %q: expected field=value or field!=value", term)
		}
		r.field, r.value = strings.TrimSpace(r.field), strings.TrimSpace(r.value)
		out = append(out, r)
	}
	return out, nil
}

// fieldValue returns the value of a selectable field of obj. Which fields
// are selectable follows Kubernetes for each kind.
func fieldValue(obj api.Object, field string) (string, bool) {
	m := obj.GetObjectMeta()
	switch field {
	case "metadata.name":
		return m.Name, true
	case "metadata.namespace":
		return m.Namespace, true
	}
	switch o := obj.(type) {
	case *api.Pod:
		switch field {
		case "spec.nodeName":
			return o.Spec.NodeName, true
		case "spec.schedulerName":
			return o.Spec.SchedulerName, true
		case "spec.restartPolicy":
			return string(o.Spec.RestartPolicy), true
		case "status.phase":
			return string(o.Status.Phase), true
		case "status.podIP":
			return o.Status.PodIP, true
		}
	case *api.Node:
		if field == "spec.unschedulable" {
			return strconv.FormatBool(o.Spec.Unschedulable), true
		}
	case *api.Event:
		switch field {
		case "involvedObject.kind":
			return o.InvolvedObject.Kind, true
		case "involvedObject.name":
			return o.InvolvedObject.Name, true
		case "involvedObject.namespace":
			return o.InvolvedObject.Namespace, true
		case "involvedObject.uid":
			return o.InvolvedObject.UID, true
		case "reason":
			return o.Reason, true
		case "type":
			return o.Type, true
		}
	case *api.Namespace:
		if field == "status.phase" {
			return string(o.Status.Phase), true
		}
	}
	return "", false
}

// filter builds the predicate of a list or watch from its label and field
// selectors and the caller's namespace restriction; nil keeps everything.
func (s *Server) filter(r *http.Request, q *request, acc access) (func(api.Object) bool, error) {
	query := r.URL.Query()
	sel, err := api.ParseSelector(query.Get("labelSelector"))
	if err != nil {
		return nil, errBadRequest("labelSelector: %v", err)
	}
	fields, err := parseFieldSelector(query.Get("fieldSelector"))
	if err != nil {
		return nil, err
	}
	probe := q.kind.New()
	for _, f := range fields {
		if _, ok := fieldValue(probe, f.field); !ok {
			return nil, errBadRequest("fieldSelector: field label not supported for %s: %q", q.kind.Resource, f.field)
		}
	}
	if sel.Empty() && len(fields) == 0 && acc.onlyNamespaces == nil && acc.tenant == "" {
		return nil, nil
	}
	isNamespace := q.kind.Kind == "Namespace"
	return func(o api.Object) bool {
		m := o.GetObjectMeta()
		switch {
		case isNamespace && acc.tenant != "":
			if m.Labels[LabelTenant] != acc.tenant {
				return false
			}
		case !acc.allows(m.Namespace):
			return false
		}
		if !sel.Matches(m.Labels) {
			return false
		}
		for _, f := range fields {
			v, _ := fieldValue(o, f.field)
			if (v == f.value) == f.not {
				return false
			}
		}
		return true
	}, nil
}
