package api

import (
	"bytes"
	"encoding"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// DecodeError is a manifest that could not be decoded: malformed JSON or
// YAML (Syntax, with its Line when known) or fields that do not fit the
// kind's schema (Errs: unknown fields, wrong types, bad quantities). It
// means HTTP 400; validation errors (HTTP 422) are an ErrorList instead.
type DecodeError struct {
	Errs   ErrorList
	Syntax string
	// Line is the 1-based line of a syntax error, 0 when unknown.
	Line int
}

// Error renders "strict decoding error: spec.containers[0].imagee: unknown
// field", or the syntax error.
func (e *DecodeError) Error() string {
	if e.Syntax != "" {
		return "error parsing manifest: " + e.Syntax
	}
	return "strict decoding error: " + e.Errs.Error()
}

// UnknownKindError is a manifest whose apiVersion and kind name no
// registered kind. It means HTTP 400.
type UnknownKindError struct {
	APIVersion string
	Kind       string
}

// Error renders `no kind "Foo" is registered for version "v1"`.
func (e *UnknownKindError) Error() string {
	return fmt.Sprintf("no kind %q is registered for version %q", e.Kind, e.APIVersion)
}

// IsBadRequest reports whether err is a decoding error (*DecodeError or
// *UnknownKindError), which the API answers with 400.
func IsBadRequest(err error) bool {
	var de *DecodeError
	var ue *UnknownKindError
	return errors.As(err, &de) || errors.As(err, &ue)
}

// Decode reads one JSON or YAML manifest, finds its kind from apiVersion and
// kind, and strictly decodes it into that kind's Go type. Every unknown
// field, wrong type and bad quantity is reported at once in a *DecodeError;
// an unregistered kind is an *UnknownKindError.
func (s *Scheme) Decode(data []byte) (Object, *KindInfo, error) {
	tree, js, err := parseManifest(data)
	if err != nil {
		return nil, nil, err
	}
	obj, ok := tree.(*jsonObject)
	if !ok {
		return nil, nil, &DecodeError{Errs: ErrorList{typeMismatch("", "object", tree)}}
	}
	var errs ErrorList
	apiVersion, e := typeMetaField(obj, "apiVersion")
	errs = append(errs, e...)
	kind, e := typeMetaField(obj, "kind")
	errs = append(errs, e...)
	if len(errs) > 0 {
		return nil, nil, &DecodeError{Errs: errs}
	}
	k, ok := s.ByKind(apiVersion, kind)
	if !ok {
		return nil, nil, &UnknownKindError{APIVersion: apiVersion, Kind: kind}
	}
	out := k.New()
	if err := s.decodeTree(tree, js, out, k); err != nil {
		return nil, nil, err
	}
	return out, k, nil
}

// typeMetaField reads apiVersion or kind, which Decode needs to pick a type.
func typeMetaField(obj *jsonObject, name string) (string, ErrorList) {
	v, ok := obj.get(name)
	if !ok || v == nil || v == "" {
		return "", ErrorList{required(fieldPath(name), "")}
	}
	str, ok := v.(string)
	if !ok {
		return "", ErrorList{typeMismatch(fieldPath(name), "string", v)}
	}
	return str, nil
}

// DecodeInto strictly decodes one JSON or YAML manifest into obj, which
// should be empty (as made by KindInfo.New). When obj's type is a registered
// kind, an apiVersion or kind in the data must match it, and obj's TypeMeta
// is set to it.
func (s *Scheme) DecodeInto(data []byte, obj Object) error {
	tree, js, err := parseManifest(data)
	if err != nil {
		return err
	}
	k, _ := s.ForObject(obj)
	return s.decodeTree(tree, js, obj, k)
}

// parseManifest turns JSON or YAML into JSON and its generic tree.
func parseManifest(data []byte) (any, []byte, error) {
	js, err := toJSON(data)
	if err != nil {
		return nil, nil, err
	}
	tree, dups, err := parseTree(js)
	if err != nil {
		return nil, nil, err
	}
	if len(dups) > 0 {
		return nil, nil, &DecodeError{Errs: dups}
	}
	if tree == nil {
		return nil, nil, &DecodeError{Syntax: "the manifest is empty"}
	}
	return tree, js, nil
}

// looksLikeJSON reports whether data is meant as JSON rather than YAML: it
// opens an object with a quoted key (or is empty), or opens an array. A YAML
// flow mapping such as "{name: a}" is not JSON.
func looksLikeJSON(data []byte) bool {
	trimmed := bytes.TrimSpace(data)
	if len(trimmed) == 0 {
		return false
	}
	if trimmed[0] == '[' {
		return true
	}
	if trimmed[0] != '{' {
		return false
	}
	rest := bytes.TrimSpace(trimmed[1:])
	return len(rest) > 0 && (rest[0] == '"' || rest[0] == '}')
}

// toJSON converts YAML to JSON; JSON passes through unchanged.
func toJSON(data []byte) ([]byte, error) {
	if looksLikeJSON(data) {
		return data, nil
	}
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
		return nil, &DecodeError{Syntax: msg, Line: yamlErrorLine(msg)}
	}
	return js, nil
}

