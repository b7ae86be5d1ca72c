package api

import (
	"fmt"
	"strconv"
	"strings"
)

// fieldPath builds Kubernetes-style field paths: "spec.containers[0].name",
// "spec.nodeSelector[disk]".
type fieldPath string

func (p fieldPath) child(name string) fieldPath {
	if p == "" {
		return fieldPath(name)
	}
	return p + "." + fieldPath(name)
}

func (p fieldPath) index(i int) fieldPath { return p + "[" + fieldPath(strconv.Itoa(i)) + "]" }

func (p fieldPath) key(k string) fieldPath { return p + "[" + fieldPath(k) + "]" }

// String returns the path as text.
func (p fieldPath) String() string { return string(p) }

func required(p fieldPath, detail string) *FieldError {
	return &FieldError{Type: ErrorTypeRequired, Field: p.String(), Detail: detail}
}

func invalid(p fieldPath, value any, detail string) *FieldError {
	return &FieldError{Type: ErrorTypeInvalid, Field: p.String(), Value: value, Detail: detail}
}

func forbidden(p fieldPath, detail string) *FieldError {
	return &FieldError{Type: ErrorTypeForbidden, Field: p.String(), Detail: detail}
}

func duplicate(p fieldPath, value any) *FieldError {
	return &FieldError{Type: ErrorTypeDuplicate, Field: p.String(), Value: value}
}

// notSupported reports a value outside an enumeration, listing the allowed
// values as Kubernetes does.
func notSupported[T ~string](p fieldPath, value T, allowed ...T) *FieldError {
	quoted := make([]string, len(allowed))
	for i, a := range allowed {
		quoted[i] = strconv.Quote(string(a))
	}
	return &FieldError{Type: ErrorTypeNotSupported, Field: p.String(), Value: string(value),
		Detail: "supported values: " + strings.Join(quoted, ", ")}
}

// oneOf reports whether v is among allowed.
func oneOf[T comparable](v T, allowed ...T) bool {
	for _, a := range allowed {
		if v == a {
			return true
		}
	}
	return false
}

// each turns name-check messages into field errors.
func each(p fieldPath, value string, msgs []string) ErrorList {
	var errs ErrorList
	for _, m := range msgs {
		errs = append(errs, invalid(p, value, m))
	}
	return errs
}

// ValidateObjectMeta checks the metadata common to all kinds: the name
// (a DNS-1123 label when nameIsLabel, else a DNS-1123 subdomain), the
// namespace (required and a label for namespaced kinds, forbidden
// otherwise), labels, annotations, finalizers and owner references.
func ValidateObjectMeta(m *ObjectMeta, namespaced bool, nameIsLabel bool) ErrorList {
	p := fieldPath("metadata")
	var errs ErrorList
	switch {
	case m.Name == "":
		errs = append(errs, required(p.child("name"), "name or generateName is required"))
	case nameIsLabel:
		errs = append(errs, each(p.child("name"), m.Name, IsDNS1123Label(m.Name))...)
	default:
		errs = append(errs, each(p.child("name"), m.Name, IsDNS1123Subdomain(m.Name))...)
	}
	switch {
	case namespaced && m.Namespace == "":
		errs = append(errs, required(p.child("namespace"), ""))
	case namespaced:
		errs = append(errs, each(p.child("namespace"), m.Namespace, IsDNS1123Label(m.Namespace))...)
	case m.Namespace != "":
		errs = append(errs, forbidden(p.child("namespace"), "not allowed on this type"))
	}
	if m.Generation < 0 {
		errs = append(errs, invalid(p.child("generation"), m.Generation, "must be greater than or equal to 0"))
	}
	if m.DeletionGracePeriodSeconds != nil && *m.DeletionGracePeriodSeconds < 0 {
		errs = append(errs, invalid(p.child("deletionGracePeriodSeconds"), *m.DeletionGracePeriodSeconds, "must be greater than or equal to 0"))
	}
	errs = append(errs, ValidateLabels(m.Labels, p.child("labels").String())...)
	errs = append(errs, validateAnnotations(m.Annotations, p.child("annotations"))...)
	seen := map[string]bool{}
	for i, f := range m.Finalizers {
		fp := p.child("finalizers").index(i)
		errs = append(errs, each(fp, f, IsQualifiedName(f))...)
		if seen[f] {
			errs = append(errs, duplicate(fp, f))
		}
		seen[f] = true
	}
	errs = append(errs, validateOwnerReferences(m.OwnerReferences, p.child("ownerReferences"))...)
	return errs
}

