package api

import (
	"fmt"
	"strings"
)

// ErrorType says what is wrong with a field.
type ErrorType string

// The kinds of field errors, named as Kubernetes names them so clients that
// read Status causes understand them.
const (
	ErrorTypeRequired     ErrorType = "FieldValueRequired"
	ErrorTypeInvalid      ErrorType = "FieldValueInvalid"
	ErrorTypeNotSupported ErrorType = "FieldValueNotSupported"
	ErrorTypeDuplicate    ErrorType = "FieldValueDuplicate"
	ErrorTypeNotFound     ErrorType = "FieldValueNotFound" // a reference to an object that does not exist
	ErrorTypeForbidden    ErrorType = "FieldValueForbidden"
	ErrorTypeUnknown      ErrorType = "FieldValueUnknown" // a field the schema does not have
	ErrorTypeTypeInvalid  ErrorType = "FieldValueTypeInvalid"
	ErrorTypeTooLong      ErrorType = "FieldValueTooLong"
)

// FieldError is one problem at one field path, such as
// "spec.containers[0].resources.limits.cpu".
type FieldError struct {
	Type   ErrorType
	Field  string
	Value  any
	Detail string
}

// Error renders "path: detail", with the offending value when it helps.
func (e *FieldError) Error() string {
	var b strings.Builder
	if e.Field != "" {
		b.WriteString(e.Field)
		b.WriteString(": ")
	}
	switch e.Type {
	case ErrorTypeRequired:
		b.WriteString("Required value")
	case ErrorTypeUnknown:
		b.WriteString("unknown field")
	case ErrorTypeDuplicate:
		b.WriteString("Duplicate value")
	case ErrorTypeNotFound:
		b.WriteString("Not found")
	case ErrorTypeForbidden:
		b.WriteString("Forbidden")
	case ErrorTypeNotSupported:
		b.WriteString("Unsupported value")
	case ErrorTypeTypeInvalid:
		b.WriteString("Invalid type")
	case ErrorTypeTooLong:
		b.WriteString("Too long")
	default:
		b.WriteString("Invalid value")
	}
	if e.Value != nil && e.Type != ErrorTypeRequired && e.Type != ErrorTypeUnknown && e.Type != ErrorTypeTooLong {
		fmt.Fprintf(&b, " %q", fmt.Sprint(e.Value))
	}
	if e.Detail != "" {
		b.WriteString(": ")
		b.WriteString(e.Detail)
	}
	return b.String()
}

// ErrorList collects every field error of an object, so a user sees all of
// them at once.
type ErrorList []*FieldError

// Error joins the errors with "; ".
func (l ErrorList) Error() string {
	parts := make([]string, len(l))
	for i, e := range l {
		parts[i] = e.Error()
	}
	return strings.Join(parts, "; ")
}

// ToError returns nil for an empty list, so callers can return it directly.
func (l ErrorList) ToError() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

// Status is the body of every error response (and of a successful delete),
// shaped like Kubernetes' metav1.Status.
type Status struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta       `json:"metadata"`
	Status   string         `json:"status,omitempty"` // "Success" or "Failure"
	Message  string         `json:"message,omitempty"`
	Reason   StatusReason   `json:"reason,omitempty"`
	Details  *StatusDetails `json:"details,omitempty"`
	Code     int32          `json:"code,omitempty"`
}

// Error makes a Status usable as an error on the client side.
func (s *Status) Error() string { return s.Message }

// StatusReason is a machine-readable reason for a failure.
type StatusReason string

// Reasons used in Status bodies, as in Kubernetes.
const (
	StatusReasonBadRequest            StatusReason = "BadRequest"
	StatusReasonUnauthorized          StatusReason = "Unauthorized"
	StatusReasonForbidden             StatusReason = "Forbidden"
	StatusReasonNotFound              StatusReason = "NotFound"
	StatusReasonAlreadyExists         StatusReason = "AlreadyExists"
	StatusReasonConflict              StatusReason = "Conflict"
	StatusReasonGone                  StatusReason = "Expired"
	StatusReasonInvalid               StatusReason = "Invalid"
	StatusReasonRequestEntityTooLarge StatusReason = "RequestEntityTooLarge"
	StatusReasonTooManyRequests       StatusReason = "TooManyRequests"
	StatusReasonMethodNotAllowed      StatusReason = "MethodNotAllowed"
	StatusReasonUnsupportedMediaType  StatusReason = "UnsupportedMediaType"
	StatusReasonInternalError         StatusReason = "InternalError"
	StatusReasonServiceUnavailable    StatusReason = "ServiceUnavailable"
	StatusReasonTimeout               StatusReason = "Timeout"
)

// StatusDetails names the object a failure concerns and, for invalid
// objects, the field errors.
type StatusDetails struct {
	Name   string        `json:"name,omitempty"`
	Group  string        `json:"group,omitempty"`
	Kind   string        `json:"kind,omitempty"`
	Causes []StatusCause `json:"causes,omitempty"`
}

// StatusCause is one field error in a Status.
type StatusCause struct {
	Type    ErrorType `json:"reason,omitempty"`
	Message string    `json:"message,omitempty"`
	Field   string    `json:"field,omitempty"`
}
