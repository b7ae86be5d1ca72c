package api

import (
	"strings"
	"testing"
)

// checkErrors asserts that got holds exactly the wanted errors, each found
// as a substring in order; want nil means no error.
func checkErrors(t *testing.T, errs ErrorList, want []string) {
	t.Helper()
	got := strings.Join(errorStrings(errs), "\n")
	if want == nil {
		if got != "" {
			t.Fatalf("unexpected errors:\n%s", got)
		}
		return
	}
	rest := got
	for _, w := range want {
		i := strings.Index(rest, w)
		if i < 0 {
			t.Fatalf("missing (or out of order) %q in:\n%s", w, got)
		}
		rest = rest[i+len(w):]
	}
	if n := len(errs); n != len(want) {
		t.Errorf("got %d errors, want %d:\n%s", n, len(want), got)
	}
}

func req(key string, op NodeSelectorOperator, values ...string) NodeSelectorRequirement {
	return NodeSelectorRequirement{Key: key, Operator: op, Values: values}
}

func requiredTerms(terms ...NodeSelectorTerm) *Affinity {
	return &Affinity{NodeAffinity: &NodeAffinity{Required: &NodeSelector{NodeSelectorTerms: terms}}}
}

func exprs(rs ...NodeSelectorRequirement) NodeSelectorTerm {
	return NodeSelectorTerm{MatchExpressions: rs}
}

func spread(key string, skew int32, when UnsatisfiableConstraintAction) TopologySpreadConstraint {
	return TopologySpreadConstraint{MaxSkew: skew, TopologyKey: key, WhenUnsatisfiable: when,
		LabelSelector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}}}
}

