package containerd

import (
	"testing"

	"github.com/cloudmgr/cloud/caas"
)

// A restarted agent (a new Runtime on the same namespace) sees and stops
// the containers its predecessor started.
func TestAdoptAfterAgentRestart(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := testContext(t)
	if _, err := rt.EnsureImage(ctx, testImage(), false, nil); err != nil {
		t.Fatal(err)
	}
	s := pod(t, rt, ctx)
	s.Name, s.Command = "long", []string{"sleep", "1000"}
	id, err := rt.StartContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	again, err := New(rt.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	st := find(t, again, ctx, id)
	if st.State != caas.ContainerRunning || st.PodUID != s.PodUID || st.Name != "long" || st.StartedAt.IsZero() {
		t.Fatalf("adopted %+v", st)
	}
	if _, err := again.StartContainer(ctx, s); err == nil {
		t.Error("starting the same attempt twice succeeded")
	}
	if st := find(t, again, ctx, id); st.State != caas.ContainerRunning {
		t.Errorf("a failed duplicate start disturbed the running container: %+v", st)
	}
	if err := again.StopContainer(ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	if st := find(t, again, ctx, id); st.State != caas.ContainerExited || st.ExitCode != 137 {
		t.Errorf("after stop: %+v", st)
	}
}
