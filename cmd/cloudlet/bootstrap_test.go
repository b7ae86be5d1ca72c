package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
)

func TestBootstrapFillsUnsetFlags(t *testing.T) {
	b := api.NodeBootstrap{Server: "https://10.0.2.2:6443", CA: "PEM", JoinToken: "cm_secret", NodeName: "vm-1",
		Labels: map[string]string{"pool": "a", "tier": "x"}, Hypervisor: "hv1", InsecureRegistries: []string{"10.0.2.2:5055"}}
	data, _ := json.Marshal(b)
	path := filepath.Join(t.TempDir(), api.NodeBootstrapFile)
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
	o := &options{}
	cmd := newCommandWith(o, &bytes.Buffer{}, &bytes.Buffer{})
	if err := cmd.ParseFlags([]string{"--bootstrap", path, "--node-name", "explicit", "--labels", "tier=y"}); err != nil {
		t.Fatal(err)
	}
	if err := o.applyBootstrap(cmd.Flags().Changed); err != nil {
		t.Fatal(err)
	}
	if o.server != b.Server || o.joinToken != b.JoinToken || o.hypervisor != "hv1" || string(o.caData) != "PEM" {
		t.Fatalf("bootstrap not applied: server=%q hypervisor=%q ca=%q", o.server, o.hypervisor, o.caData)
	}
	if o.nodeName != "explicit" {
		t.Fatalf("explicit --node-name lost: %q", o.nodeName)
	}
	labels, err := parseLabels(o.labels)
	if err != nil {
		t.Fatal(err)
	}
	if labels["pool"] != "a" || labels["tier"] != "y" {
		t.Fatalf("labels = %v, want pool=a from the file and tier=y from the flag", labels)
	}
	if strings.Join(o.insecure, ",") != "10.0.2.2:5055" {
		t.Fatalf("insecure registries = %v", o.insecure)
	}
	if ca, _ := o.readCA(); string(ca) != "PEM" {
		t.Fatalf("readCA = %q, want the bootstrap CA", ca)
	}
	if s := b.String(); strings.Contains(s, "cm_secret") {
		t.Fatalf("String leaks the token: %s", s)
	}
}

func TestBootstrapBadFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.json")
	_ = os.WriteFile(path, []byte(`{"joinToken": "cm_secret",`), 0o600)
	o := &options{bootstrap: path}
	err := o.applyBootstrap(func(string) bool { return false })
	if err == nil || strings.Contains(err.Error(), "cm_secret") {
		t.Fatalf("err = %v, want an error without the token", err)
	}
	o = &options{bootstrap: filepath.Join(t.TempDir(), "missing.json")}
	if err := o.applyBootstrap(func(string) bool { return false }); err == nil {
		t.Fatal("missing file accepted")
	}
}