func TestValidatePodScheduling(t *testing.T) {
	const aff = "spec.affinity.nodeAffinity."
	const terms = aff + "requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms"
	never, bogus := PreemptNever, PreemptionPolicy("Sometimes")
	tests := []struct {
		name   string
		mutate func(s *PodSpec)
		want   []string
	}{
		{"every operator well used", func(s *PodSpec) {
			s.Affinity = requiredTerms(exprs(
				req(LabelZone, NodeSelectorOpIn, "a", "b"), req("disk", NodeSelectorOpNotIn, "hdd"),
				req("gpu", NodeSelectorOpExists), req("spot", NodeSelectorOpDoesNotExist),
				req("cores", NodeSelectorOpGt, "4"), req("cores", NodeSelectorOpLt, "-1"),
			), NodeSelectorTerm{MatchFields: []NodeSelectorRequirement{req("metadata.name", NodeSelectorOpIn, "node-1")}})
			s.Affinity.NodeAffinity.Preferred = []PreferredSchedulingTerm{{Weight: 1, Preference: exprs(req("a", NodeSelectorOpExists))},
				{Weight: 100, Preference: exprs(req("b", NodeSelectorOpExists))}}
			s.TopologySpreadConstraints = []TopologySpreadConstraint{spread(LabelHypervisor, 1, DoNotSchedule),
				spread(LabelHypervisor, 2, ScheduleAnyway), spread(LabelHostname, 1, DoNotSchedule)}
			s.PreemptionPolicy = &never
			s.PriorityClassName = "high.example.com"
		}, nil},
		{"an empty term is allowed (it matches nothing)", func(s *PodSpec) { s.Affinity = requiredTerms(NodeSelectorTerm{}) }, nil},
		{"no terms", func(s *PodSpec) { s.Affinity = requiredTerms() },
			[]string{terms + ": Required value: must have at least one node selector term"}},
		{"In and NotIn without values", func(s *PodSpec) {
			s.Affinity = requiredTerms(exprs(req("a", NodeSelectorOpIn), req("b", NodeSelectorOpNotIn)))
		}, []string{
			terms + "[0].matchExpressions[0].values: Required value: must be specified when `operator` is 'In' or 'NotIn'",
			terms + "[0].matchExpressions[1].values: Required value",
		}},
		{"Exists and DoesNotExist with values", func(s *PodSpec) {
			s.Affinity = requiredTerms(exprs(req("a", NodeSelectorOpExists, "x"), req("b", NodeSelectorOpDoesNotExist, "y")))
		}, []string{
			terms + "[0].matchExpressions[0].values: Forbidden: may not be specified when `operator` is 'Exists' or 'DoesNotExist'",
			terms + "[0].matchExpressions[1].values: Forbidden",
		}},
		{"Gt and Lt need exactly one integer", func(s *PodSpec) {
			s.Affinity = requiredTerms(exprs(req("a", NodeSelectorOpGt), req("b", NodeSelectorOpLt, "1", "2"),
				req("c", NodeSelectorOpGt, "four")))
		}, []string{
			terms + "[0].matchExpressions[0].values: Required value: must be specified single value when `operator` is 'Lt' or 'Gt'",
			terms + "[0].matchExpressions[1].values: Required value",
			terms + `[0].matchExpressions[2].values[0]: Invalid value "four": must be an integer`,
		}},
		{"unknown operator and bad key", func(s *PodSpec) {
			s.Affinity = requiredTerms(exprs(req("Bad Key", "Like", "x"), req("", NodeSelectorOpExists)))
		}, []string{
			terms + `[0].matchExpressions[0].key: Invalid value "Bad Key"`,
			terms + `[0].matchExpressions[0].operator: Unsupported value "Like": supported values: "In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"`,
			terms + "[0].matchExpressions[1].key: Required value",
		}},
		{"matchFields only metadata.name with In or NotIn", func(s *PodSpec) {
			s.Affinity = requiredTerms(NodeSelectorTerm{MatchFields: []NodeSelectorRequirement{
				req("metadata.labels", NodeSelectorOpIn, "x"), req("metadata.name", NodeSelectorOpExists),
				req("metadata.name", NodeSelectorOpNotIn)}})
		}, []string{
			terms + `[0].matchFields[0].key: Unsupported value "metadata.labels": supported values: "metadata.name"`,
			terms + `[0].matchFields[1].operator: Unsupported value "Exists": supported values: "In", "NotIn"`,
			terms + "[0].matchFields[2].values: Required value",
		}},
		{"preferred weight out of range and bad preference", func(s *PodSpec) {
			s.Affinity = &Affinity{NodeAffinity: &NodeAffinity{Preferred: []PreferredSchedulingTerm{
				{Weight: 0, Preference: exprs(req("a", NodeSelectorOpExists))},
				{Weight: 101, Preference: exprs(req("b", NodeSelectorOpIn))}}}}
		}, []string{
			aff + `preferredDuringSchedulingIgnoredDuringExecution[0].weight: Invalid value "0": must be in the range 1-100`,
			aff + `preferredDuringSchedulingIgnoredDuringExecution[1].weight: Invalid value "101"`,
			aff + "preferredDuringSchedulingIgnoredDuringExecution[1].preference.matchExpressions[0].values: Required value",
		}},
		{"spread: skew, key and action", func(s *PodSpec) {
			s.TopologySpreadConstraints = []TopologySpreadConstraint{
				{MaxSkew: 0, TopologyKey: "", WhenUnsatisfiable: "Maybe"},
				{MaxSkew: 1, TopologyKey: "not a key", WhenUnsatisfiable: ""},
			}
		}, []string{
			`spec.topologySpreadConstraints[0].maxSkew: Invalid value "0": must be greater than zero`,
			"spec.topologySpreadConstraints[0].topologyKey: Required value: can not be empty",
			`spec.topologySpreadConstraints[0].whenUnsatisfiable: Unsupported value "Maybe": supported values: "DoNotSchedule", "ScheduleAnyway"`,
			`spec.topologySpreadConstraints[1].topologyKey: Invalid value "not a key"`,
			"spec.topologySpreadConstraints[1].whenUnsatisfiable: Required value",
		}},
		{"spread: label selector", func(s *PodSpec) {
			c := spread(LabelZone, 1, DoNotSchedule)
			c.LabelSelector = &LabelSelector{MatchLabels: map[string]string{"app": "a b"}, MatchExpressions: []LabelSelectorRequirement{
				{Key: "tier", Operator: LabelSelectorOpIn}, {Key: "x", Operator: LabelSelectorOpExists, Values: []string{"y"}},
				{Key: "y", Operator: "Gt", Values: []string{"1"}}}}
			s.TopologySpreadConstraints = []TopologySpreadConstraint{c}
		}, []string{
			`spec.topologySpreadConstraints[0].labelSelector.matchLabels: Invalid value "a b"`,
			"spec.topologySpreadConstraints[0].labelSelector.matchExpressions[0].values: Required value",
			"spec.topologySpreadConstraints[0].labelSelector.matchExpressions[1].values: Forbidden",
			`spec.topologySpreadConstraints[0].labelSelector.matchExpressions[2].operator: Unsupported value "Gt"`,
		}},
		{"spread: same key and action twice", func(s *PodSpec) {
			s.TopologySpreadConstraints = []TopologySpreadConstraint{spread(LabelZone, 1, DoNotSchedule), spread(LabelZone, 3, DoNotSchedule)}
		}, []string{`spec.topologySpreadConstraints[1].{topologyKey, whenUnsatisfiable}: Duplicate value "{topology.kubernetes.io/zone, DoNotSchedule}"`}},
		{"preemption policy", func(s *PodSpec) { s.PreemptionPolicy = &bogus },
			[]string{`spec.preemptionPolicy: Unsupported value "Sometimes": supported values: "PreemptLowerPriority", "Never"`}},
		{"priority class name", func(s *PodSpec) { s.PriorityClassName = "High_Priority" },
			[]string{`spec.priorityClassName: Invalid value "High_Priority": a lowercase RFC 1123 subdomain`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			tt.mutate(&p.Spec)
			checkErrors(t, ValidatePod(p), tt.want)
		})
	}
}

