package api

import (
	"strings"
	"testing"
)

// probePod is a pod manifest whose first container has the given probe
// fields (YAML, indented for the container).
func probePod(probe string) string {
	return `apiVersion: v1
kind: Pod
metadata: {name: p, namespace: d}
spec:
  containers:
  - name: app
    image: busybox:1
    ports: [{name: http, containerPort: 8080}]
` + probe
}

func TestProbeDefaults(t *testing.T) {
	obj, k, err := NewScheme().Decode([]byte(probePod(`    livenessProbe:
      httpGet: {port: http}
    readinessProbe:
      exec: {command: ["true"]}
      periodSeconds: 2
    startupProbe:
      tcpSocket: {port: 8080}
      failureThreshold: 30
`)))
	if err != nil {
		t.Fatal(err)
	}
	k.Default(obj)
	c := obj.(*Pod).Spec.Containers[0]
	l := c.LivenessProbe
	if l.TimeoutSeconds != 1 || l.PeriodSeconds != 10 || l.SuccessThreshold != 1 || l.FailureThreshold != 3 || l.InitialDelaySeconds != 0 {
		t.Errorf("liveness timings %+v", l)
	}
	if l.HTTPGet.Scheme != URISchemeHTTP || l.HTTPGet.Path != "/" || !l.HTTPGet.Port.IsString || l.HTTPGet.Port.StrVal != "http" {
		t.Errorf("httpGet %+v", l.HTTPGet)
	}
	if r := c.ReadinessProbe; r.PeriodSeconds != 2 || r.TimeoutSeconds != 1 {
		t.Errorf("readiness timings %+v", r)
	}
	if s := c.StartupProbe; s.FailureThreshold != 30 || s.PeriodSeconds != 10 || s.TCPSocket.Port.IntVal != 8080 {
		t.Errorf("startup %+v", s)
	}
	if errs := k.Validate(obj); len(errs) != 0 {
		t.Errorf("defaulted probes invalid: %v", errs)
	}
}