// yamlErrorLine finds "line N" in a YAML parser message.
func yamlErrorLine(msg string) int {
	_, rest, ok := strings.Cut(msg, "line ")
	if !ok {
		return 0
	}
	end := 0
	for end < len(rest) && rest[end] >= '0' && rest[end] <= '9' {
		end++
	}
	n, _ := strconv.Atoi(rest[:end])
	return n
}

// decodeTree checks the tree against obj's Go type, then unmarshals.
func (s *Scheme) decodeTree(tree any, js []byte, obj Object, k *KindInfo) error {
	top, ok := tree.(*jsonObject)
	if !ok {
		return &DecodeError{Errs: ErrorList{typeMismatch("", "object", tree)}}
	}
	var errs ErrorList
	if k != nil {
		for _, f := range []struct{ name, want string }{{"apiVersion", k.APIVersion()}, {"kind", k.Kind}} {
			if v, ok := top.get(f.name); ok && v != nil && v != "" && v != f.want {
				errs = append(errs, invalid(fieldPath(f.name), v, fmt.Sprintf("must be %q for this resource", f.want)))
			}
		}
	}
	d := &strictDecoder{s: s, errs: errs}
	d.walk(tree, reflect.TypeOf(obj), "")
	if len(d.errs) > 0 {
		return &DecodeError{Errs: d.errs}
	}
	if err := json.Unmarshal(js, obj); err != nil {
		return &DecodeError{Errs: ErrorList{invalid("", nil, err.Error())}}
	}
	if k != nil {
		*obj.GetTypeMeta() = TypeMeta{APIVersion: k.APIVersion(), Kind: k.Kind}
	}
	return nil
}

// structFields is the strict decoder's view of a struct type: its JSON
// field names, with inline (embedded) structs flattened.
type structFields struct {
	byName map[string]reflect.Type
}

// fieldsOf returns the cached field table of a struct type.
func (s *Scheme) fieldsOf(t reflect.Type) *structFields {
	if v, ok := s.fields.Load(t); ok {
		return v.(*structFields)
	}
	v, _ := s.fields.LoadOrStore(t, buildFields(t))
	return v.(*structFields)
}

