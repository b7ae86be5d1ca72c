package nodepool

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/controllers/controllerstest"
)

func ptr[T any](v T) *T { return &v }

func TestDesiredReplicas(t *testing.T) {
	cases := []struct {
		name           string
		replicas       *int32
		min, max       int32
		deleting, want int
	}{
		{"default min", nil, 2, 5, 0, 2},
		{"replicas", ptr[int32](3), 1, 5, 0, 3},
		{"clamped up", ptr[int32](0), 1, 5, 0, 1},
		{"clamped down", ptr[int32](9), 1, 5, 0, 5},
		{"zero", ptr[int32](0), 0, 5, 0, 0},
		{"deleting", ptr[int32](3), 1, 5, 1, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := &api.NodePool{Spec: api.NodePoolSpec{Replicas: tc.replicas, MinSize: tc.min, MaxSize: tc.max}}
			if tc.deleting == 1 {
				now := api.Now()
				p.DeletionTimestamp = &now
			}
			if got := DesiredReplicas(p); got != tc.want {
				t.Errorf("got %d, want %d", got, tc.want)
			}
		})
	}
}

func TestPlanScale(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := controllerstest.NewFakeClock(t0)
	mk := func(name string, phase api.MachinePhase, age time.Duration) *api.Machine {
		return &api.Machine{ObjectMeta: api.ObjectMeta{Name: name, CreationTimestamp: api.NewTime(t0.Add(-age))}, Status: api.MachineStatus{Phase: phase}}
	}
	failed := func(name string, ago time.Duration) *api.Machine {
		m := mk(name, api.MachineFailed, time.Hour)
		m.Status.Conditions = []api.Condition{{Type: api.ConditionProvisioned, Status: api.ConditionFalse, LastTransitionTime: api.NewTime(t0.Add(-ago))}}
		return m
	}
	marked := func(m *api.Machine) *api.Machine {
		m.Annotations = map[string]string{AnnotationScaleDown: "x"}
		return m
	}
	autoscaled := func(m *api.Machine) *api.Machine {
		m.Annotations = map[string]string{AnnotationScaleDown: ScaleDownByAutoscaler + "2026-01-01T12:00:00Z"}
		return m
	}
	deleting := func(m *api.Machine) *api.Machine { now := api.NewTime(t0); m.DeletionTimestamp = &now; return m }
	names := func(ms []*api.Machine) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return strings.Join(out, ",")
	}
	withNodes := map[string]bool{"joined-old": true, "joined-new": true, "running": true}
	cases := []struct {
		name     string
		machines []*api.Machine
		desired  int
		create   int
		remove   string
		drain    string
		requeue  time.Duration
	}{
		{"scale up from nothing", nil, 2, 2, "", "", 0},
		{"steady", []*api.Machine{mk("joined-old", api.MachineJoined, time.Hour), mk("p", api.MachinePending, 0)}, 2, 0, "", "", 0},
		{"deleting machines do not count", []*api.Machine{deleting(mk("d", api.MachineJoined, time.Hour))}, 1, 1, "", "", 0},
		{"young failed machine waits, blocks creation", []*api.Machine{failed("f", 3*time.Second)}, 1, 0, "", "", 7 * time.Second},
		{"old failed machine removed and replaced", []*api.Machine{failed("f", 10*time.Second)}, 1, 1, "f", "", 0},
		{"scale down picks the not joined first", []*api.Machine{
			mk("joined-old", api.MachineJoined, 2*time.Hour), mk("joined-new", api.MachineJoined, time.Hour), mk("pending", api.MachinePending, 3*time.Hour)},
			2, 0, "pending", "", 0},
		{"then the newest, draining it", []*api.Machine{
			mk("joined-old", api.MachineJoined, 2*time.Hour), mk("joined-new", api.MachineJoined, time.Hour)},
			1, 0, "", "joined-new", 0},
		{"a not joined machine with a node is drained", []*api.Machine{mk("running", api.MachineRunning, time.Hour)}, 0, 0, "", "running", 0},
		{"marked machines keep draining and do not count", []*api.Machine{
			marked(mk("joined-old", api.MachineJoined, 2*time.Hour)), mk("joined-new", api.MachineJoined, time.Hour)},
			2, 1, "", "joined-old", 0},
		{"a machine the autoscaler marked holds its place until its pool's replicas drop", []*api.Machine{
			autoscaled(mk("joined-old", api.MachineJoined, 2*time.Hour)), mk("joined-new", api.MachineJoined, time.Hour)},
			2, 0, "", "joined-old", 0},
		{"then it drains and no other goes", []*api.Machine{
			autoscaled(mk("joined-old", api.MachineJoined, 2*time.Hour)), mk("joined-new", api.MachineJoined, time.Hour)},
			1, 0, "", "joined-old", 0},
		{"a marked machine whose node is gone is removed", []*api.Machine{marked(mk("nonode", api.MachineJoined, 2*time.Hour))}, 0, 0, "nonode", "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := planScale(tc.machines, func(n string) bool { return withNodes[n] }, nil, tc.desired, clock.Now(), 10*time.Second)
			if p.create != tc.create || names(p.remove) != tc.remove || names(p.drain) != tc.drain || p.requeue != tc.requeue {
				t.Errorf("plan: create %d remove %q drain %q requeue %v; want %d %q %q %v",
					p.create, names(p.remove), names(p.drain), p.requeue, tc.create, tc.remove, tc.drain, tc.requeue)
			}
		})
	}
}

