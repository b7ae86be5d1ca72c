package api

import (
	"errors"
	"strings"
	"testing"
)

func TestSplitYAMLDocuments(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		kinds []string // kind of each document, in order
	}{
		{"single", "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n", []string{"Namespace"}},
		{"separators, empty and comment documents",
			"---\napiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\n\n---\n# just a comment\n---\napiVersion: v1\nkind: Node\nmetadata: {name: b}\n...\n",
			[]string{"Namespace", "Node"}},
		{"content after the marker", "--- {apiVersion: v1, kind: Namespace, metadata: {name: a}}\n--- # c\napiVersion: v1\nkind: Node\nmetadata: {name: b}\n",
			[]string{"Namespace", "Node"}},
		{"CRLF line ends", "apiVersion: v1\r\nkind: Namespace\r\nmetadata: {name: a}\r\n---\r\napiVersion: v1\r\nkind: Node\r\nmetadata: {name: b}\r\n",
			[]string{"Namespace", "Node"}},
		{"a JSON document", `  {"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}}`, []string{"Namespace"}},
		{"a JSON array", `[{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"a"}},{"apiVersion":"v1","kind":"Node","metadata":{"name":"b"}}]`,
			[]string{"Namespace", "Node"}},
		{"a JSON list", `{"apiVersion":"v1","kind":"List","items":[{"apiVersion":"v1","kind":"Node","metadata":{"name":"b"}}]}`,
			[]string{"Node"}},
		{"nothing", "# only comments\n---\n", nil},
		{"a block scalar holding a marker", "apiVersion: v1\nkind: Event\nmetadata: {name: e, namespace: d}\nmessage: |\n  ---\n  not a separator\n",
			[]string{"Event"}},
	}
	s := NewScheme()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := SplitYAMLDocuments([]byte(tt.in))
			if err != nil {
				t.Fatal(err)
			}
			var kinds []string
			for _, d := range docs {
				_, k, err := s.Decode(d)
				if err != nil {
					t.Fatalf("Decode: %v\n%s", err, d)
				}
				kinds = append(kinds, k.Kind)
			}
			if strings.Join(kinds, ",") != strings.Join(tt.kinds, ",") {
				t.Errorf("kinds = %v, want %v", kinds, tt.kinds)
			}
		})
	}
}

func TestSplitYAMLDocumentsLists(t *testing.T) {
	docs, err := SplitYAMLDocuments(readFixture(t, "list.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	s := NewScheme()
	var names []string
	for _, d := range docs {
		obj, _, err := s.Decode(d)
		if err != nil {
			t.Fatalf("Decode: %v\n%s", err, d)
		}
		names = append(names, obj.GetObjectMeta().Name)
	}
	if got := strings.Join(names, ","); got != "one,two,three" {
		t.Errorf("names = %s", got)
	}
}

// Line numbers in errors of later documents are those of the whole file.
func TestSplitYAMLDocumentsKeepsLines(t *testing.T) {
	in := "apiVersion: v1\nkind: Namespace\nmetadata: {name: a}\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: x\n   bad: indent\n"
	docs, err := SplitYAMLDocuments([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(docs) != 2 {
		t.Fatalf("%d documents", len(docs))
	}
	_, _, err = NewScheme().Decode(docs[1])
	var de *DecodeError
	if !errors.As(err, &de) || de.Line != 9 {
		t.Errorf("error = %v, want a syntax error on line 9", err)
	}
	// A broken list is reported while splitting, also with the file's line.
	_, err = SplitYAMLDocuments([]byte("a: b\n---\nkind: List\nitems:\n- a\n  b: c\n"))
	if !errors.As(err, &de) || de.Line != 6 {
		t.Errorf("error = %v, want a syntax error on line 6", err)
	}
}
