package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"sigs.k8s.io/yaml"
)

// DecodeError is a manifest that could not be decoded: malformed JSON or
// YAML (Syntax) or fields that do not fit the kind's schema (Errs). It means
// HTTP 400; validation errors (HTTP 422) are an ErrorList instead.
type DecodeError struct {
	Errs   ErrorList
	Syntax string
}

// Error renders "strict decoding error: spec.containers[0].imagee: unknown field".
func (e *DecodeError) Error() string {
	if e.Syntax != "" {
		return "syntax error: " + e.Syntax
	}
	return "strict decoding error: " + e.Errs.Error()
}

// Decode reads one JSON or YAML manifest, finds its kind from apiVersion and
// kind, and strictly decodes it into that kind's Go type.
func (s *Scheme) Decode(data []byte) (Object, *KindInfo, error) {
	js, err := toJSON(data)
	if err != nil {
		return nil, nil, err
	}
	var tm TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return nil, nil, &DecodeError{Syntax: err.Error()}
	}
	k, ok := s.ByKind(tm.APIVersion, tm.Kind)
	if !ok {
		return nil, nil, fmt.Errorf("no kind %q is registered for version %q", tm.Kind, tm.APIVersion)
	}
	obj := k.New()
	if err := s.DecodeInto(js, obj); err != nil {
		return nil, nil, err
	}
	return obj, k, nil
}

// DecodeInto strictly decodes one JSON or YAML manifest into obj.
func (s *Scheme) DecodeInto(data []byte, obj Object) error {
	js, err := toJSON(data)
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return &DecodeError{Syntax: err.Error()}
	}
	return nil
}

func toJSON(data []byte) ([]byte, error) {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) > 0 && trimmed[0] == '{' {
		return trimmed, nil
	}
	js, err := yaml.YAMLToJSON(data)
	if err != nil {
		return nil, &DecodeError{Syntax: strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")}
	}
	return js, nil
}
