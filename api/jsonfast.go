package api

import (
	"encoding/json"
	"unicode/utf8"
)

// fastParser builds the same tree as treeParser straight from the bytes,
// several times faster than walking json.Decoder tokens; it runs on every
// API write. It only accepts well-formed input: on anything else it gives
// up, and treeParser parses again to word the error exactly.
type fastParser struct {
	data  []byte
	pos   int
	depth int
	dups  []fastDup
}

// fastDup records a duplicate key; its field path is built only if one
// occurs, so the common case allocates no paths.
type fastDup struct {
	path []pathStep
}

type pathStep struct {
	key   string
	index int // -1 for object keys
}

// parseTreeFast returns the tree and duplicate-key errors, or ok=false.
func parseTreeFast(data []byte) (tree any, dups ErrorList, ok bool) {
	p := &fastParser{data: data}
	var stack []pathStep
	v, ok := p.value(&stack)
	if !ok {
		return nil, nil, false
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, nil, false
	}
	for _, d := range p.dups {
		var path fieldPath
		for _, s := range d.path {
			if s.index >= 0 {
				path = path.index(s.index)
			} else {
				path = path.child(s.key)
			}
		}
		dups = append(dups, &FieldError{Type: ErrorTypeDuplicate, Field: path.String(), Detail: "the field appears more than once"})
	}
	return v, dups, true
}

func (p *fastParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *fastParser) value(stack *[]pathStep) (any, bool) {
	p.space()
	if p.pos >= len(p.data) {
		return nil, false
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(stack)
	case c == '[':
		return p.array(stack)
	case c == '"':
		return p.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return p.literal()
	}
}

func (p *fastParser) enter() bool {
	p.depth++
	return p.depth <= maxJSONDepth
}

func (p *fastParser) object(stack *[]pathStep) (any, bool) {
	if !p.enter() {
		return nil, false
	}
	defer func() { p.depth-- }()
	p.pos++ // '{'
	obj := &jsonObject{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return obj, true
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, false
		}
		k, ok := p.str()
		if !ok {
			return nil, false
		}
		key := k.(string)
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, false
		}
		p.pos++
		*stack = append(*stack, pathStep{key: key, index: -1})
		v, ok := p.value(stack)
		if !ok {
			return nil, false
		}
		if _, dup := obj.get(key); dup {
			p.dups = append(p.dups, fastDup{path: append([]pathStep(nil), *stack...)})
		} else {
			obj.keys = append(obj.keys, key)
			obj.vals = append(obj.vals, v)
		}
		*stack = (*stack)[:len(*stack)-1]
		p.space()
		if p.pos >= len(p.data) {
			return nil, false
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return obj, true
		default:
			return nil, false
		}
	}
}

func (p *fastParser) array(stack *[]pathStep) (any, bool) {
	if !p.enter() {
		return nil, false
	}
	defer func() { p.depth-- }()
	p.pos++ // '['
	arr := []any{}
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return arr, true
	}
	for i := 0; ; i++ {
		*stack = append(*stack, pathStep{index: i})
		v, ok := p.value(stack)
		*stack = (*stack)[:len(*stack)-1]
		if !ok {
			return nil, false
		}
		arr = append(arr, v)
		p.space()
		if p.pos >= len(p.data) {
			return nil, false
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return arr, true
		default:
			return nil, false
		}
	}
}

// str reads a string. Plain ASCII without escapes is sliced directly;
// anything else is handed to encoding/json for exact unescaping.
func (p *fastParser) str() (any, bool) {
	start := p.pos
	p.pos++ // '"'
	simple := true
	for p.pos < len(p.data) {
		c := p.data[p.pos]
		switch {
		case c == '"':
			p.pos++
			raw := p.data[start:p.pos]
			if simple {
				return string(raw[1 : len(raw)-1]), true
			}
			var s string
			if json.Unmarshal(raw, &s) != nil {
				return nil, false
			}
			return s, true
		case c == '\\':
			simple = false
			p.pos += 2
		case c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			simple = false
			p.pos++
		default:
			p.pos++
		}
	}
	return nil, false
}

func (p *fastParser) digits() int {
	n := 0
	for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
		p.pos++
		n++
	}
	return n
}

// number checks JSON number syntax and keeps the text as a json.Number.
func (p *fastParser) number() (any, bool) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	if p.pos < len(p.data) && p.data[p.pos] == '0' {
		p.pos++
	} else if p.digits() == 0 {
		return nil, false
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if p.digits() == 0 {
			return nil, false
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if p.digits() == 0 {
			return nil, false
		}
	}
	return json.Number(p.data[start:p.pos]), true
}

func (p *fastParser) literal() (any, bool) {
	for _, l := range []struct {
		text string
		v    any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if len(p.data)-p.pos >= len(l.text) && string(p.data[p.pos:p.pos+len(l.text)]) == l.text {
			p.pos += len(l.text)
			return l.v, true
		}
	}
	return nil, false
}
