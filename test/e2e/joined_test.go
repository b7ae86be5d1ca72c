package e2e

import (
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// joinedNode is cloudd plus one cloudlet joined to it with a token from
// `cloudctl node token create`, running pods on a containerd socket. The
// fault tests stop and restart one or the other.
type joinedNode struct {
	bin, dir, state, ns string
	address, admin      string // cloudd's host:port and admin config file
	sock, snapshotter   string
	registry, name      string
	c                   *client.Client
	pods                *client.Resource[api.Pod, *api.Pod]
	common              []string // the cloudlet's flags but the join
	cmd                 *exec.Cmd
	log                 *strings.Builder
}

// startJoinedNode starts cloudd and a cloudlet named name joined to it,
// running pods on the containerd at sock and pulling from the project
// registry over plain HTTP, and waits for the node to be Ready. extra
// flags go to the cloudlet after the defaults (a repeated flag wins). What the cloudlet leaves in containerd is removed when the test
// ends (before a private containerd registered earlier is stopped).
func startJoinedNode(t *testing.T, sock, snapshotter, name string, extra ...string) *joinedNode {
	t.Helper()
	bin, err := test.Binaries("cloudd", "cloudctl", "cloudlet")
	if err != nil {
		t.Fatal(err)
	}
	n := &joinedNode{bin: bin, dir: t.TempDir(), state: t.TempDir(), sock: sock, snapshotter: snapshotter,
		registry: envOr(envRegistry, defaultRegistry), name: name,
		ns: fmt.Sprintf("cloudmgr-e2e-%s-%d", name, time.Now().UnixNano())}
	n.address = addr(t)
	n.admin = filepath.Join(n.dir, "admin.yaml")
	startReady(t, bin, n.dir, n.address)
	token, _, code := cloudctl(t, bin, n.admin, "", "node", "token", "create")
	if code != 0 {
		t.Fatal("node token create failed")
	}
	cleanupCloudletNamespace(t, sock, n.ns, n.state)
	n.common = append([]string{"--state-dir", n.state, "--containerd", sock, "--snapshotter", snapshotter,
		"--containerd-namespace", n.ns, "--insecure-registry", n.registry, "--node-name", name,
		"--heartbeat-interval", "500ms"}, extra...)
	n.cmd, n.log = startCloudlet(t, bin, append([]string{"--server", "https://" + n.address,
		"--ca-file", filepath.Join(n.dir, "pki", "ca.crt"), "--join-token", strings.TrimSpace(token)}, n.common...)...)
	n.c = adminClient(t, n.dir)
	n.pods = client.For[api.Pod](n.c)
	waitReady(t, n.c, name, n.log)
	return n
}

// kill ends the cloudlet with SIGKILL, as a crash would.
