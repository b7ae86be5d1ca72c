package kit

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/iaas"
)

func TestCreateReason(t *testing.T) {
	cases := []struct {
		err  error
		want string
	}{
		{fmt.Errorf("create: %w", iaas.ErrInsufficientCapacity), ReasonInsufficientCapacity},
		{fmt.Errorf("create: %w", iaas.ErrQuota), ReasonQuota},
		{fmt.Errorf("create: %w", iaas.ErrUnreachable), ReasonUnreachable},
		{fmt.Errorf("create: %w", context.DeadlineExceeded), ReasonUnreachable},
		{errors.New("bad image"), ReasonCreateFailed},
	}
	for _, tc := range cases {
		if got := CreateReason(tc.err); got != tc.want {
			t.Errorf("%v: %s, want %s", tc.err, got, tc.want)
		}
	}
}

func TestSetCondition(t *testing.T) {
	t0, t1 := api.NewTime(time.Unix(1000, 0)), api.NewTime(time.Unix(2000, 0))
	var conds []api.Condition
	if !SetCondition(&conds, "Joined", api.ConditionFalse, "Waiting", "m", t0) || len(conds) != 1 {
		t.Fatal("add")
	}
	if SetCondition(&conds, "Joined", api.ConditionFalse, "Waiting", "m", t1) {
		t.Fatal("no change reported as a change")
	}
	SetCondition(&conds, "Joined", api.ConditionFalse, "Other", "m2", t1)
	if c := FindCondition(conds, "Joined"); !c.LastTransitionTime.Equal(t0.Time) || c.Reason != "Other" {
		t.Fatalf("same status moved the transition time: %+v", c)
	}
	SetCondition(&conds, "Joined", api.ConditionTrue, "Ready", "", t1)
	if c := FindCondition(conds, "Joined"); !c.LastTransitionTime.Equal(t1.Time) {
		t.Fatalf("new status kept the old transition time: %+v", c)
	}
}

func TestMemoryMiB(t *testing.T) {
	for s, want := range map[string]int64{"512Mi": 512, "1Gi": 1024, "1M": 1, "0": 0, "1536Mi": 1536} {
		if got := MemoryMiB(api.MustParseQuantity(s)); got != want {
			t.Errorf("%s: %d MiB, want %d", s, got, want)
		}
	}
}

func TestFinalizers(t *testing.T) {
	m := &api.ObjectMeta{Finalizers: []string{"a", "b"}}
	RemoveFinalizer(m, "a")
	if HasFinalizer(m, "a") || !HasFinalizer(m, "b") {
		t.Fatal(m.Finalizers)
	}
}
