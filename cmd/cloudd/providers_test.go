package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/viper"
)

// configOf is a viper holding the YAML config file text, read as cloudd
// reads --config.
func configOf(t *testing.T, text string) *viper.Viper {
	t.Helper()
	v := viper.New()
	readEnv(v)
	v.SetConfigType("yaml")
	if err := v.ReadConfig(bytes.NewBufferString(text)); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestProviderEntries(t *testing.T) {
	dir := t.TempDir()
	pwFile := filepath.Join(dir, "pw")
	if err := os.WriteFile(pwFile, []byte("s3cret-from-file\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_OS_APPCRED", "s3cret-from-env")
	t.Setenv("CLOUDD_PROVIDERS_PUBLIC_REGION", "RegionOne") // the environment overrides the file
	es, err := readProviderEntries(configOf(t, `
providers:
  libvirt:
    hypervisors:
      local: qemu:///system
      rack-2: qemu+tcp://10.0.0.2/system
  public:
    type: openstack
    cloud: mycloud
    region: RegionFromTheFile
    network: private
    buildTimeout: 5m
    passwordFile: `+pwFile+`
  what-if:
    type: sim
    cloud: true
    hosts: [{name: rack, cpus: 64, memoryMiB: 262144, count: 10}]
    createDelay: 2s
    cpuUsage: 0.3
  burst:
    type: openstack
    authURL: https://keystone.example/v3
    applicationCredentialID: abc
    applicationCredentialSecretEnv: TEST_OS_APPCRED
`))
	if err != nil {
		t.Fatal(err)
	}
	if len(es) != 4 || es[0].name != "burst" || es[1].name != "libvirt" || es[2].name != "public" || es[3].name != "what-if" {
		t.Fatalf("entries %+v", es)
	}
	burst, lv, public, whatIf := es[0], es[1], es[2], es[3]
	if s := whatIf.Sim; s == nil || s.Name != "what-if" || !s.Cloud || len(s.Hosts) != 1 || s.Hosts[0].Count != 10 ||
		s.Hosts[0].MemoryMiB != 262144 || s.CreateDelay.Seconds() != 2 || s.CPUUsage != 0.3 {
		t.Errorf("sim: %+v", whatIf.Sim)
	}
	if burst.OpenStack.ApplicationCredentialSecret != "s3cret-from-env" || burst.OpenStack.Name != "burst" {
		t.Errorf("burst: %v", burst.OpenStack.Config)
	}
	if lv.Type != typeLibvirt || lv.Libvirt.Hypervisors["rack-2"] != "qemu+tcp://10.0.0.2/system" {
		t.Errorf("libvirt: %+v", lv.Libvirt)
	}
	o := public.OpenStack
	if o.Password != "s3cret-from-file" || o.Cloud != "mycloud" || o.Region != "RegionOne" || o.BuildTimeout.Minutes() != 5 || o.Name != "public" {
		t.Errorf("public: %v (build timeout %v)", o.Config, o.BuildTimeout)
	}
	if s := o.Config.String(); strings.Contains(s, "s3cret") {
		t.Errorf("the config prints its secret: %s", s)
	}
}

// Bad entries fail with the key path and the reason, and never with a
// secret's value.
func TestProviderEntriesErrors(t *testing.T) {
	t.Setenv("TEST_OS_EMPTY", "")
	cases := []struct{ name, yaml, want string }{
		{"unknown type", "providers:\n  x:\n    type: vmware\n", `providers.x.type: unknown provider type "vmware"`},
		{"name is no type", "providers:\n  public:\n    cloud: c\n", `providers.public.type: unknown provider type "public"`},
		{"typo", "providers:\n  public:\n    type: openstack\n    cloud: c\n    regoin: r\n", "providers.public: unknown keys regoin"},
		{"no cloud", "providers:\n  public:\n    type: openstack\n    region: r\n", "providers.public: set cloud"},
		{"two secrets", "providers:\n  public:\n    type: openstack\n    cloud: c\n    password: hunter2-secret\n    passwordEnv: X\n", "providers.public: set one of password, passwordFile and passwordEnv"},
		{"missing file", "providers:\n  public:\n    type: openstack\n    cloud: c\n    passwordFile: /nonexistent/pw\n", "providers.public.passwordFile: open /nonexistent/pw"},
		{"unset env", "providers:\n  public:\n    type: openstack\n    cloud: c\n    passwordEnv: TEST_OS_EMPTY\n", "providers.public.passwordEnv: the environment variable TEST_OS_EMPTY is not set"},
		{"bad policy", "providers:\n  public:\n    type: openstack\n    cloud: c\n    serverGroupPolicy: spread\n", "providers.public.serverGroupPolicy"},
		{"bad duration", "providers:\n  public:\n    type: openstack\n    cloud: c\n    buildTimeout: soon\n", "providers.public.buildTimeout: "},
		{"not a map", "providers:\n  public: openstack\n", "providers.public: want a map"},
		{"bad name", "providers:\n  Pub_lic:\n    type: openstack\n", "providers.pub_lic: a provider name must be a DNS label"},
		{"second libvirt", "providers:\n  kvm2:\n    type: libvirt\n", "providers.kvm2.type: there is one libvirt provider"},
		{"bad hypervisor", "providers:\n  libvirt:\n    hypervisors:\n      Bad_Name: qemu:///system\n", "providers.libvirt.hypervisors.bad_name"},
		{"sim usage", "providers:\n  sim:\n    cpuUsage: 1.5\n", "providers.sim.cpuUsage: 1.5 is not a fraction"},
		{"sim typo", "providers:\n  sim:\n    host: []\n", "providers.sim: unknown keys host"},
		{"libvirt typo", "providers:\n  libvirt:\n    hypervisor:\n      a: qemu:///system\n", "providers.libvirt: unknown keys hypervisor"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := readProviderEntries(configOf(t, tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err %v, want it to contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), "hunter2") {
				t.Fatalf("the error shows a secret: %v", err)
			}
			t.Logf("%v", err)
		})
	}
}
