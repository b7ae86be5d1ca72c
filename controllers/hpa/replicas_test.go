package hpa

import (
	"errors"
	"strings"
	"testing"

	"github.com/cloudmgr/cloud/api"
)

// pods builds samples of 1000m requests: ready with usage u (or -1 for no
// metrics), "u" for unready, "x" for ignored.
func samples(spec ...any) []PodSample {
	var out []PodSample
	for i, s := range spec {
		p := PodSample{Name: string(rune('a' + i)), RequestMilli: 1000, Ready: true}
		switch v := s.(type) {
		case int:
			if v >= 0 {
				p.UsageMilli, p.HasMetrics = int64(v), true
			}
		case string:
			switch v {
			case "u":
				p.Ready = false
			case "u+m": // unready with a figure: the figure is not used
				p.Ready, p.UsageMilli, p.HasMetrics = false, 1000, true
			case "x":
				p.Ignored = true
			}
		}
		out = append(out, p)
	}
	return out
}

func TestCalculate(t *testing.T) {
	for _, tc := range []struct {
		name    string
		pods    []PodSample
		current int32
		target  int32
		want    int32
		util    int32
		err     error
	}{
		{"within tolerance", samples(520, 520, 520), 3, 50, 3, 52, nil},
		{"within tolerance below", samples(460, 460, 460), 3, 50, 3, 46, nil},
		{"just outside tolerance", samples(560, 560, 560), 3, 50, 4, 56, nil},
		{"double the target", samples(1000, 1000, 1000), 3, 50, 6, 100, nil},
		{"far below", samples(100, 100, 100, 100), 4, 50, 1, 10, nil},
		{"default target 80", samples(1000, 1000), 2, 80, 3, 100, nil},
		// Unready pods: left out of a scale-down, counted as 0% on a scale-up.
		{"unready excluded on scale-down", samples(100, 100, "u", "u"), 4, 50, 1, 10, nil},
		{"unready as 0% on scale-up", samples(1000, 1000, "u"), 3, 50, 4, 100, nil},
		{"unready figures ignored", samples(1000, 1000, "u+m"), 3, 50, 4, 100, nil},
		{"unready cancel a small scale-up", samples(1000, 1000, "u", "u"), 4, 50, 4, 100, nil},
		// Missing metrics: 100% on scale-down, 0% on scale-up.
		{"missing as 100% on scale-down", samples(100, 100, 100, -1), 4, 50, 3, 10, nil},
		{"missing as 0% on scale-up", samples(1000, 1000, 1000, -1), 4, 50, 6, 100, nil},
		{"missing never flip a scale-up", samples(1000, -1, -1, -1), 4, 50, 4, 100, nil},
		{"terminating pods ignored", samples(1000, 1000, "x", "x"), 4, 50, 4, 100, nil},
		{"no ready pod with metrics", samples("u", -1), 2, 50, 0, 0, ErrNoMetrics},
		{"only ignored pods", samples("x"), 1, 50, 0, 0, ErrNoMetrics},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Calculate(tc.pods, tc.current, tc.target, DefaultTolerance)
			if tc.err != nil {
				if !errors.Is(err, tc.err) {
					t.Fatalf("err %v, want %v", err, tc.err)
				}
				return
			}
			if err != nil || c.Replicas != tc.want || c.Utilization != tc.util {
				t.Errorf("got %d replicas at %d%% (%+v, %v), want %d at %d%%", c.Replicas, c.Utilization, c, err, tc.want, tc.util)
			}
		})
	}
}

func TestSamples(t *testing.T) {
	ready := api.PodCondition{Type: api.PodReady, Status: api.ConditionTrue}
	pod := func(name string, phase api.PodPhase, conds []api.PodCondition, reqs ...string) *api.Pod {
		p := &api.Pod{ObjectMeta: api.ObjectMeta{Name: name}, Status: api.PodStatus{Phase: phase, Conditions: conds}}
		for i, r := range reqs {
			c := api.Container{Name: string(rune('a' + i))}
			if r != "" {
				c.Resources.Requests = api.ResourceList{api.ResourceCPU: api.MustParseQuantity(r)}
			}
			p.Spec.Containers = append(p.Spec.Containers, c)
		}
		return p
	}
	deleting := pod("gone", api.PodRunning, []api.PodCondition{ready}, "")
	now := api.Now()
	deleting.DeletionTimestamp = &now
	got, err := Samples([]*api.Pod{
		pod("ok", api.PodRunning, []api.PodCondition{ready}, "200m", "300m"),
		pod("starting", api.PodPending, nil, "1"),
		pod("notready", api.PodRunning, nil, "1"),
		pod("done", api.PodSucceeded, nil, ""),
		deleting,
	}, map[string]int64{"ok": 250, "notready": 900})
	if err != nil {
		t.Fatal(err)
	}
	want := []PodSample{
		{Name: "ok", Ready: true, RequestMilli: 500, UsageMilli: 250, HasMetrics: true},
		{Name: "starting", RequestMilli: 1000},
		{Name: "notready", RequestMilli: 1000, UsageMilli: 900, HasMetrics: true},
		{Name: "done", Ignored: true},
		{Name: "gone", Ignored: true},
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("sample %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	_, err = Samples([]*api.Pod{pod("norequest", api.PodRunning, []api.PodCondition{ready}, "100m", "")}, nil)
	if err == nil || !strings.Contains(err.Error(), "missing request for cpu in container b of pod norequest") {
		t.Errorf("a container without a cpu request: %v", err)
	}
}
