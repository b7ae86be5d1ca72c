package api

import (
	"strings"
	"testing"
)

func TestParseSelector(t *testing.T) {
	web := map[string]string{"app": "web", "tier": "front", "replicas": "3"}
	db := map[string]string{"app": "db", "tier": "back"}
	none := map[string]string{}
	tests := []struct {
		in      string
		str     string // canonical form
		matches []map[string]string
		rejects []map[string]string
	}{
		{"", "", []map[string]string{web, db, none}, nil},
		{"app=web", "app=web", []map[string]string{web}, []map[string]string{db, none}},
		{"app==web", "app=web", []map[string]string{web}, []map[string]string{db}},
		{"app!=web", "app!=web", []map[string]string{db, none}, []map[string]string{web}},
		{"tier in (front, middle)", "tier in (front,middle)", []map[string]string{web}, []map[string]string{db, none}},
		{"tier notin (front)", "tier notin (front)", []map[string]string{db, none}, []map[string]string{web}},
		{"replicas", "replicas", []map[string]string{web}, []map[string]string{db}},
		{"!replicas", "!replicas", []map[string]string{db, none}, []map[string]string{web}},
		{" tier = back , app in (db,web) ", "app in (db,web),tier=back", []map[string]string{db}, []map[string]string{web}},
		{"replicas>2", "replicas>2", []map[string]string{web}, []map[string]string{db}},
		{"replicas<3", "replicas<3", nil, []map[string]string{web, db}},
		{"example.com/role=x", "example.com/role=x", []map[string]string{{"example.com/role": "x"}}, []map[string]string{web}},
		{"app=", "app=", []map[string]string{{"app": ""}}, []map[string]string{web, none}},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			sel, err := ParseSelector(tt.in)
			if err != nil {
				t.Fatalf("ParseSelector(%q): %v", tt.in, err)
			}
			if got := sel.String(); got != tt.str {
				t.Errorf("String() = %q, want %q", got, tt.str)
			}
			if sel.Empty() != (tt.str == "") {
				t.Errorf("Empty() = %v", sel.Empty())
			}
			for _, l := range tt.matches {
				if !sel.Matches(l) {
					t.Errorf("should match %v", l)
				}
			}
			for _, l := range tt.rejects {
				if sel.Matches(l) {
					t.Errorf("should not match %v", l)
				}
			}
			again, err := ParseSelector(sel.String())
			if err != nil || again.String() != sel.String() {
				t.Errorf("canonical form does not parse back: %v", err)
			}
		})
	}
}

func TestParseSelectorErrors(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		{"app=web,", "found end of selector, expected a label key or '!'"},
		{",app", `found "," at position 0, expected a label key or '!'`},
		{"app in web", `found "web" at position 7, expected '(' after "in"`},
		{"app in ()", `the value set of "in" must not be empty`},
		{"app in (a b)", `found "b" at position 10, expected ',' or ')'`},
		{"app in (a,", "found end of selector, expected a value"},
		{"app web", `found "web" at position 4, expected one of '=', '==', '!=', 'in', 'notin', '>', '<', ',' or end of selector`},
		{"app=web=x", `found "=" at position 7, expected ',' or end of selector`},
		{"app==(x)", `found "(" at position 5, expected a value after "=="`},
		{"!", "found end of selector, expected a label key after '!'"},
		{"-app=x", `invalid label key "-app": name part must consist of alphanumeric characters`},
		{"app=-x", `invalid label value "-x": a valid label must be an empty string`},
		{"n>x", `"x" at position 2 is not an integer, as ">" requires`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			_, err := ParseSelector(tt.in)
			if err == nil {
				t.Fatalf("ParseSelector(%q) succeeded", tt.in)
			}
			if !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "invalid label selector") {
				t.Errorf("error = %v\nwant it to contain %q", err, tt.want)
			}
		})
	}
}

func TestSelectorFromSet(t *testing.T) {
	sel := SelectorFromSet(map[string]string{"b": "2", "a": "1"})
	if got := sel.String(); got != "a=1,b=2" {
		t.Errorf("String() = %q", got)
	}
	if !sel.Matches(map[string]string{"a": "1", "b": "2", "c": "3"}) || sel.Matches(map[string]string{"a": "1"}) {
		t.Errorf("Matches is wrong")
	}
	if !SelectorFromSet(nil).Empty() || !Everything().Empty() || !Everything().Matches(nil) {
		t.Errorf("empty selectors should match everything")
	}
}
