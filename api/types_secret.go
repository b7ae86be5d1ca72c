package api

import (
	"encoding/json"
	"strconv"
)

// KindSecret is the kind of Secret objects.
const KindSecret = "Secret"

// SecretType says what a secret holds, and so which keys it must have.
type SecretType string

// Secret types.
const (
	// SecretTypeOpaque is arbitrary user data (the default).
	SecretTypeOpaque SecretType = "Opaque"
	// SecretTypeDockerConfigJSON holds registry credentials as a
	// ~/.docker/config.json under the key DockerConfigJSONKey.
	SecretTypeDockerConfigJSON SecretType = "kubernetes.io/dockerconfigjson"
)

// DockerConfigJSONKey is the key of a SecretTypeDockerConfigJSON secret's
// registry credentials.
const DockerConfigJSONKey = ".dockerconfigjson"

// MaxSecretSize is the most data (keys and values) a secret may hold, as
// in Kubernetes.
const MaxSecretSize = 1 << 20

// Secret holds small sensitive values (passwords, tokens, registry
// credentials) that pods reference by name instead of carrying them.
type Secret struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Immutable, once true, forbids changes to data and to itself.
	Immutable *bool `json:"immutable,omitempty"`
	// Data maps keys to values, base64 in JSON and YAML.
	Data map[string][]byte `json:"data,omitempty"`
	// StringData is a write-only convenience: its plain-text values are
	// merged into Data (winning over the same keys) on create and update,
	// and never stored or returned.
	StringData map[string]string `json:"stringData,omitempty"`
	Type       SecretType        `json:"type,omitempty"`
}

// SecretList is a list of secrets.
type SecretList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta `json:"metadata"`
	Items    []Secret `json:"items"`
}

// GetListMeta gives access to the list metadata.
func (l *SecretList) GetListMeta() *ListMeta { return &l.Metadata }

// DefaultSecret merges stringData into data (so it is never stored) and
// sets the type to Opaque when it is unset.
func DefaultSecret(s *Secret) {
	if s.Type == "" {
		s.Type = SecretTypeOpaque
	}
	if len(s.StringData) > 0 && s.Data == nil {
		s.Data = make(map[string][]byte, len(s.StringData))
	}
	for k, v := range s.StringData {
		s.Data[k] = []byte(v)
	}
	s.StringData = nil
}

// ValidateSecret checks a secret. Its values never appear in the errors.
func ValidateSecret(s *Secret) ErrorList {
	errs := ValidateObjectMeta(&s.ObjectMeta, true, false)
	dp := fieldPath("data")
	total := 0
	for _, k := range sortedKeys(s.Data) {
		errs = append(errs, each(dp.key(k), k, IsConfigMapKey(k))...)
		total += len(k) + len(s.Data[k])
	}
	for _, k := range sortedKeys(s.StringData) {
		// Only for callers that validate before defaulting.
		errs = append(errs, each(fieldPath("stringData").key(k), k, IsConfigMapKey(k))...)
		total += len(k) + len(s.StringData[k])
	}
	if total > MaxSecretSize {
		errs = append(errs, &FieldError{Type: ErrorTypeTooLong, Field: dp.String(),
			Detail: "may not be more than " + strconv.Itoa(MaxSecretSize) + " bytes"})
	}
	switch s.Type {
	case SecretTypeOpaque, "":
	case SecretTypeDockerConfigJSON:
		errs = append(errs, validateDockerConfigJSON(s.Data, dp.key(DockerConfigJSONKey))...)
	default:
		errs = append(errs, notSupported(fieldPath("type"), s.Type, SecretTypeOpaque, SecretTypeDockerConfigJSON))
	}
	return errs
}

// validateDockerConfigJSON checks that the value at p is a JSON object with
// an "auths" object, without ever quoting the value.
func validateDockerConfigJSON(data map[string][]byte, p fieldPath) ErrorList {
	v, ok := data[DockerConfigJSONKey]
	if !ok || len(v) == 0 {
		return ErrorList{required(p, "a secret of type "+string(SecretTypeDockerConfigJSON)+" needs the key "+DockerConfigJSONKey)}
	}
	var cfg struct {
		Auths map[string]json.RawMessage `json:"auths"`
	}
	if err := json.Unmarshal(v, &cfg); err != nil {
		return ErrorList{invalid(p, nil, "must be a JSON object with \"auths\" (not valid JSON, or \"auths\" is not an object)")}
	}
	if cfg.Auths == nil {
		return ErrorList{required(p.child("auths"), "the registry credentials must be under \"auths\"")}
	}
	return nil
}

// ValidateSecretUpdate forbids changing the type, and changing the data or
// the immutable flag of an immutable secret.
func ValidateSecretUpdate(newS, oldS *Secret) ErrorList {
	errs := ValidateObjectMetaUpdate(&newS.ObjectMeta, &oldS.ObjectMeta)
	if newS.Type != oldS.Type {
		errs = append(errs, invalid(fieldPath("type"), newS.Type, "field is immutable"))
	}
	if oldS.Immutable != nil && *oldS.Immutable {
		if newS.Immutable == nil || !*newS.Immutable {
			errs = append(errs, forbidden(fieldPath("immutable"), "field is immutable when `immutable` is set"))
		}
		if !sameJSON(newS.Data, oldS.Data) {
			errs = append(errs, forbidden(fieldPath("data"), "field is immutable when `immutable` is set"))
		}
	}
	return errs
}

// IsConfigMapKey checks a key of a secret's (or config map's) data:
// letters, digits, '-', '_' and '.', at most 253 characters, and neither
// "." nor "..", nor starting with "..".
func IsConfigMapKey(value string) []string {
	var msgs []string
	if len(value) > 253 {
		msgs = append(msgs, maxLenError(253))
	}
	valid := value != ""
	for i := 0; i < len(value); i++ {
		c := value[i]
		if !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			valid = false
			break
		}
	}
	if !valid {
		msgs = append(msgs, regexError("a valid config key must consist of alphanumeric characters, '-', '_' or '.'", `[-._a-zA-Z0-9]+`, "key.name", "KEY_NAME", "key-name"))
	}
	switch {
	case value == ".":
		msgs = append(msgs, "must not be '.'")
	case value == "..":
		msgs = append(msgs, "must not be '..'")
	case len(value) > 2 && value[:2] == "..":
		msgs = append(msgs, "must not start with '..'")
	}
	return msgs
}
