package api

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// The strict decoder first parses a document into a generic tree that keeps
// object keys in document order (so errors come out in the order a user
// reads them) and catches duplicate keys, which encoding/json silently
// resolves to the last one.

// jsonObject is a JSON object with its keys in document order.
type jsonObject struct {
	keys []string
	vals []any
}

// get returns the value of key, if present.
func (o *jsonObject) get(key string) (any, bool) {
	for i, k := range o.keys {
		if k == key {
			return o.vals[i], true
		}
	}
	return nil, false
}

// maxJSONDepth bounds nesting, as encoding/json does, so hostile input
// cannot exhaust the stack.
const maxJSONDepth = 10000

type treeParser struct {
	dec   *json.Decoder
	dups  ErrorList
	depth int
}

// parseTree parses one JSON document into nil, bool, json.Number, string,
// []any and *jsonObject values. Duplicate keys are returned as field errors;
// malformed JSON as a *DecodeError carrying the line.
func parseTree(data []byte) (any, ErrorList, error) {
	if tree, dups, ok := parseTreeFast(data); ok {
		return tree, dups, nil
	}
	p := &treeParser{dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	v, err := p.value("")
	if err == nil {
		if _, terr := p.dec.Token(); terr != io.EOF {
			err = fmt.Errorf("invalid data after the top-level value at offset %d", p.dec.InputOffset())
			if terr != nil {
				err = terr
			}
		}
	}
	if err != nil {
		return nil, nil, jsonSyntaxError(data, err, p.dec.InputOffset())
	}
	return v, p.dups, nil
}

// jsonSyntaxError turns a parse error into a *DecodeError naming the line.
func jsonSyntaxError(data []byte, err error, offset int64) *DecodeError {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		offset = se.Offset
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		err = errors.New("unexpected end of JSON input")
		offset = int64(len(data))
	}
	if offset > int64(len(data)) {
		offset = int64(len(data))
	}
	line := 1 + bytes.Count(data[:offset], []byte("\n"))
	return &DecodeError{Syntax: "line " + strconv.Itoa(line) + ": " + err.Error(), Line: line}
}

func (p *treeParser) value(path fieldPath) (any, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	d, ok := tok.(json.Delim)
	if !ok {
		return tok, nil
	}
	p.depth++
	defer func() { p.depth-- }()
	if p.depth > maxJSONDepth {
		return nil, errors.New("exceeded max depth")
	}
	switch d {
	case '{':
		obj := &jsonObject{}
		seen := map[string]bool{}
		for p.dec.More() {
			kt, err := p.dec.Token()
			if err != nil {
				return nil, err
			}
			key, _ := kt.(string)
			v, err := p.value(path.child(key))
			if err != nil {
				return nil, err
			}
			if seen[key] {
				p.dups = append(p.dups, &FieldError{Type: ErrorTypeDuplicate, Field: path.child(key).String(),
					Detail: "the field appears more than once"})
				continue
			}
			seen[key] = true
			obj.keys = append(obj.keys, key)
			obj.vals = append(obj.vals, v)
		}
		_, err := p.dec.Token() // '}'
		return obj, err
	default: // '['
		arr := []any{}
		for i := 0; p.dec.More(); i++ {
			v, err := p.value(path.index(i))
			if err != nil {
				return nil, err
			}
			arr = append(arr, v)
		}
		_, err := p.dec.Token() // ']'
		return arr, err
	}
}

// encodeTree writes a tree back as JSON, for handing a sub-value to a
// type's own UnmarshalJSON.
func encodeTree(buf *bytes.Buffer, v any) {
	switch t := v.(type) {
	case nil:
		buf.WriteString("null")
	case bool:
		buf.WriteString(strconv.FormatBool(t))
	case json.Number:
		buf.WriteString(t.String())
	case string:
		b, _ := json.Marshal(t)
		buf.Write(b)
	case []any:
		buf.WriteByte('[')
		for i, e := range t {
			if i > 0 {
				buf.WriteByte(',')
			}
			encodeTree(buf, e)
		}
		buf.WriteByte(']')
	case *jsonObject:
		buf.WriteByte('{')
		for i, k := range t.keys {
			if i > 0 {
				buf.WriteByte(',')
			}
			encodeTree(buf, k)
			buf.WriteByte(':')
			encodeTree(buf, t.vals[i])
		}
		buf.WriteByte('}')
	}
}

// jsonKind names the JSON type of a tree value for error messages.
func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case json.Number:
		return "number"
	case string:
		return "string"
	case []any:
		return "array"
	default:
		return "object"
	}
}
