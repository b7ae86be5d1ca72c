package api

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
)

// IntOrString holds a port number or a port name, as in Kubernetes
// (`port: 8080` or `port: http`).
type IntOrString struct {
	// IsString tells which of the two is set.
	IsString bool
	IntVal   int32
	StrVal   string
}

// FromInt returns an IntOrString holding i.
func FromInt(i int32) IntOrString { return IntOrString{IntVal: i} }

// FromString returns an IntOrString holding s.
func FromString(s string) IntOrString { return IntOrString{IsString: true, StrVal: s} }

// String returns the value as text.
func (v IntOrString) String() string {
	if v.IsString {
		return v.StrVal
	}
	return strconv.Itoa(int(v.IntVal))
}

// IsZero reports whether nothing is set, for omitzero.
func (v IntOrString) IsZero() bool { return !v.IsString && v.IntVal == 0 }

// MarshalJSON writes a JSON number or string.
func (v IntOrString) MarshalJSON() ([]byte, error) {
	if v.IsString {
		return json.Marshal(v.StrVal)
	}
	return []byte(strconv.Itoa(int(v.IntVal))), nil
}

// UnmarshalJSON reads a JSON number (an int32) or string.
func (v *IntOrString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		*v = FromString(s)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 32)
	if err != nil {
		return fmt.Errorf("must be an integer or a string")
	}
	*v = FromInt(int32(n))
	return nil
}

// Probe is a check the node agent runs against a container: liveness
// (restart it when it fails), readiness (take it out of service) or
// startup (hold the other probes until it passes). Exactly one handler is
// set.
type Probe struct {
	Exec      *ExecAction      `json:"exec,omitempty"`
	HTTPGet   *HTTPGetAction   `json:"httpGet,omitempty"`
	TCPSocket *TCPSocketAction `json:"tcpSocket,omitempty"`
	// InitialDelaySeconds waits after the container starts before the
	// first probe (default 0).
	InitialDelaySeconds int32 `json:"initialDelaySeconds,omitempty"`
	// TimeoutSeconds bounds one probe (default 1).
	TimeoutSeconds int32 `json:"timeoutSeconds,omitempty"`
	// PeriodSeconds is the time between probes (default 10).
	PeriodSeconds int32 `json:"periodSeconds,omitempty"`
	// SuccessThreshold is how many successes in a row count as passing
	// after a failure (default 1; must be 1 for liveness and startup).
	SuccessThreshold int32 `json:"successThreshold,omitempty"`
	// FailureThreshold is how many failures in a row count as failing
	// (default 3).
	FailureThreshold int32 `json:"failureThreshold,omitempty"`
	// TerminationGracePeriodSeconds overrides the pod's grace period when
	// a failed liveness probe kills the container.
	TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds,omitempty"`
}

// ExecAction runs a command inside the container; exit code 0 passes.
type ExecAction struct {
	Command []string `json:"command,omitempty"`
}

// URIScheme is the scheme of an HTTP probe.
type URIScheme string

// HTTP probe schemes.
const (
	URISchemeHTTP  URIScheme = "HTTP"
	URISchemeHTTPS URIScheme = "HTTPS"
)

// HTTPGetAction sends GET to the container; a status in 200–399 passes.
type HTTPGetAction struct {
	Path string `json:"path,omitempty"`
	// Port is a number or the name of one of the container's ports.
	Port IntOrString `json:"port"`
	// Host defaults to the pod's IP (inside the pod's network namespace).
	Host        string       `json:"host,omitempty"`
	Scheme      URIScheme    `json:"scheme,omitempty"`
	HTTPHeaders []HTTPHeader `json:"httpHeaders,omitempty"`
}

// HTTPHeader is one header of an HTTP probe.
type HTTPHeader struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// TCPSocketAction opens a TCP connection; connecting passes.
type TCPSocketAction struct {
	Port IntOrString `json:"port"`
	Host string      `json:"host,omitempty"`
}

// LocalObjectReference names an object in the same namespace.
type LocalObjectReference struct {
	Name string `json:"name"`
}
