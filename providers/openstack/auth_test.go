package openstack_test

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/providers/openstack"
	"github.com/cloudmgr/cloud/providers/openstack/openstacktest"
)

// clearOSEnv keeps the OS_* variables of the machine running the tests
// out of clouds.yaml parsing.
func clearOSEnv(t *testing.T) {
	for _, v := range []string{"OS_CLOUD", "OS_REGION_NAME", "OS_INTERFACE", "OS_CLIENT_CONFIG_FILE", "OS_CACERT", "OS_CERT", "OS_KEY"} {
		t.Setenv(v, "")
	}
}

// TestCloudsYAML authenticates with clouds.yaml entries (password and
// application credential) to a double that serves HTTPS, trusting its
// certificate through the entry's cacert.
func TestCloudsYAML(t *testing.T) {
	clearOSEnv(t)
	cloud := openstacktest.Start(t, openstacktest.Options{TLS: true, Region: "RegionTwo"})
	o := cloud.Options()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(ca, cloud.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	yaml := fmt.Sprintf(`clouds:
  pw:
    auth:
      auth_url: %[1]s
      username: %[2]s
      password: %[3]s
      project_name: %[4]s
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
    interface: public
    identity_api_version: 3
    cacert: %[5]s
  ac:
    auth_type: v3applicationcredential
    auth:
      auth_url: %[1]s
      application_credential_id: %[6]s
      application_credential_secret: %[7]s
    region_name: RegionTwo
    cacert: %[5]s
  wrong:
    auth:
      auth_url: %[1]s
      username: %[2]s
      password: not-the-password
      project_name: %[4]s
      user_domain_name: Default
      project_domain_name: Default
    region_name: RegionTwo
    cacert: %[5]s
`, cloud.AuthURL(), o.Username, o.Password, o.ProjectName, ca, o.AppCredID, o.AppCredSecret)
	file := filepath.Join(dir, "clouds.yaml")
	if err := os.WriteFile(file, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	logs := &logBuffer{}
	cases := []struct {
		name string
		cfg  openstack.Config
		ok   bool
	}{
		{"password", openstack.Config{Cloud: "pw", CloudsFile: file}, true},
		{"application credential", openstack.Config{Cloud: "ac", CloudsFile: file}, true},
		{"wrong password", openstack.Config{Cloud: "wrong", CloudsFile: file}, false},
		// Explicit fields override the entry.
		{"password overridden", openstack.Config{Cloud: "wrong", CloudsFile: file, Password: o.Password}, true},
		{"application credential by name", openstack.Config{AuthURL: cloud.AuthURL(), CACert: ca, Region: "RegionTwo",
			ApplicationCredentialName: o.AppCredName, Username: o.Username, ApplicationCredentialSecret: o.AppCredSecret}, true},
		{"wrong application credential secret", openstack.Config{Cloud: "ac", CloudsFile: file, ApplicationCredentialSecret: "nope"}, false},
		{"no such cloud", openstack.Config{Cloud: "missing", CloudsFile: file}, false},
		{"untrusted certificate", openstack.Config{AuthURL: cloud.AuthURL(), Username: o.Username, Password: o.Password, ProjectName: o.ProjectName}, false},
		{"insecure", openstack.Config{AuthURL: cloud.AuthURL(), Region: "RegionTwo", Username: o.Username, Password: o.Password, ProjectName: o.ProjectName, Insecure: true}, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
			tc.cfg.PollInterval = 10 * time.Millisecond
			tc.cfg.Image, tc.cfg.Network = "cirros-0.6.3-x86_64-disk", "private"
			p, err := openstack.New(context.Background(), tc.cfg)
			if !tc.ok {
				if err == nil {
					t.Fatal("authenticated")
				}
				if strings.Contains(err.Error(), o.Password) || strings.Contains(err.Error(), o.AppCredSecret) {
					t.Fatalf("a secret is in the error: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.Region() != "RegionTwo" {
				t.Fatalf("region %q", p.Region())
			}
			m, err := p.Create(context.Background(), spec(strings.ReplaceAll(tc.name, " ", "-"), ""))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(m.ID, "openstack://RegionTwo/") {
				t.Fatalf("ID %s", m.ID)
			}
		})
	}
	if l := logs.String(); strings.Contains(l, o.Password) || strings.Contains(l, o.AppCredSecret) {
		t.Fatalf("a secret is in the log:\n%s", l)
	}
}
