package api

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
)

// Selector filters objects by their labels, as Kubernetes label selectors
// do ("app=web,tier in (front,back),!canary").
type Selector interface {
	// Matches reports whether a set of labels satisfies every requirement.
	Matches(labels map[string]string) bool
	// String returns the canonical text, which ParseSelector accepts.
	String() string
	// Empty reports whether the selector has no requirements and so
	// matches everything.
	Empty() bool
}

// selectorOp is the operator of one requirement.
type selectorOp string

const (
	opEquals       selectorOp = "="
	opNotEquals    selectorOp = "!="
	opIn           selectorOp = "in"
	opNotIn        selectorOp = "notin"
	opExists       selectorOp = "exists"
	opDoesNotExist selectorOp = "!"
	opGreaterThan  selectorOp = ">"
	opLessThan     selectorOp = "<"
)

// requirement is one comma-separated term of a selector.
type requirement struct {
	key    string
	op     selectorOp
	values []string // sorted
}

func (r requirement) matches(labels map[string]string) bool {
	v, has := labels[r.key]
	switch r.op {
	case opEquals:
		return has && v == r.values[0]
	case opNotEquals:
		return !has || v != r.values[0]
	case opIn:
		return has && contains(r.values, v)
	case opNotIn:
		return !has || !contains(r.values, v)
	case opExists:
		return has
	case opDoesNotExist:
		return !has
	case opGreaterThan, opLessThan:
		if !has {
			return false
		}
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil {
			return false
		}
		bound, _ := strconv.ParseInt(r.values[0], 10, 64)
		if r.op == opGreaterThan {
			return n > bound
		}
		return n < bound
	}
	return false
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

// String renders the requirement in canonical selector syntax.
func (r requirement) String() string {
	switch r.op {
	case opExists:
		return r.key
	case opDoesNotExist:
		return "!" + r.key
	case opIn, opNotIn:
		return r.key + " " + string(r.op) + " (" + strings.Join(r.values, ",") + ")"
	default:
		return r.key + string(r.op) + r.values[0]
	}
}

// requirements is a Selector: all requirements must match.
type requirements []requirement

// Matches reports whether every requirement holds.
func (rs requirements) Matches(labels map[string]string) bool {
	for _, r := range rs {
		if !r.matches(labels) {
			return false
		}
	}
	return true
}

// String joins the requirements with commas.
func (rs requirements) String() string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = r.String()
	}
	return strings.Join(parts, ",")
}

// Empty reports whether there are no requirements.
func (rs requirements) Empty() bool { return len(rs) == 0 }

// Everything returns the selector that matches every object.
func Everything() Selector { return requirements(nil) }

// SelectorFromSet returns a selector requiring each key to equal its value.
// An empty or nil set selects everything.
func SelectorFromSet(set map[string]string) Selector {
	rs := make(requirements, 0, len(set))
	for _, k := range sortedKeys(set) {
		rs = append(rs, requirement{key: k, op: opEquals, values: []string{set[k]}})
	}
	return rs
}

// ParseSelector parses a label selector: comma-separated requirements (all
// must hold), each one of "key=value", "key==value", "key!=value",
// "key in (v1,v2)", "key notin (v1)", "key" (exists), "!key" (does not
// exist), "key>N" or "key<N". The empty string selects everything.
func ParseSelector(s string) (Selector, error) {
	p := &selectorParser{toks: lexSelector(s)}
	var rs requirements
	if p.peek().kind == tokEOF {
		return rs, nil
	}
	for {
		r, err := p.requirement()
		if err != nil {
			return nil, fmt.Errorf("invalid label selector %q: %w", s, err)
		}
		rs = append(rs, r)
		t := p.next()
		if t.kind == tokEOF {
			break
		}
		if t.kind != tokComma {
			return nil, fmt.Errorf("invalid label selector %q: found %q at position %d, expected ',' or end of selector", s, t.text, t.pos)
		}
	}
	sort.SliceStable(rs, func(i, j int) bool { return rs[i].key < rs[j].key })
	return rs, nil
}

type tokenKind int

const (
	tokEOF tokenKind = iota
	tokIdent
	tokComma
	tokNot       // !
	tokEquals    // = or ==
	tokNotEquals // !=
	tokOpen      // (
	tokClose     // )
	tokGreater   // >
	tokLess      // <
)

type selectorToken struct {
	kind tokenKind
	text string
	pos  int
}

