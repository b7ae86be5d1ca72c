package containerd

import (
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/caas"
)

// ListContainers reads every task's state in one call and PodContainers
// one container at a time: both must say the same of the same containers.
func TestListContainersAgreesWithPodContainers(t *testing.T) {
	rt := newTestRuntime(t)
	ctx := testContext(t)
	if _, err := rt.EnsureImage(ctx, testImage(), false, nil); err != nil {
		t.Fatal(err)
	}
	s := pod(t, rt, ctx)
	s.Name, s.Command = "runs", []string{"sleep", "1000"}
	if _, err := rt.StartContainer(ctx, s); err != nil {
		t.Fatal(err)
	}
	s.Name, s.Command = "exits", []string{"sh", "-c", "exit 3"}
	exits, err := rt.StartContainer(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	waitExited(t, rt, ctx, exits, 30*time.Second)
	all, err := rt.ListContainers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var listed []caas.ContainerStatus
	for _, c := range all {
		if c.PodUID == s.PodUID {
			listed = append(listed, c)
		}
	}
	one, err := rt.PodContainers(ctx, s.PodUID)
	if err != nil {
		t.Fatal(err)
	}
	byID := func(a, b caas.ContainerStatus) int { return strings.Compare(a.ID, b.ID) }
	slices.SortFunc(listed, byID)
	slices.SortFunc(one, byID)
	if len(listed) != 2 || !reflect.DeepEqual(listed, one) {
		t.Fatalf("ListContainers says\n%+v\nPodContainers says\n%+v", listed, one)
	}
	states := map[string]caas.ContainerState{}
	for _, c := range listed {
		states[c.Name] = c.State
	}
	if states["runs"] != caas.ContainerRunning || states["exits"] != caas.ContainerExited {
		t.Fatalf("states %v, want runs running and exits exited", states)
	}
}
