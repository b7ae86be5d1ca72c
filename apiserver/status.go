package apiserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	"google.golang.org/grpc/codes"
	grpcstatus "google.golang.org/grpc/status"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/store"
)

// statusError is an error that already knows its HTTP answer.
type statusError struct{ st api.Status }

func (e *statusError) Error() string { return e.st.Message }

func newStatus(code int, reason api.StatusReason, msg string) *statusError {
	return &statusError{st: api.Status{
		TypeMeta: api.TypeMeta{APIVersion: "v1", Kind: "Status"},
		Status:   "Failure", Code: int32(code), Reason: reason, Message: msg,
	}}
}

func errBadRequest(format string, a ...any) error {
	return newStatus(http.StatusBadRequest, api.StatusReasonBadRequest, fmt.Sprintf(format, a...))
}

func errForbidden(format string, a ...any) error {
	return newStatus(http.StatusForbidden, api.StatusReasonForbidden, fmt.Sprintf(format, a...))
}

func errNotFound(resource, name string) error {
	return newStatus(http.StatusNotFound, api.StatusReasonNotFound, fmt.Sprintf("%s %q not found", resource, name))
}

// invalid is the 422 answer for an object that decodes but breaks the rules.
func invalid(k *api.KindInfo, name string, errs api.ErrorList) error {
	e := newStatus(http.StatusUnprocessableEntity, api.StatusReasonInvalid,
		fmt.Sprintf("%s %q is invalid: %s", k.Kind, name, errs.Error()))
	e.st.Details = &api.StatusDetails{Name: name, Group: k.Group, Kind: k.Resource, Causes: causes(errs)}
	return e
}

func causes(errs api.ErrorList) []api.StatusCause {
	out := make([]api.StatusCause, len(errs))
	for i, fe := range errs {
		out[i] = api.StatusCause{Type: fe.Type, Field: fe.Field, Message: fe.Error()}
	}
	return out
}

// toStatus converts any error into the Status the client sees. It is the
// one place where package errors become HTTP codes.
func toStatus(err error, resource, name string) api.Status {
	var se *statusError
	var de *api.DecodeError
	var el api.ErrorList
	var fe *api.FieldError
	var mbe *http.MaxBytesError
	var uk *api.UnknownKindError
	switch {
	case errors.As(err, &uk):
		return newStatus(http.StatusBadRequest, api.StatusReasonBadRequest, uk.Error()).st
	case errors.As(err, &se):
		return se.st
	case errors.As(err, &mbe):
		return newStatus(http.StatusRequestEntityTooLarge, api.StatusReasonRequestEntityTooLarge,
			fmt.Sprintf("request body larger than %d bytes", mbe.Limit)).st
	case errors.As(err, &de):
		s := newStatus(http.StatusBadRequest, api.StatusReasonBadRequest, de.Error()).st
		s.Details = &api.StatusDetails{Name: name, Kind: resource, Causes: causes(de.Errs)}
		return s
	case errors.As(err, &el):
		s := newStatus(http.StatusUnprocessableEntity, api.StatusReasonInvalid, el.Error()).st
		s.Details = &api.StatusDetails{Name: name, Kind: resource, Causes: causes(el)}
		return s
	case errors.As(err, &fe):
		return newStatus(http.StatusBadRequest, api.StatusReasonBadRequest, fe.Error()).st
	case errors.Is(err, store.ErrNotFound):
		return newStatus(http.StatusNotFound, api.StatusReasonNotFound, fmt.Sprintf("%s %q not found", resource, name)).st
	case errors.Is(err, store.ErrAlreadyExists):
		return newStatus(http.StatusConflict, api.StatusReasonAlreadyExists, fmt.Sprintf("%s %q already exists", resource, name)).st
	case errors.Is(err, store.ErrConflict):
		return newStatus(http.StatusConflict, api.StatusReasonConflict,
			fmt.Sprintf("Operation cannot be fulfilled on %s %q: %v", resource, name, store.ErrConflict)).st
	case errors.Is(err, store.ErrTooOld):
		return newStatus(http.StatusGone, api.StatusReasonGone, err.Error()).st
	case errors.Is(err, context.DeadlineExceeded):
		return newStatus(http.StatusGatewayTimeout, api.StatusReasonTimeout, "the request timed out before the store answered").st
	case storeUnavailable(err):
		return newStatus(http.StatusServiceUnavailable, api.StatusReasonServiceUnavailable, "the store (etcd) is unavailable; try again").st
	}
	return newStatus(http.StatusInternalServerError, api.StatusReasonInternalError, "internal error: "+err.Error()).st
}

// storeUnavailable recognizes etcd's "no leader" and "unavailable" answers.
func storeUnavailable(err error) bool {
	if errors.Is(err, rpctypes.ErrNoLeader) || errors.Is(err, rpctypes.ErrGRPCNoLeader) {
		return true
	}
	if st, ok := grpcstatus.FromError(err); ok {
		return st.Code() == codes.Unavailable
	}
	return false
}

// writeError answers with the Status of err. Server-side failures are logged.
func writeError(w http.ResponseWriter, log *slog.Logger, err error, resource, name string) {
	st := toStatus(err, resource, name)
	if st.Code >= 500 && !errors.Is(err, context.Canceled) { // a client that went away is not a server failure
		log.Error("request failed", "resource", resource, "name", name, "err", err)
	}
	if st.Code == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", "1")
	}
	writeJSON(w, int(st.Code), &st)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		http.Error(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","code":500,"message":"encode response"}`, 500)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_, _ = w.Write(data)
	_, _ = w.Write([]byte("\n"))
}