func TestValidatePriorityClass(t *testing.T) {
	never := PreemptNever
	tests := []struct {
		name string
		pc   PriorityClass
		want []string
	}{
		{"user class", PriorityClass{ObjectMeta: ObjectMeta{Name: "high"}, Value: 1000, PreemptionPolicy: &never}, nil},
		{"highest user value", PriorityClass{ObjectMeta: ObjectMeta{Name: "top"}, Value: HighestUserDefinablePriority}, nil},
		{"negative value", PriorityClass{ObjectMeta: ObjectMeta{Name: "low"}, Value: -10}, nil},
		{"above the user range", PriorityClass{ObjectMeta: ObjectMeta{Name: "top"}, Value: HighestUserDefinablePriority + 1},
			[]string{"value: Forbidden: may not be greater than 1000000000"}},
		{"system class", *SystemPriorityClasses()[0], nil},
		{"system class with another value", PriorityClass{ObjectMeta: ObjectMeta{Name: SystemNodeCritical}, Value: 5},
			[]string{"value: Forbidden: the system class system-node-critical has the value 2000001000"}},
		{"reserved prefix", PriorityClass{ObjectMeta: ObjectMeta{Name: "system-mine"}, Value: 5},
			[]string{"metadata.name: Forbidden: priority class names with the 'system-' prefix are reserved"}},
		{"bad name and policy", PriorityClass{ObjectMeta: ObjectMeta{Name: "High"}, PreemptionPolicy: new(PreemptionPolicy)},
			[]string{`metadata.name: Invalid value "High"`, `preemptionPolicy: Unsupported value ""`}},
		{"namespaced", PriorityClass{ObjectMeta: ObjectMeta{Name: "x", Namespace: "default"}},
			[]string{"metadata.namespace: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, ValidatePriorityClass(&tt.pc), tt.want) })
	}
}

func TestValidatePriorityClassUpdate(t *testing.T) {
	never := PreemptNever
	old := &PriorityClass{ObjectMeta: ObjectMeta{Name: "high"}, Value: 1000}
	DefaultPriorityClass(old)
	tests := []struct {
		name   string
		mutate func(pc *PriorityClass)
		want   []string
	}{
		{"description and default flag", func(pc *PriorityClass) { pc.Description, pc.GlobalDefault = "now the default", true }, nil},
		{"value", func(pc *PriorityClass) { pc.Value = 2000 }, []string{"value: Forbidden: may not be changed in an update"}},
		{"preemption policy", func(pc *PriorityClass) { pc.PreemptionPolicy = &never },
			[]string{"preemptionPolicy: Forbidden: may not be changed in an update"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			n := *old
			tt.mutate(&n)
			checkErrors(t, ValidatePriorityClassUpdate(&n, old), tt.want)
		})
	}
}

func TestValidateBinding(t *testing.T) {
	tests := []struct {
		name   string
		target ObjectReference
		want   []string
	}{
		{"node", ObjectReference{Kind: KindNode, Name: "node-1"}, nil},
		{"no kind", ObjectReference{Name: "node-1.example.com"}, nil},
		{"no name", ObjectReference{}, []string{"target.name: Required value"}},
		{"bad name", ObjectReference{Name: "Node 1"}, []string{`target.name: Invalid value "Node 1"`}},
		{"other kind", ObjectReference{Kind: "Pod", Name: "x"}, []string{`target.kind: Unsupported value "Pod": supported values: "Node"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkErrors(t, ValidateBinding(&Binding{Target: tt.target}), tt.want) })
	}
}

func TestResolvePodPriority(t *testing.T) {
	i32 := func(v int32) *int32 { return &v }
	never, lower := PreemptNever, PreemptLowerPriority
	high := &PriorityClass{ObjectMeta: ObjectMeta{Name: "high"}, Value: 1000, PreemptionPolicy: &never}
	def := &PriorityClass{ObjectMeta: ObjectMeta{Name: "normal"}, Value: 10, GlobalDefault: true}
	tests := []struct {
		name      string
		spec      PodSpec
		class     *PriorityClass
		mayChoose bool
		priority  int32
		className string
		policy    *PreemptionPolicy
		want      []string
	}{
		{name: "named class", spec: PodSpec{PriorityClassName: "high"}, class: high,
			priority: 1000, className: "high", policy: &never},
		{name: "named class keeps the pod's policy", spec: PodSpec{PriorityClassName: "high", PreemptionPolicy: &lower}, class: high,
			priority: 1000, className: "high", policy: &lower},
		{name: "class without a policy gives the default policy", spec: PodSpec{}, class: def,
			priority: 10, className: "normal", policy: &lower},
		{name: "same priority as the class", spec: PodSpec{PriorityClassName: "high", Priority: i32(1000)}, class: high,
			priority: 1000, className: "high", policy: &never},
		{name: "no class, no default", spec: PodSpec{}, priority: 0},
		{name: "zero priority given, no default", spec: PodSpec{Priority: i32(0)}, priority: 0},
		{name: "other priority than the class", spec: PodSpec{PriorityClassName: "high", Priority: i32(5)}, class: high,
			want: []string{"spec.priority: Forbidden: must not differ from the value computed from the priority class high: 1000"}},
		{name: "tenant priority without class", spec: PodSpec{Priority: i32(5)}, class: def,
			want: []string{"spec.priority: Forbidden: must not differ from the value computed from the priority class normal: 10"}},
		{name: "tenant priority, no default", spec: PodSpec{Priority: i32(5)},
			want: []string{"spec.priority: Forbidden: must not differ from the value computed from no priority class (and no global default class): 0"}},
		{name: "admin priority without class", spec: PodSpec{Priority: i32(5)}, class: def, mayChoose: true, priority: 5},
		{name: "admin priority against a named class", spec: PodSpec{PriorityClassName: "high", Priority: i32(5)}, class: high, mayChoose: true,
			want: []string{"spec.priority: Forbidden"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := validPod()
			p.Spec = tt.spec
			errs := ResolvePodPriority(p, tt.class, tt.mayChoose)
			checkErrors(t, errs, tt.want)
			if tt.want != nil {
				return
			}
			if PodPriority(p) != tt.priority || p.Spec.Priority == nil || p.Spec.PriorityClassName != tt.className {
				t.Errorf("priority %v class %q, want %d %q", p.Spec.Priority, p.Spec.PriorityClassName, tt.priority, tt.className)
			}
			if (p.Spec.PreemptionPolicy == nil) != (tt.policy == nil) || (tt.policy != nil && *p.Spec.PreemptionPolicy != *tt.policy) {
				t.Errorf("preemption policy %v, want %v", p.Spec.PreemptionPolicy, tt.policy)
			}
		})
	}
}

func TestBindPodAndConditions(t *testing.T) {
	p := validPod()
	p.Status.NominatedNodeName = "node-2"
	SetPodCondition(&p.Status, PodCondition{Type: PodScheduled, Status: ConditionFalse, Reason: "Unschedulable", Message: "0/3 nodes"})
	SetPodCondition(&p.Status, PodCondition{Type: PodReady, Status: ConditionFalse})
	first := PodConditionByType(&p.Status, PodScheduled).LastTransitionTime
	if first.IsZero() {
		t.Fatal("a new condition got no transition time")
	}
	// The same status again keeps the transition time, even when asked otherwise.
	SetPodCondition(&p.Status, PodCondition{Type: PodScheduled, Status: ConditionFalse, Reason: "Unschedulable", Message: "0/4 nodes",
		LastTransitionTime: NewTime(first.Add(3600e9))})
	if c := PodConditionByType(&p.Status, PodScheduled); !c.LastTransitionTime.Equal(first.Time) || c.Message != "0/4 nodes" {
		t.Fatalf("same status: %+v, want the old transition time and the new message", c)
	}
	BindPod(p, "node-1")
	c := PodConditionByType(&p.Status, PodScheduled)
	if p.Spec.NodeName != "node-1" || p.Status.NominatedNodeName != "" || c.Status != ConditionTrue || c.Reason != "" || c.Message != "" {
		t.Fatalf("after BindPod: node %q nominated %q condition %+v", p.Spec.NodeName, p.Status.NominatedNodeName, c)
	}
	if len(p.Status.Conditions) != 2 || p.Status.Conditions[1].Type != PodReady {
		t.Fatalf("conditions %+v, want PodScheduled replaced in place and Ready kept", p.Status.Conditions)
	}
}

func TestPreparePodForUpdate(t *testing.T) {
	prio, never := int32(7), PreemptNever
	old := validPod()
	old.Spec.Priority, old.Spec.PriorityClassName, old.Spec.PreemptionPolicy = &prio, "seven", &never
	manifest := validPod()
	PreparePodForUpdate(manifest, old)
	if !sameJSON(manifest.Spec, old.Spec) {
		t.Fatalf("a manifest without the resolved fields: %+v, want %+v", manifest.Spec, old.Spec)
	}
	other := int32(8)
	changed := validPod()
	changed.Spec.Priority = &other
	PreparePodForUpdate(changed, old)
	if *changed.Spec.Priority != 8 {
		t.Fatal("a priority the update sets was overwritten")
	}
	if errs := ValidatePodUpdate(changed, old); len(errs) == 0 {
		t.Fatal("a changed priority passed the update validation")
	}
}