func TestProbeDecodeAndValidate(t *testing.T) {
	tests := []struct {
		name  string
		probe string
		want  []string // every error, in order; nil means valid
	}{
		{"exec", "    readinessProbe: {exec: {command: [test, -f, /tmp/ready]}}\n", nil},
		{"named port", "    livenessProbe: {httpGet: {port: http, path: /healthz, httpHeaders: [{name: X-A, value: b}]}}\n", nil},
		{"https and readiness success threshold", "    readinessProbe: {httpGet: {port: 443, scheme: HTTPS}, successThreshold: 3}\n", nil},
		{"no handler", "    livenessProbe: {periodSeconds: 5}\n",
			[]string{"spec.containers[0].livenessProbe: Required value: must specify a handler type (exec, httpGet or tcpSocket)"}},
		{"two handlers", "    readinessProbe: {exec: {command: [\"true\"]}, tcpSocket: {port: 80}}\n",
			[]string{"spec.containers[0].readinessProbe: Forbidden: may not specify more than 1 handler type"}},
		{"empty command", "    startupProbe: {exec: {command: []}}\n",
			[]string{"spec.containers[0].startupProbe.exec.command: Required value"}},
		{"port out of range", "    livenessProbe: {tcpSocket: {port: 70000}}\n",
			[]string{`spec.containers[0].livenessProbe.tcpSocket.port: Invalid value "70000": must be between 1 and 65535, inclusive`}},
		{"port zero", "    livenessProbe: {httpGet: {port: 0}}\n",
			[]string{`spec.containers[0].livenessProbe.httpGet.port: Invalid value "0": must be between 1 and 65535, inclusive`}},
		{"unknown port name", "    readinessProbe: {httpGet: {port: metrics}}\n",
			[]string{`spec.containers[0].readinessProbe.httpGet.port: Invalid value "metrics": must match the name of one of the container's ports`}},
		{"bad port name", "    readinessProbe: {tcpSocket: {port: Not_A_Name}}\n",
			[]string{
				`spec.containers[0].readinessProbe.tcpSocket.port: Invalid value "Not_A_Name": must contain only alpha-numeric characters`,
				`spec.containers[0].readinessProbe.tcpSocket.port: Invalid value "Not_A_Name": must contain at least one letter`,
			}},
		{"relative path and bad scheme", "    livenessProbe: {httpGet: {port: 80, path: healthz, scheme: FTP}}\n",
			[]string{
				`spec.containers[0].livenessProbe.httpGet.path: Invalid value "healthz": must be an absolute path starting with '/'`,
				`spec.containers[0].livenessProbe.httpGet.scheme: Unsupported value "FTP": supported values: "HTTP", "HTTPS"`,
			}},
		{"bad header", "    livenessProbe: {httpGet: {port: 80, httpHeaders: [{name: 'a b', value: x}]}}\n",
			[]string{`spec.containers[0].livenessProbe.httpGet.httpHeaders[0].name: Invalid value "a b": must be a valid HTTP header name`}},
		{"negative timings", "    readinessProbe: {exec: {command: [\"true\"]}, initialDelaySeconds: -1, timeoutSeconds: -2, periodSeconds: -3, successThreshold: -4, failureThreshold: -5}\n",
			[]string{
				`spec.containers[0].readinessProbe.initialDelaySeconds: Invalid value "-1": must be greater than or equal to 0`,
				`spec.containers[0].readinessProbe.timeoutSeconds: Invalid value "-2": must be greater than or equal to 1`,
				`spec.containers[0].readinessProbe.periodSeconds: Invalid value "-3": must be greater than or equal to 1`,
				`spec.containers[0].readinessProbe.successThreshold: Invalid value "-4": must be greater than or equal to 1`,
				`spec.containers[0].readinessProbe.failureThreshold: Invalid value "-5": must be greater than or equal to 1`,
			}},
		{"liveness success threshold", "    livenessProbe: {exec: {command: [\"true\"]}, successThreshold: 2}\n",
			[]string{`spec.containers[0].livenessProbe.successThreshold: Invalid value "2": must be 1`}},
		{"startup success threshold", "    startupProbe: {exec: {command: [\"true\"]}, successThreshold: 3}\n",
			[]string{`spec.containers[0].startupProbe.successThreshold: Invalid value "3": must be 1`}},
		{"grace on readiness", "    readinessProbe: {exec: {command: [\"true\"]}, terminationGracePeriodSeconds: 5}\n",
			[]string{"spec.containers[0].readinessProbe.terminationGracePeriodSeconds: Forbidden: may only be set for liveness and startup probes"}},
		{"zero grace on liveness", "    livenessProbe: {exec: {command: [\"true\"]}, terminationGracePeriodSeconds: 0}\n",
			[]string{`spec.containers[0].livenessProbe.terminationGracePeriodSeconds: Invalid value "0": must be greater than 0`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			obj, k, err := NewScheme().Decode([]byte(probePod(tt.probe)))
			if err != nil {
				t.Fatalf("decode: %v", err)
			}
			k.Default(obj)
			got := errorStrings(k.Validate(obj))
			if len(got) != len(tt.want) {
				t.Fatalf("got %d errors, want %d:\n%s", len(got), len(tt.want), strings.Join(got, "\n"))
			}
			for i, w := range tt.want {
				if !strings.HasPrefix(got[i], w) {
					t.Errorf("error %d:\n got %s\nwant %s", i, got[i], w)
				}
			}
		})
	}
}

func TestProbeDecodeErrors(t *testing.T) {
	tests := []struct{ name, probe, want string }{
		{"unknown handler", "    livenessProbe: {htpGet: {port: 80}}\n", "spec.containers[0].livenessProbe.htpGet"},
		{"unknown field in httpGet", "    livenessProbe: {httpGet: {port: 80, url: /}}\n", "spec.containers[0].livenessProbe.httpGet.url"},
		{"port not int or string", "    livenessProbe: {tcpSocket: {port: [1]}}\n", "spec.containers[0].livenessProbe.tcpSocket.port"},
		{"port not int32", "    livenessProbe: {tcpSocket: {port: 1.5}}\n", "spec.containers[0].livenessProbe.tcpSocket.port"},
		{"period not a number", "    readinessProbe: {exec: {command: [\"true\"]}, periodSeconds: often}\n", "spec.containers[0].readinessProbe.periodSeconds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := NewScheme().Decode([]byte(probePod(tt.probe)))
			if err == nil {
				t.Fatal("decoded without error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %q does not name %s", err, tt.want)
			}
		})
	}
}
