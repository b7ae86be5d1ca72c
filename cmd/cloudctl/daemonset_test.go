package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDaemonSetApplyGet: a DaemonSet manifest applies (apps/v1) and
// prints with kubectl's columns; a bad one is refused naming the field.
func TestDaemonSetApplyGet(t *testing.T) {
	_, cfg := realServerConfig(t)
	dir := t.TempDir()
	good := filepath.Join(dir, "ds.yaml")
	os.WriteFile(good, []byte(`apiVersion: apps/v1
kind: DaemonSet
metadata:
  name: node-agent
spec:
  selector:
    matchLabels: {app: node-agent}
  template:
    metadata:
      labels: {app: node-agent}
    spec:
      nodeSelector: {role: worker}
      containers:
      - name: agent
        image: busybox
`), 0o600)
	out, errOut, code := runCLI(t, "--config", cfg, "apply", "-f", good)
	if code != 0 || out != "daemonset.apps/node-agent created\n" && out != "daemonset/node-agent created\n" {
		t.Fatalf("apply: exit %d %q %s", code, out, errOut)
	}
	out, errOut, code = runCLI(t, "--config", cfg, "get", "ds")
	if code != 0 {
		t.Fatalf("get ds: exit %d %s", code, errOut)
	}
	mustContain(t, "get ds", out, "NAME         DESIRED   CURRENT   READY   UP-TO-DATE   AVAILABLE   NODE SELECTOR   AGE",
		"node-agent   0         0         0       0            0           role=worker")
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte(strings.Replace(strings.Replace(string(mustRead(t, good)), "node-agent}\n    spec", "other}\n    spec", 1), "name: node-agent", "name: bad", 1)), 0o600)
	_, errOut, code = runCLI(t, "--config", cfg, "apply", "-f", bad)
	if code == 0 || !strings.Contains(errOut, "spec.template.metadata.labels") {
		t.Errorf("bad daemon set: exit %d %s", code, errOut)
	}
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
