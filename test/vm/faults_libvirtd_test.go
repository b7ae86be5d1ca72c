package vm

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/test"
)

// TestFaultLibvirtdKilledMidCreate stops the project's libvirtd itself
// (SIGKILL, as a crash) the moment a create has made the machine's first
// volume, its config drive, in the storage pool. The Machine turns Failed
// with reason Unreachable and a message, the Hypervisor Reachable=False;
// once libvirtd is started again (deploy/deps.sh start-libvirtd) the
// Hypervisor is Reachable, the pool converges to a joined machine, and
// nothing of the failed machine is left. It holds the libvirtd lock
// exclusively, so no other package's test meets the daemon gone.
func TestFaultLibvirtdKilledMidCreate(t *testing.T) {
	unlock, err := test.LockLibvirt(true)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(unlock)
	start := time.Now()
	e := startIaaSCloudd(t)
	e.addHypervisor(t, "local", e.uri)

	const pool = "fault-killed"
	killed := make(chan error, 1)
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		for {
			select {
			case <-stop:
				return
			case <-time.After(2 * time.Millisecond):
			}
			ents, _ := os.ReadDir(e.poolDir)
			for _, de := range ents {
				if strings.HasPrefix(de.Name(), "cloudmgr-"+pool+"-") {
					killed <- test.KillLibvirtd()
					return
				}
			}
		}
	}()
	e.createPool(t, pool, "local", 300)
	// After the pool's cleanup is registered, so that it runs first:
	// libvirtd is back for it whatever happened.
	down := true
	t.Cleanup(func() {
		if down {
			if err := test.StartLibvirtd(); err != nil {
				t.Errorf("libvirtd not started again: %v", err)
			}
		}
	})
	select {
	case err := <-killed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("no volume of pool %s appeared within 2m; machines: %+v", pool, e.machines(t, pool))
	}
	killedAt := time.Now()
	ms := e.machines(t, pool)
	if len(ms) != 1 {
		t.Fatalf("%d machines when libvirtd was killed, want 1", len(ms))
	}
	victim := ms[0]

	failed := e.waitFailed(t, victim.Name, 2*time.Minute)
	if r := failReason(failed); r != "Unreachable" {
		t.Errorf("machine %s failed with reason %q, want Unreachable (message %q)", victim.Name, r, failed.Status.Message)
	}
	if failed.Status.Message == "" {
		t.Error("the Failed machine carries no message")
	}
	t.Logf("machine Failed %s after libvirtd was killed: %s", time.Since(killedAt).Round(100*time.Millisecond), failed.Status.Message)
	cond := e.waitReachable(t, "local", api.ConditionFalse, 30*time.Second)
	if cond.Reason == "" || cond.Message == "" {
		t.Errorf("Reachable=False without a reason and message: %+v", cond)
	}
	t.Logf("hypervisor Reachable=False %s after the kill: %s: %s", time.Since(killedAt).Round(100*time.Millisecond), cond.Reason, cond.Message)

	if err := test.StartLibvirtd(); err != nil {
		t.Fatal(err)
	}
	down = false
	backAt := time.Now()
	e.waitReachable(t, "local", api.ConditionTrue, 30*time.Second)
	t.Logf("hypervisor Reachable again %s after libvirtd started", time.Since(backAt).Round(100*time.Millisecond))

	m := e.waitJoined(t, pool, 4*time.Minute, victim.Name)
	t.Logf("pool converged: %s joined %s after libvirtd came back", m.Name, time.Since(backAt).Round(100*time.Millisecond))
	// What the killed create made must not stay behind.
	e.checkGone(t, victim.Name, time.Minute)

	if err := client.For[api.NodePool](e.c).Delete(context.Background(), "", pool, client.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 2*time.Minute, "pool "+pool+"'s machines gone", func() (bool, string) {
		n := len(e.machines(t, pool))
		return n == 0, fmt.Sprintf("%d machines", n)
	})
	t.Logf("test took %s", time.Since(start).Round(100*time.Millisecond))
}