// lexSelector splits a selector into tokens; identifiers are runs of
// anything but blanks and the operator characters.
func lexSelector(s string) []selectorToken {
	var toks []selectorToken
	i := 0
	for i < len(s) {
		c := s[i]
		start := i
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r':
			i++
			continue
		case c == ',':
			toks = append(toks, selectorToken{tokComma, ",", start})
			i++
		case c == '(':
			toks = append(toks, selectorToken{tokOpen, "(", start})
			i++
		case c == ')':
			toks = append(toks, selectorToken{tokClose, ")", start})
			i++
		case c == '>':
			toks = append(toks, selectorToken{tokGreater, ">", start})
			i++
		case c == '<':
			toks = append(toks, selectorToken{tokLess, "<", start})
			i++
		case c == '!' && i+1 < len(s) && s[i+1] == '=':
			toks = append(toks, selectorToken{tokNotEquals, "!=", start})
			i += 2
		case c == '!':
			toks = append(toks, selectorToken{tokNot, "!", start})
			i++
		case c == '=' && i+1 < len(s) && s[i+1] == '=':
			toks = append(toks, selectorToken{tokEquals, "==", start})
			i += 2
		case c == '=':
			toks = append(toks, selectorToken{tokEquals, "=", start})
			i++
		default:
			for i < len(s) && !strings.ContainsRune(" \t\n\r,()<>!=", rune(s[i])) {
				i++
			}
			toks = append(toks, selectorToken{tokIdent, s[start:i], start})
		}
	}
	return append(toks, selectorToken{tokEOF, "", len(s)})
}

type selectorParser struct {
	toks []selectorToken
	i    int
}

func (p *selectorParser) peek() selectorToken { return p.toks[p.i] }

func (p *selectorParser) next() selectorToken {
	t := p.toks[p.i]
	if t.kind != tokEOF {
		p.i++
	}
	return t
}

func describe(t selectorToken) string {
	if t.kind == tokEOF {
		return "end of selector"
	}
	return fmt.Sprintf("%q at position %d", t.text, t.pos)
}

func (p *selectorParser) requirement() (requirement, error) {
	t := p.next()
	if t.kind == tokNot {
		k := p.next()
		if k.kind != tokIdent {
			return requirement{}, fmt.Errorf("found %s, expected a label key after '!'", describe(k))
		}
		return requirement{key: k.text, op: opDoesNotExist}, checkKey(k.text)
	}
	if t.kind != tokIdent {
		return requirement{}, fmt.Errorf("found %s, expected a label key or '!'", describe(t))
	}
	r := requirement{key: t.text}
	if err := checkKey(r.key); err != nil {
		return r, err
	}
	op := p.peek()
	switch {
	case op.kind == tokEOF || op.kind == tokComma:
		r.op = opExists
		return r, nil
	case op.kind == tokEquals, op.kind == tokNotEquals:
		p.next()
		r.op = opEquals
		if op.kind == tokNotEquals {
			r.op = opNotEquals
		}
		v := ""
		if p.peek().kind == tokIdent {
			v = p.next().text
		} else if k := p.peek().kind; k != tokEOF && k != tokComma {
			return r, fmt.Errorf("found %s, expected a value after %q", describe(p.peek()), op.text)
		}
		r.values = []string{v}
		return r, checkValue(v)
	case op.kind == tokGreater, op.kind == tokLess:
		p.next()
		r.op = opGreaterThan
		if op.kind == tokLess {
			r.op = opLessThan
		}
		v := p.next()
		if v.kind != tokIdent {
			return r, fmt.Errorf("found %s, expected an integer after %q", describe(v), op.text)
		}
		if _, err := strconv.ParseInt(v.text, 10, 64); err != nil {
			return r, fmt.Errorf("%q at position %d is not an integer, as %q requires", v.text, v.pos, op.text)
		}
		r.values = []string{v.text}
		return r, nil
	case op.kind == tokIdent && (op.text == "in" || op.text == "notin"):
		p.next()
		r.op = selectorOp(op.text)
		vals, err := p.valueSet(op.text)
		r.values = vals
		return r, err
	default:
		return r, fmt.Errorf("found %s, expected one of '=', '==', '!=', 'in', 'notin', '>', '<', ',' or end of selector", describe(op))
	}
}

// valueSet parses "(v1, v2)" after in or notin.
func (p *selectorParser) valueSet(op string) ([]string, error) {
	if t := p.next(); t.kind != tokOpen {
		return nil, fmt.Errorf("found %s, expected '(' after %q", describe(t), op)
	}
	var vals []string
	for {
		t := p.next()
		if t.kind == tokClose && len(vals) == 0 {
			return nil, fmt.Errorf("the value set of %q must not be empty", op)
		}
		if t.kind != tokIdent {
			return nil, fmt.Errorf("found %s, expected a value", describe(t))
		}
		if err := checkValue(t.text); err != nil {
			return nil, err
		}
		if !contains(vals, t.text) {
			vals = append(vals, t.text)
		}
		switch sep := p.next(); sep.kind {
		case tokClose:
			sort.Strings(vals)
			return vals, nil
		case tokComma:
		default:
			return nil, fmt.Errorf("found %s, expected ',' or ')'", describe(sep))
		}
	}
}

func checkKey(k string) error {
	if msgs := IsQualifiedName(k); len(msgs) > 0 {
		return fmt.Errorf("invalid label key %q: %s", k, strings.Join(msgs, "; "))
	}
	return nil
}

func checkValue(v string) error {
	if msgs := IsValidLabelValue(v); len(msgs) > 0 {
		return fmt.Errorf("invalid label value %q: %s", v, strings.Join(msgs, "; "))
	}
	return nil
}