// buildFields follows encoding/json's rules: a `json:"-"` field is skipped,
// an embedded struct without a name is inlined, and a shallower field hides
// a deeper one of the same name.
func buildFields(t reflect.Type) *structFields {
	out := &structFields{byName: map[string]reflect.Type{}}
	depthOf := map[string]int{}
	var add func(t reflect.Type, depth int)
	add = func(t reflect.Type, depth int) {
		for i := 0; i < t.NumField(); i++ {
			sf := t.Field(i)
			tag := sf.Tag.Get("json")
			if tag == "-" {
				continue
			}
			name, _, _ := strings.Cut(tag, ",")
			if sf.Anonymous && name == "" {
				et := sf.Type
				if et.Kind() == reflect.Pointer {
					et = et.Elem()
				}
				if et.Kind() == reflect.Struct {
					add(et, depth+1)
					continue
				}
			}
			if !sf.IsExported() {
				continue
			}
			if name == "" {
				name = sf.Name
			}
			if d, ok := depthOf[name]; ok && d <= depth {
				continue
			}
			depthOf[name] = depth
			out.byName[name] = sf.Type
		}
	}
	add(t, 0)
	return out
}

// strictDecoder walks a generic tree against a Go type, collecting every
// mismatch as a field error.
type strictDecoder struct {
	s    *Scheme
	errs ErrorList
}

func (d *strictDecoder) add(e *FieldError) { d.errs = append(d.errs, e) }

// typeMismatch reports a JSON value of the wrong type.
func typeMismatch(p fieldPath, want string, got any) *FieldError {
	return &FieldError{Type: ErrorTypeTypeInvalid, Field: p.String(),
		Detail: "expected " + want + ", got " + jsonKind(got)}
}

// goKind names what JSON a Go type expects, for error messages.
func goKind(t reflect.Type) string {
	switch t.Kind() {
	case reflect.String:
		return "string"
	case reflect.Bool:
		return "boolean"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "integer"
	case reflect.Float32, reflect.Float64:
		return "number"
	case reflect.Slice, reflect.Array:
		return "array"
	default:
		return "object"
	}
}

// walk checks value v (null is always accepted and leaves the zero value,
// as encoding/json does) against type t at path p.
func (d *strictDecoder) walk(v any, t reflect.Type, p fieldPath) {
	if v == nil {
		return
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[json.Unmarshaler]()) {
		d.custom(v, t, p)
		return
	}
	if reflect.PointerTo(t).Implements(reflect.TypeFor[encoding.TextUnmarshaler]()) && t.Kind() != reflect.String {
		str, ok := v.(string)
		if !ok {
			d.add(typeMismatch(p, "string", v))
			return
		}
		if err := reflect.New(t).Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(str)); err != nil {
			d.add(invalid(p, str, err.Error()))
		}
		return
	}
	switch t.Kind() {
	case reflect.Struct:
		d.object(v, t, p)
	case reflect.Map:
		d.mapValue(v, t, p)
	case reflect.Slice, reflect.Array:
		d.array(v, t, p)
	case reflect.String:
		if _, ok := v.(string); !ok {
			d.add(typeMismatch(p, "string", v))
		}
	case reflect.Bool:
		if _, ok := v.(bool); !ok {
			d.add(typeMismatch(p, "boolean", v))
		}
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		d.number(v, t, p)
	case reflect.Interface:
		// any JSON value fits
	default:
		d.add(invalid(p, nil, "field of Go type "+t.String()+" cannot be decoded"))
	}
}

// custom hands the sub-value to the type's own UnmarshalJSON (Quantity,
// Time) and reports its error at this path.
func (d *strictDecoder) custom(v any, t reflect.Type, p fieldPath) {
	switch t {
	case reflect.TypeFor[Quantity]():
		if _, ok := v.(json.Number); !ok {
			if _, ok := v.(string); !ok {
				d.add(typeMismatch(p, "string or number", v))
				return
			}
		}
	case reflect.TypeFor[Time]():
		if _, ok := v.(string); !ok {
			d.add(typeMismatch(p, "string", v))
			return
		}
	}
	var buf bytes.Buffer
	encodeTree(&buf, v)
	err := reflect.New(t).Interface().(json.Unmarshaler).UnmarshalJSON(buf.Bytes())
	if err == nil {
		return
	}
	var ute *json.UnmarshalTypeError
	if errors.As(err, &ute) {
		d.add(&FieldError{Type: ErrorTypeTypeInvalid, Field: p.String(),
			Detail: "expected " + goKind(ute.Type) + ", got " + ute.Value})
		return
	}
	var shown any
	switch x := v.(type) {
	case string, json.Number, bool:
		shown = x
	}
	d.add(invalid(p, shown, err.Error()))
}