func TestComputeStatus(t *testing.T) {
	pool := &api.NodePool{ObjectMeta: api.ObjectMeta{Generation: 3}}
	ms := []*api.Machine{{ObjectMeta: api.ObjectMeta{Name: "a"}}, {ObjectMeta: api.ObjectMeta{Name: "b"}, Status: api.MachineStatus{Phase: api.MachineFailed}}}
	ready := func(n string) bool { return n == "a" }
	st := computeStatus(pool, ms, ready, nil, 2, api.Now())
	c := st.Conditions[0]
	if st.Size != 2 || st.ReadyNodes != 1 || st.ObservedGeneration != 3 || c.Status != api.ConditionFalse || c.Reason != "MachinesFailed" {
		t.Fatalf("status %+v", st)
	}
	st = computeStatus(pool, ms[:1], ready, nil, 1, api.Now())
	if c := st.Conditions[0]; c.Status != api.ConditionTrue || c.Reason != "ScaledToReplicas" || st.Updated != 1 {
		t.Fatalf("status %+v", st)
	}
	old := func(m *api.Machine) bool { return m.Name == "a" }
	st = computeStatus(pool, ms[:1], ready, old, 1, api.Now())
	if c := st.Conditions[0]; c.Status != api.ConditionFalse || c.Reason != "RollingUpdate" || st.Updated != 0 {
		t.Fatalf("status of a pool rolling: %+v", st)
	}
}

func TestMachineName(t *testing.T) {
	n := machineName("web")
	if len(n) != 9 || !strings.HasPrefix(n, "web-") || strings.ContainsAny(n[4:], "aeiou01") {
		t.Fatalf("name %q", n)
	}
	if errs := api.IsDNS1123Label(machineName(strings.Repeat("x", 63))); len(errs) != 0 {
		t.Fatal(errs)
	}
}

// TestPlanRollingUpdate: machines of an older spec (named o*) are
// replaced one at a time, a surge of one, never fewer joined machines
// than desired.
func TestPlanRollingUpdate(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	mk := func(name string, phase api.MachinePhase, age time.Duration) *api.Machine {
		return &api.Machine{ObjectMeta: api.ObjectMeta{Name: name, CreationTimestamp: api.NewTime(t0.Add(-age))}, Status: api.MachineStatus{Phase: phase}}
	}
	youngFailed := mk("nf", api.MachineFailed, time.Minute)
	youngFailed.Status.Conditions = []api.Condition{{Type: api.ConditionProvisioned, Status: api.ConditionFalse, LastTransitionTime: api.NewTime(t0.Add(-time.Second))}}
	outdated := func(m *api.Machine) bool { return strings.HasPrefix(m.Name, "o") }
	draining := func(m *api.Machine) *api.Machine {
		m.Annotations = map[string]string{AnnotationScaleDown: "x"}
		return m
	}
	hasNode := func(n string) bool { return n != "n-prov" }
	j := api.MachineJoined
	cases := []struct {
		name          string
		machines      []*api.Machine
		desired       int
		create        int
		remove, drain string
	}{
		{"surge one", []*api.Machine{mk("o1", j, time.Hour)}, 1, 1, "", ""},
		{"wait for the new one to join", []*api.Machine{mk("o1", j, time.Hour), mk("n-prov", api.MachineProvisioning, 0)}, 1, 0, "", ""},
		{"then drain the old one", []*api.Machine{mk("o1", j, time.Hour), mk("n1", j, 0)}, 1, 0, "", "o1"},
		{"one at a time of three", []*api.Machine{mk("o1", j, 3*time.Hour), mk("o2", j, 2*time.Hour), mk("o3", j, time.Hour)}, 3, 1, "", ""},
		{"an outdated one goes once the surge joined", []*api.Machine{
			mk("o1", j, 3*time.Hour), mk("o2", j, 2*time.Hour), mk("o3", j, time.Hour), mk("n1", j, 0)}, 3, 0, "", "o3"},
		{"a failing replacement stops the roll", []*api.Machine{mk("o1", j, time.Hour), youngFailed}, 1, 0, "", ""},
		{"scale to zero drains outdated ones", []*api.Machine{mk("o1", j, time.Hour)}, 0, 0, "", "o1"},
		{"a draining old machine counts against the surge", []*api.Machine{
			mk("o1", j, 2*time.Hour), draining(mk("o2", j, time.Hour)), mk("n1", j, 0)}, 2, 0, "", "o2"},
		{"scale down mid-roll keeps desired joined", []*api.Machine{
			mk("o1", j, 2*time.Hour), mk("o2", j, time.Hour), mk("n-prov", api.MachineProvisioning, 0)}, 1, 0, "", "o2"},
	}
	names := func(ms []*api.Machine) string {
		var out []string
		for _, m := range ms {
			out = append(out, m.Name)
		}
		return strings.Join(out, ",")
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := planScale(tc.machines, hasNode, outdated, tc.desired, t0, 10*time.Second)
			if p.create != tc.create || names(p.remove) != tc.remove || names(p.drain) != tc.drain {
				t.Errorf("plan: create %d remove %q drain %q; want %d %q %q", p.create, names(p.remove), names(p.drain), tc.create, tc.remove, tc.drain)
			}
		})
	}
}

