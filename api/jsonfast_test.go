package api

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

// slowTree runs only the json.Decoder-based parser.
func slowTree(data []byte) (any, ErrorList, error) {
	p := &treeParser{dec: json.NewDecoder(bytes.NewReader(data))}
	p.dec.UseNumber()
	v, err := p.value("")
	if err != nil {
		return nil, nil, err
	}
	if _, err := p.dec.Token(); err == nil {
		return nil, nil, errTrailing
	}
	return v, p.dups, nil
}

var errTrailing = &DecodeError{Syntax: "trailing data"}

// sameTree says whether the fast parser agrees with the slow one: when the
// fast one accepts, the slow one accepts with the same tree and duplicates.
func sameTree(t *testing.T, data []byte) {
	t.Helper()
	fast, fdups, ok := parseTreeFast(data)
	slow, sdups, err := slowTree(data)
	if !ok {
		return // the slow parser words the error; nothing to compare
	}
	if err != nil {
		t.Fatalf("fast parser accepted what the slow one rejects (%v): %q", err, data)
	}
	if !reflect.DeepEqual(fast, slow) {
		t.Fatalf("trees differ for %q:\nfast %#v\nslow %#v", data, fast, slow)
	}
	if fdups.Error() != sdups.Error() {
		t.Fatalf("duplicates differ for %q: fast %v, slow %v", data, fdups, sdups)
	}
}

func TestFastParserAgrees(t *testing.T) {
	cases := []string{
		`{}`, `[]`, `null`, ` {"a" : [1, -2.5e+3, "x\u00e9\n", true, false, null, {}]} `,
		`{"a":1,"a":2,"b":{"c":[{"d":1,"d":2}]}}`, `"caf\u00e9"`, `"naïve"`, `0`, `-0.1E-2`,
		`{"a":01}`, `{"a":1,}`, `[1 2]`, `{"a"}`, `"\x"`, `tru`, `{"a":1}x`, "\"a\x01\"", `-`, `1.`, `1e`,
	}
	for _, c := range cases {
		sameTree(t, []byte(c))
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "*.json"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		sameTree(t, b)
	}
}

func FuzzFastParser(f *testing.F) {
	for _, s := range []string{`{"a":[1,{"b":"c"}],"a":null}`, `[1.5e3,"\u0041",true]`, `{"k":"\ud83d\ude00"}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) { sameTree(t, data) })
}
