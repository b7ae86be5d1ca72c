package api

import (
	"strconv"
	"strings"
)

// Name and label checks return human-readable messages in Kubernetes
// wording, empty when the value is valid.

// Length limits of names, label keys and values, as in Kubernetes.
const (
	DNS1123LabelMaxLength     = 63
	DNS1123SubdomainMaxLength = 253
	QualifiedNameMaxLength    = 63
	LabelValueMaxLength       = 63
	// TotalAnnotationSizeLimit bounds the summed length of annotation keys
	// and values.
	TotalAnnotationSizeLimit = 256 * 1024
)

const (
	dns1123LabelFmt     = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
	dns1123LabelErrMsg  = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character"
	dns1123SubdomainFmt = dns1123LabelFmt + "(\\." + dns1123LabelFmt + ")*"
	dns1123SubdomainMsg = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character"
	qualifiedNameFmt    = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
	qualifiedNameErrMsg = "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
	labelValueFmt       = "(" + qualifiedNameFmt + ")?"
	labelValueErrMsg    = "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character"
)

// regexError words a pattern mismatch the way Kubernetes does.
func regexError(msg, format string, examples ...string) string {
	if len(examples) == 0 {
		return msg + " (regex used for validation is '" + format + "')"
	}
	msg += " (e.g. "
	for i, e := range examples {
		if i > 0 {
			msg += "or "
		}
		msg += "'" + e + "', "
	}
	return msg + "regex used for validation is '" + format + "')"
}

func maxLenError(n int) string { return "must be no more than " + strconv.Itoa(n) + " characters" }

func isLowerAlnum(c byte) bool { return c >= 'a' && c <= 'z' || c >= '0' && c <= '9' }

func isAlnum(c byte) bool { return isLowerAlnum(c) || c >= 'A' && c <= 'Z' }

// matchesLabelPattern reports whether s matches [a-z0-9]([-a-z0-9]*[a-z0-9])?.
func matchesLabelPattern(s string) bool {
	if s == "" || !isLowerAlnum(s[0]) || !isLowerAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isLowerAlnum(s[i]) && s[i] != '-' {
			return false
		}
	}
	return true
}

// matchesQualifiedPattern reports whether s matches ([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9].
func matchesQualifiedPattern(s string) bool {
	if s == "" || !isAlnum(s[0]) || !isAlnum(s[len(s)-1]) {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; !isAlnum(c) && c != '-' && c != '_' && c != '.' {
			return false
		}
	}
	return true
}

// IsDNS1123Label checks a name that must be an RFC 1123 label, such as a
// namespace or container name: at most 63 lower-case alphanumerics or '-',
// starting and ending with an alphanumeric.
func IsDNS1123Label(value string) []string {
	var errs []string
	if len(value) > DNS1123LabelMaxLength {
		errs = append(errs, maxLenError(DNS1123LabelMaxLength))
	}
	if !matchesLabelPattern(value) {
		errs = append(errs, regexError(dns1123LabelErrMsg, dns1123LabelFmt, "my-name", "123-abc"))
	}
	return errs
}

// IsDNS1123Subdomain checks a name that must be an RFC 1123 subdomain, such
// as a node name: at most 253 characters of dot-separated labels.
func IsDNS1123Subdomain(value string) []string {
	var errs []string
	if len(value) > DNS1123SubdomainMaxLength {
		errs = append(errs, maxLenError(DNS1123SubdomainMaxLength))
	}
	ok := true
	for _, part := range strings.Split(value, ".") {
		if !matchesLabelPattern(part) {
			ok = false
			break
		}
	}
	if !ok {
		errs = append(errs, regexError(dns1123SubdomainMsg, dns1123SubdomainFmt, "example.com"))
	}
	return errs
}

// IsQualifiedName checks a label key, annotation key or finalizer: a name of
// at most 63 characters with an optional DNS subdomain prefix and '/'
// ("example.com/my-name").
func IsQualifiedName(value string) []string {
	var errs []string
	name := value
	parts := strings.Split(value, "/")
	switch len(parts) {
	case 1:
	case 2:
		prefix := parts[0]
		name = parts[1]
		if prefix == "" {
			errs = append(errs, "prefix part must be non-empty")
		} else {
			for _, m := range IsDNS1123Subdomain(prefix) {
				errs = append(errs, "prefix part "+m)
			}
		}
	default:
		return append(errs, "a qualified name "+regexError(qualifiedNameErrMsg, qualifiedNameFmt, "MyName", "my.name", "123-abc")+
			" with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')")
	}
	if name == "" {
		errs = append(errs, "name part must be non-empty")
	} else if len(name) > QualifiedNameMaxLength {
		errs = append(errs, "name part "+maxLenError(QualifiedNameMaxLength))
	}
	if !matchesQualifiedPattern(name) {
		errs = append(errs, "name part "+regexError(qualifiedNameErrMsg, qualifiedNameFmt, "MyName", "my.name", "123-abc"))
	}
	return errs
}

// IsValidLabelValue checks a label value: empty, or at most 63 alphanumerics,
// '-', '_' or '.', starting and ending with an alphanumeric.
func IsValidLabelValue(value string) []string {
	var errs []string
	if len(value) > LabelValueMaxLength {
		errs = append(errs, maxLenError(LabelValueMaxLength))
	}
	if value != "" && !matchesQualifiedPattern(value) {
		errs = append(errs, regexError(labelValueErrMsg, labelValueFmt, "MyValue", "my_value", "12345"))
	}
	return errs
}

// IsValidPortName checks a named port (an IANA service name): at most 15
// lower-case alphanumerics or '-', with at least one letter, no leading,
// trailing or doubled '-'.
func IsValidPortName(port string) []string {
	var errs []string
	if len(port) > 15 {
		errs = append(errs, "must be no more than 15 characters")
	}
	letter := false
	for i := 0; i < len(port); i++ {
		c := port[i]
		if !isLowerAlnum(c) && c != '-' {
			errs = append(errs, "must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)")
			break
		}
		if c >= 'a' && c <= 'z' {
			letter = true
		}
	}
	if !letter {
		errs = append(errs, "must contain at least one letter (a-z)")
	}
	if strings.Contains(port, "--") {
		errs = append(errs, "must not contain consecutive hyphens")
	}
	if strings.HasPrefix(port, "-") || strings.HasSuffix(port, "-") {
		errs = append(errs, "must not begin or end with a hyphen")
	}
	return errs
}

// IsEnvVarName checks an environment variable name: alphanumerics, '_',
// '-' or '.', not starting with a digit.
func IsEnvVarName(value string) []string {
	ok := value != "" && !(value[0] >= '0' && value[0] <= '9')
	for i := 0; ok && i < len(value); i++ {
		c := value[i]
		ok = isAlnum(c) || c == '_' || c == '-' || c == '.'
	}
	if ok {
		return nil
	}
	return []string{regexError("a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or '.', and must not start with a digit",
		"[-._a-zA-Z][-._a-zA-Z0-9]*", "my.env-name", "MY_ENV.NAME", "MyEnvName1")}
}