// ValidateLabels checks label keys (qualified names) and values; path is
// the field the labels live at, such as "metadata.labels". Errors are
// reported in sorted key order.
func ValidateLabels(labels map[string]string, path string) ErrorList {
	var errs ErrorList
	p := fieldPath(path)
	for _, k := range sortedKeys(labels) {
		errs = append(errs, each(p, k, IsQualifiedName(k))...)
		errs = append(errs, each(p, labels[k], IsValidLabelValue(labels[k]))...)
	}
	return errs
}

func validateAnnotations(ann map[string]string, p fieldPath) ErrorList {
	var errs ErrorList
	total := 0
	for _, k := range sortedKeys(ann) {
		errs = append(errs, each(p, k, IsQualifiedName(strings.ToLower(k)))...)
		total += len(k) + len(ann[k])
	}
	if total > TotalAnnotationSizeLimit {
		errs = append(errs, &FieldError{Type: ErrorTypeTooLong, Field: p.String(),
			Detail: fmt.Sprintf("must have at most %d bytes", TotalAnnotationSizeLimit)})
	}
	return errs
}

func validateOwnerReferences(refs []OwnerReference, p fieldPath) ErrorList {
	var errs ErrorList
	controllers := 0
	for i, r := range refs {
		rp := p.index(i)
		if r.APIVersion == "" {
			errs = append(errs, required(rp.child("apiVersion"), "version must not be empty"))
		}
		if r.Kind == "" {
			errs = append(errs, required(rp.child("kind"), "kind must not be empty"))
		}
		if r.Name == "" {
			errs = append(errs, required(rp.child("name"), "name must not be empty"))
		}
		if r.UID == "" {
			errs = append(errs, required(rp.child("uid"), "uid must not be empty"))
		}
		if r.Controller != nil && *r.Controller {
			controllers++
		}
	}
	if controllers > 1 {
		errs = append(errs, invalid(p, controllers, "Only one reference can have Controller set to true"))
	}
	return errs
}

// ValidateObjectMetaUpdate checks the metadata fields that never change:
// name, namespace and (once set on both) uid and creation time.
func ValidateObjectMetaUpdate(newMeta, oldMeta *ObjectMeta) ErrorList {
	p := fieldPath("metadata")
	var errs ErrorList
	immutable := func(field, n, o string) {
		if n != o {
			errs = append(errs, invalid(p.child(field), n, "field is immutable"))
		}
	}
	immutable("name", newMeta.Name, oldMeta.Name)
	immutable("namespace", newMeta.Namespace, oldMeta.Namespace)
	if newMeta.UID != "" && oldMeta.UID != "" {
		immutable("uid", newMeta.UID, oldMeta.UID)
	}
	if !newMeta.CreationTimestamp.IsZero() && !oldMeta.CreationTimestamp.IsZero() &&
		!newMeta.CreationTimestamp.Equal(oldMeta.CreationTimestamp.Time) {
		errs = append(errs, invalid(p.child("creationTimestamp"), newMeta.CreationTimestamp.Format("2006-01-02T15:04:05Z"), "field is immutable"))
	}
	return errs
}

// validateNonNegative reports a negative integer.
func validateNonNegative[T int32 | int64](p fieldPath, v T) ErrorList {
	if v < 0 {
		return ErrorList{invalid(p, v, "must be greater than or equal to 0")}
	}
	return nil
}

// validateStringMap checks a plain map of labels used as a selector or
// to stamp labels on other objects (node selector, pool labels).
func validateStringMap(m map[string]string, p fieldPath) ErrorList {
	return ValidateLabels(m, p.String())
}

// validateResourceList checks resource names against allowed and that no
// amount is negative; paths name the resource as a child ("limits.cpu").
func validateResourceList(l ResourceList, p fieldPath, allowed ...string) ErrorList {
	var errs ErrorList
	for _, name := range sortedKeys(l) {
		rp := p.child(name)
		if !oneOf(name, allowed...) {
			errs = append(errs, notSupported(rp, name, allowed...))
			continue
		}
		if q := l[name]; q.Sign() < 0 {
			errs = append(errs, invalid(rp, q.String(), "must be greater than or equal to 0"))
		}
	}
	return errs
}