func (d *strictDecoder) object(v any, t reflect.Type, p fieldPath) {
	obj, ok := v.(*jsonObject)
	if !ok {
		d.add(typeMismatch(p, "object", v))
		return
	}
	fields := d.s.fieldsOf(t)
	for i, key := range obj.keys {
		ft, ok := fields.byName[key]
		if !ok {
			d.add(&FieldError{Type: ErrorTypeUnknown, Field: p.child(key).String()})
			continue
		}
		d.walk(obj.vals[i], ft, p.child(key))
	}
}

func (d *strictDecoder) mapValue(v any, t reflect.Type, p fieldPath) {
	obj, ok := v.(*jsonObject)
	if !ok {
		d.add(typeMismatch(p, "object", v))
		return
	}
	if t.Key().Kind() != reflect.String {
		d.add(invalid(p, nil, "maps with "+t.Key().String()+" keys cannot be decoded"))
		return
	}
	for i, key := range obj.keys {
		// resource names read as fields ("limits.cpu"); other keys as
		// indexes ("nodeSelector[disk]"), as Kubernetes writes them
		kp := p.key(key)
		if t == reflect.TypeFor[ResourceList]() {
			kp = p.child(key)
		}
		d.walk(obj.vals[i], t.Elem(), kp)
	}
}

func (d *strictDecoder) array(v any, t reflect.Type, p fieldPath) {
	if t.Kind() == reflect.Slice && t.Elem().Kind() == reflect.Uint8 {
		// []byte is base64 text in JSON; the text is never quoted back, as
		// it may be a secret's value
		str, ok := v.(string)
		if !ok {
			d.add(typeMismatch(p, "string", v))
		} else if _, err := base64.StdEncoding.DecodeString(str); err != nil {
			d.add(invalid(p, nil, "must be base64 text: "+err.Error()))
		}
		return
	}
	arr, ok := v.([]any)
	if !ok {
		d.add(typeMismatch(p, "array", v))
		return
	}
	if t.Kind() == reflect.Array && len(arr) > t.Len() {
		d.add(invalid(p, nil, fmt.Sprintf("must have at most %d items", t.Len())))
	}
	for i, e := range arr {
		d.walk(e, t.Elem(), p.index(i))
	}
}

// number checks that a JSON number fits a Go numeric type: integral for
// integers, and in range.
func (d *strictDecoder) number(v any, t reflect.Type, p fieldPath) {
	n, ok := v.(json.Number)
	if !ok {
		d.add(typeMismatch(p, goKind(t), v))
		return
	}
	var err error
	switch t.Kind() {
	case reflect.Float32, reflect.Float64:
		_, err = strconv.ParseFloat(n.String(), t.Bits())
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		_, err = strconv.ParseUint(n.String(), 10, t.Bits())
	default:
		_, err = strconv.ParseInt(n.String(), 10, t.Bits())
	}
	if err == nil {
		return
	}
	if errors.Is(err, strconv.ErrRange) {
		d.add(invalid(p, n.String(), "out of range for "+t.Kind().String()))
		return
	}
	d.add(&FieldError{Type: ErrorTypeTypeInvalid, Field: p.String(), Value: n.String(),
		Detail: "expected " + goKind(t) + ", got number"})
}

// Encode writes an object as JSON, the storage and wire format.
func Encode(obj Object) ([]byte, error) { return json.Marshal(obj) }

// EncodeYAML writes an object as YAML, for people.
func EncodeYAML(obj Object) ([]byte, error) {
	js, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	return yaml.JSONToYAML(js)
}