func TestSameTemplate(t *testing.T) {
	a := api.MachineSpec{Provider: "libvirt", VCPUs: 1, Memory: api.MustParseQuantity("512Mi"), Image: "img",
		Labels: map[string]string{"a": "1", "b": "2"}, Taints: []api.Taint{{Key: "k", Value: "v", Effect: api.TaintEffectNoSchedule}}}
	b := a
	b.Labels = map[string]string{"b": "2", "a": "1"}
	b.Hypervisor, b.Pool = "hv-9", "other" // placement and ownership are not the template
	if !sameTemplate(a, b) {
		t.Fatalf("same template differs: %+v vs %+v", a, b)
	}
	for name, change := range map[string]func(*api.MachineSpec){
		"image":  func(s *api.MachineSpec) { s.Image = "img-2" },
		"memory": func(s *api.MachineSpec) { s.Memory = api.MustParseQuantity("1Gi") },
		"vcpus":  func(s *api.MachineSpec) { s.VCPUs = 2 },
		"label":  func(s *api.MachineSpec) { s.Labels = map[string]string{"a": "1"} },
		"taint":  func(s *api.MachineSpec) { s.Taints = nil },
	} {
		c := a
		change(&c)
		if sameTemplate(c, a) {
			t.Errorf("a change of %s leaves the template equal", name)
		}
	}
}

// TestFailedBackoffDoubles: each failure in a row doubles the wait before
// a Failed machine is replaced, up to the cap; a machine made after the
// last failure that joins starts again from the base.
func TestFailedBackoffDoubles(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	clock := controllerstest.NewFakeClock(t0)
	c := &Controller{o: Options{Now: clock.Now, FailedBackoff: 10 * time.Second, MaxFailedBackoff: time.Minute}, failures: map[string]failureRun{}}
	old := &api.Machine{ObjectMeta: api.ObjectMeta{Name: "old", CreationTimestamp: api.NewTime(t0.Add(-time.Hour))}, Status: api.MachineStatus{Phase: api.MachineJoined}}
	var got []time.Duration
	for range 5 {
		got = append(got, c.backoff("p", []*api.Machine{old}))
		c.failed("p")
		clock.Advance(time.Second)
	}
	want := []time.Duration{10 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, time.Minute}
	if !slices.Equal(got, want) {
		t.Fatalf("backoffs %v, want %v (an old joined machine does not end the run)", got, want)
	}
	fresh := &api.Machine{ObjectMeta: api.ObjectMeta{Name: "new", CreationTimestamp: api.NewTime(clock.Now())}, Status: api.MachineStatus{Phase: api.MachineJoined}}
	if d := c.backoff("p", []*api.Machine{old, fresh}); d != 10*time.Second {
		t.Fatalf("after a new machine joined: %v, want the base 10s", d)
	}
	if d := c.backoff("p", []*api.Machine{old}); d != 10*time.Second {
		t.Fatalf("the run did not end: %v", d)
	}
}
