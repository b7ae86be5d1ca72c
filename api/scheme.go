package api

import (
	"reflect"
	"sort"
	"strings"
	"sync"
)

// KindInfo describes one resource kind: how it is addressed over REST and
// how its objects are defaulted, checked and prepared before storage.
type KindInfo struct {
	Group      string // "" for the core group
	Version    string // "v1", "v1alpha1"
	Kind       string // "Pod"
	Resource   string // plural, lower case: "pods"
	Singular   string // "pod"
	ShortNames []string
	Namespaced bool
	// HasStatus says the kind has a status subresource: updates of the main
	// resource keep the stored status, and /status updates keep the rest.
	HasStatus bool

	// New returns an empty object of the kind with its TypeMeta set.
	New func() Object
	// NewList returns an empty typed list of the kind (e.g. *PodList) with
	// its TypeMeta set.
	NewList func() ObjectList
	// Default fills unset fields with their defaults, in place.
	Default func(Object)
	// Validate checks an object about to be created or updated.
	Validate func(Object) ErrorList
	// ValidateUpdate checks what may not change between old and new (nil: anything may).
	ValidateUpdate func(newObj, oldObj Object) ErrorList
	// PrepareForCreate clears or sets what users may not choose on create,
	// such as the status (nil: nothing).
	PrepareForCreate func(Object)
	// PrepareForUpdate carries over from the stored object what an update
	// of the main resource may leave out, before defaulting (nil: nothing).
	PrepareForUpdate func(newObj, oldObj Object)
}

// APIVersion is "v1" for the core group and "group/version" otherwise.
func (k *KindInfo) APIVersion() string {
	if k.Group == "" {
		return k.Version
	}
	return k.Group + "/" + k.Version
}

// ListKind is the kind of the list envelope, e.g. "PodList".
func (k *KindInfo) ListKind() string { return k.Kind + "List" }

// PathPrefix is the REST prefix of the kind's group and version:
// "/api/v1" for the core group, "/apis/GROUP/VERSION" otherwise.
func (k *KindInfo) PathPrefix() string {
	if k.Group == "" {
		return "/api/" + k.Version
	}
	return "/apis/" + k.Group + "/" + k.Version
}

// Path is the REST path of a collection (name "") or of one object. For a
// namespaced kind an empty namespace means all namespaces.
func (k *KindInfo) Path(namespace, name string) string {
	p := k.PathPrefix()
	if k.Namespaced && namespace != "" {
		p += "/namespaces/" + namespace
	}
	p += "/" + k.Resource
	if name != "" {
		p += "/" + name
	}
	return p
}

// Scheme is the set of kinds this API serves. It is built explicitly by
// NewScheme and read-only afterwards.
type Scheme struct {
	kinds      []*KindInfo
	byKind     map[string]*KindInfo // "apiVersion/Kind"
	byResource map[string]*KindInfo // "group/resource"
	byName     map[string]*KindInfo // lower-case kind, singular, plural, short names
	byType     map[reflect.Type]*KindInfo
	// fields caches the strict decoder's view of each Go struct type
	// (reflect.Type -> *structFields), filled lazily.
	fields sync.Map
}

func newScheme(kinds ...*KindInfo) *Scheme {
	s := &Scheme{
		byKind:     map[string]*KindInfo{},
		byResource: map[string]*KindInfo{},
		byName:     map[string]*KindInfo{},
		byType:     map[reflect.Type]*KindInfo{},
	}
	for _, k := range kinds {
		s.kinds = append(s.kinds, k)
		s.byKind[k.APIVersion()+"/"+k.Kind] = k
		s.byResource[k.Group+"/"+k.Resource] = k
		if k.New != nil {
			s.byType[reflect.TypeOf(k.New())] = k
		}
		names := append([]string{strings.ToLower(k.Kind), k.Singular, k.Resource}, k.ShortNames...)
		for _, n := range names {
			s.byName[n] = k
			if k.Group != "" {
				s.byName[n+"."+k.Group] = k
			}
		}
	}
	sort.Slice(s.kinds, func(i, j int) bool { return s.kinds[i].Kind < s.kinds[j].Kind })
	return s
}

// Kinds lists every kind, sorted by kind name.
func (s *Scheme) Kinds() []*KindInfo { return s.kinds }

// ByKind finds a kind by apiVersion and kind, as written in a manifest.
func (s *Scheme) ByKind(apiVersion, kind string) (*KindInfo, bool) {
	k, ok := s.byKind[apiVersion+"/"+kind]
	return k, ok
}

// ByResource finds a kind by API group ("" for core) and plural resource.
func (s *Scheme) ByResource(group, resource string) (*KindInfo, bool) {
	k, ok := s.byResource[group+"/"+resource]
	return k, ok
}

// ForObject finds the kind of a typed object by its Go type, whatever its
// TypeMeta says.
func (s *Scheme) ForObject(obj Object) (*KindInfo, bool) {
	k, ok := s.byType[reflect.TypeOf(obj)]
	return k, ok
}

// Lookup finds a kind by any name a user may type on the command line:
// kind, singular, plural or short name, in any case, optionally qualified
// with its group ("nodepools.iaas.cloudmgr.dev").
func (s *Scheme) Lookup(name string) (*KindInfo, bool) {
	k, ok := s.byName[strings.ToLower(name)]
	return k, ok
}
