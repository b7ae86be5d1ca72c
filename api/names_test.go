package api

import (
	"strings"
	"testing"
)

func TestNameChecks(t *testing.T) {
	tests := []struct {
		check func(string) []string
		name  string
		value string
		want  string // "" means valid; else a substring of the joined messages
	}{
		{IsDNS1123Label, "label", "my-name", ""},
		{IsDNS1123Label, "label", "123-abc", ""},
		{IsDNS1123Label, "label", "a", ""},
		{IsDNS1123Label, "label", "", "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name', or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"},
		{IsDNS1123Label, "label", "My-name", "RFC 1123 label"},
		{IsDNS1123Label, "label", "a.b", "RFC 1123 label"},
		{IsDNS1123Label, "label", "-a", "RFC 1123 label"},
		{IsDNS1123Label, "label", "a-", "RFC 1123 label"},
		{IsDNS1123Label, "label", strings.Repeat("a", 63), ""},
		{IsDNS1123Label, "label", strings.Repeat("a", 64), "must be no more than 63 characters"},
		{IsDNS1123Subdomain, "subdomain", "example.com", ""},
		{IsDNS1123Subdomain, "subdomain", "a-1.b-2.c", ""},
		{IsDNS1123Subdomain, "subdomain", "a..b", "RFC 1123 subdomain"},
		{IsDNS1123Subdomain, "subdomain", ".a", "RFC 1123 subdomain"},
		{IsDNS1123Subdomain, "subdomain", "A.com", "RFC 1123 subdomain"},
		{IsDNS1123Subdomain, "subdomain", strings.Repeat("a.", 127), "must be no more than 253 characters"},
		{IsQualifiedName, "qualified", "app", ""},
		{IsQualifiedName, "qualified", "My_App.v1", ""},
		{IsQualifiedName, "qualified", "example.com/app", ""},
		{IsQualifiedName, "qualified", "/app", "prefix part must be non-empty"},
		{IsQualifiedName, "qualified", "Example.com/app", "prefix part a lowercase RFC 1123 subdomain"},
		{IsQualifiedName, "qualified", "example.com/", "name part must be non-empty"},
		{IsQualifiedName, "qualified", "a/b/c", "a qualified name must consist of"},
		{IsQualifiedName, "qualified", "_app", "name part must consist of alphanumeric characters"},
		{IsQualifiedName, "qualified", strings.Repeat("a", 64), "name part must be no more than 63 characters"},
		{IsValidLabelValue, "label value", "", ""},
		{IsValidLabelValue, "label value", "v1.2_3-x", ""},
		{IsValidLabelValue, "label value", "a b", "a valid label must be an empty string"},
		{IsValidLabelValue, "label value", strings.Repeat("a", 64), "must be no more than 63 characters"},
		{IsValidPortName, "port name", "http", ""},
		{IsValidPortName, "port name", "80", "must contain at least one letter"},
		{IsValidPortName, "port name", "a--b", "must not contain consecutive hyphens"},
		{IsValidPortName, "port name", "very-long-port-name", "must be no more than 15 characters"},
		{IsEnvVarName, "env name", "MY_VAR.x-1", ""},
		{IsEnvVarName, "env name", "1VAR", "must not start with a digit"},
		{IsEnvVarName, "env name", "A B", "a valid environment variable name"},
	}
	for _, tt := range tests {
		t.Run(tt.name+"/"+tt.value, func(t *testing.T) {
			got := strings.Join(tt.check(tt.value), "; ")
			if tt.want == "" && got != "" {
				t.Fatalf("%q should be valid, got %s", tt.value, got)
			}
			if !strings.Contains(got, tt.want) {
				t.Errorf("messages %q do not contain %q", got, tt.want)
			}
		})
	}
}
