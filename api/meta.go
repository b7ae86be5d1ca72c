// Package api holds the resource types of the control plane, their defaults,
// validation and the strict codecs that turn manifests into typed objects.
// It performs no I/O and imports nothing else of this module.
package api

import (
	"encoding/json"
	"strconv"
	"time"
)

// TypeMeta names the schema of a serialized object.
type TypeMeta struct {
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// GetTypeMeta gives access to the type fields of any object embedding TypeMeta.
func (t *TypeMeta) GetTypeMeta() *TypeMeta { return t }

// ObjectMeta is the metadata every stored object carries.
type ObjectMeta struct {
	Name string `json:"name,omitempty"`
	// GenerateName, when Name is empty on create, is the prefix of a name
	// the server makes unique by appending five random characters.
	GenerateName string `json:"generateName,omitempty"`
	Namespace    string `json:"namespace,omitempty"`
	UID          string `json:"uid,omitempty"`
	// ResourceVersion is the etcd modification revision of the object, as a
	// decimal string. It is never stored; the store fills it on every read.
	ResourceVersion string `json:"resourceVersion,omitempty"`
	// Generation counts changes to the spec; it starts at 1.
	Generation                 int64             `json:"generation,omitempty"`
	CreationTimestamp          Time              `json:"creationTimestamp,omitzero"`
	DeletionTimestamp          *Time             `json:"deletionTimestamp,omitempty"`
	DeletionGracePeriodSeconds *int64            `json:"deletionGracePeriodSeconds,omitempty"`
	Labels                     map[string]string `json:"labels,omitempty"`
	Annotations                map[string]string `json:"annotations,omitempty"`
	OwnerReferences            []OwnerReference  `json:"ownerReferences,omitempty"`
	Finalizers                 []string          `json:"finalizers,omitempty"`
}

// GetObjectMeta gives access to the metadata of any object embedding ObjectMeta.
func (m *ObjectMeta) GetObjectMeta() *ObjectMeta { return m }

// OwnerReference points from a dependent object to the object that owns it;
// the garbage collector deletes dependents whose owners are gone.
type OwnerReference struct {
	APIVersion         string `json:"apiVersion"`
	Kind               string `json:"kind"`
	Name               string `json:"name"`
	UID                string `json:"uid"`
	Controller         *bool  `json:"controller,omitempty"`
	BlockOwnerDeletion *bool  `json:"blockOwnerDeletion,omitempty"`
}

// ListMeta is the metadata of a list: the store revision it was read at.
type ListMeta struct {
	ResourceVersion string `json:"resourceVersion,omitempty"`
	Continue        string `json:"continue,omitempty"`
}

// Object is implemented by every resource kind (by embedding TypeMeta and
// ObjectMeta).
type Object interface {
	GetTypeMeta() *TypeMeta
	GetObjectMeta() *ObjectMeta
}

// List is the generic envelope of a list response: items stay raw so that a
// caller decodes them into the type it expects.
type List struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta          `json:"metadata"`
	Items    []json.RawMessage `json:"items"`
}

// Time is a timestamp serialized as RFC 3339 in UTC with second precision,
// as Kubernetes does.
type Time struct {
	time.Time
}

// Now returns the current time truncated to the serialized precision.
func Now() Time { return Time{time.Now().UTC().Truncate(time.Second)} }

// NewTime wraps t.
func NewTime(t time.Time) Time { return Time{t.UTC().Truncate(time.Second)} }

// MarshalJSON writes the time as an RFC 3339 string, or null when zero.
func (t Time) MarshalJSON() ([]byte, error) {
	if t.IsZero() {
		return []byte("null"), nil
	}
	return []byte(strconv.Quote(t.UTC().Format(time.RFC3339))), nil
}

// UnmarshalJSON reads an RFC 3339 string or null.
func (t *Time) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*t = Time{}
		return nil
	}
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return err
	}
	p, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return err
	}
	*t = Time{p.UTC()}
	return nil
}

// ParseResourceVersion turns a resourceVersion string into a revision; the
// empty string is 0.
func ParseResourceVersion(rv string) (int64, error) {
	if rv == "" {
		return 0, nil
	}
	n, err := strconv.ParseInt(rv, 10, 64)
	if err != nil || n < 0 {
		return 0, &FieldError{Type: ErrorTypeInvalid, Field: "metadata.resourceVersion", Value: rv, Detail: "must be a non-negative integer"}
	}
	return n, nil
}

// FormatResourceVersion is the inverse of ParseResourceVersion.
func FormatResourceVersion(rev int64) string {
	if rev == 0 {
		return ""
	}
	return strconv.FormatInt(rev, 10)
}

// DeletionPropagation says what becomes of an object's dependents (the
// objects whose ownerReferences name it) when the object is deleted.
type DeletionPropagation string

// Propagation policies, as Kubernetes.
const (
	// DeletePropagationOrphan keeps the dependents and removes their
	// references to the owner, then the owner goes.
	DeletePropagationOrphan DeletionPropagation = "Orphan"
	// DeletePropagationBackground removes the owner at once; the garbage
	// collector then deletes the dependents.
	DeletePropagationBackground DeletionPropagation = "Background"
	// DeletePropagationForeground keeps the owner (marked for deletion)
	// until its dependents with blockOwnerDeletion are gone.
	DeletePropagationForeground DeletionPropagation = "Foreground"
)

// Finalizers the garbage collector honors.
const (
	// FinalizerOrphanDependents holds an owner until its dependents no
	// longer reference it.
	FinalizerOrphanDependents = "orphan"
	// FinalizerDeleteDependents holds an owner until its blocking
	// dependents are deleted.
	FinalizerDeleteDependents = "foregroundDeletion"
)

// DeleteOptions is the optional body of a DELETE request; the query
// parameters gracePeriodSeconds and propagationPolicy override it.
type DeleteOptions struct {
	TypeMeta           `json:",inline"`
	GracePeriodSeconds *int64               `json:"gracePeriodSeconds,omitempty"`
	PropagationPolicy  *DeletionPropagation `json:"propagationPolicy,omitempty"`
	// Preconditions must hold for the delete to happen (409 Conflict
	// otherwise), as in Kubernetes.
	Preconditions *Preconditions `json:"preconditions,omitempty"`
}

// Preconditions name the object a delete is meant for: a delete whose
// object has another uid (it was deleted and re-created under the same
// name) or another resourceVersion (it changed) is refused.
type Preconditions struct {
	UID             *string `json:"uid,omitempty"`
	ResourceVersion *string `json:"resourceVersion,omitempty"`
}

// HasFinalizer reports whether m carries finalizer f.
func (m *ObjectMeta) HasFinalizer(f string) bool {
	for _, x := range m.Finalizers {
		if x == f {
			return true
		}
	}
	return false
}
