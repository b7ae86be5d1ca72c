package api

import "testing"

const deployManifest = `apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: default}
spec:
  replicas: 3
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec: {containers: [{name: c, image: busybox}]}
`

func TestDecodeAndDefaultDeployment(t *testing.T) {
	s := NewScheme()
	o, k, err := s.Decode([]byte(deployManifest + "  strategy: {rollingUpdate: {maxSurge: 2, maxUnavailable: \"10%\"}}\n"))
	if err != nil {
		t.Fatal(err)
	}
	d := o.(*Deployment)
	k.Default(d)
	ru := d.Spec.Strategy.RollingUpdate
	if d.Spec.Strategy.Type != RollingUpdateDeploymentStrategyType || ru.MaxSurge.String() != "2" || ru.MaxUnavailable.String() != "10%" ||
		*d.Spec.RevisionHistoryLimit != 10 || *d.Spec.ProgressDeadlineSeconds != 600 || d.Spec.Template.Spec.RestartPolicy != RestartPolicyAlways {
		t.Fatalf("defaults: %+v %+v", d.Spec, ru)
	}
	checkErrors(t, k.Validate(d), nil)
	if _, _, err := s.Decode([]byte(deployManifest + "  strategy: {rollingUpdate: {maxSurge: [1]}}\n")); err == nil {
		t.Fatal("a list as maxSurge decoded")
	}
	var dd Deployment
	if err := s.DecodeInto([]byte(deployManifest), &dd); err != nil {
		t.Fatal(err)
	}
	DefaultDeployment(&dd)
	if ru := dd.Spec.Strategy.RollingUpdate; ru.MaxSurge.String() != "25%" || ru.MaxUnavailable.String() != "25%" || *dd.Spec.Replicas != 3 {
		t.Fatalf("default strategy %+v", ru)
	}
}

func validDeployment() *Deployment {
	d := &Deployment{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"}, Spec: DeploymentSpec{
		Selector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: PodSpec{Containers: []Container{{Name: "c", Image: "busybox"}}}}}}
	DefaultDeployment(d)
	return d
}

func TestValidateDeployment(t *testing.T) {
	ios := func(s string) *IntOrString { v := FromString(s); return &v }
	ioi := func(i int32) *IntOrString { v := FromInt(i); return &v }
	tests := []struct {
		name   string
		mutate func(d *Deployment)
		want   []string
	}{
		{"valid", func(d *Deployment) {}, nil},
		{"no selector", func(d *Deployment) { d.Spec.Selector = nil }, []string{"spec.selector: Required"}},
		{"empty selector", func(d *Deployment) { d.Spec.Selector = &LabelSelector{} }, []string{"spec.selector: Invalid"}},
		{"selector does not match", func(d *Deployment) { d.Spec.Selector.MatchLabels["app"] = "db" },
			[]string{"spec.template.metadata.labels: Invalid value"}},
		{"bad operator", func(d *Deployment) {
			d.Spec.Selector.MatchExpressions = []LabelSelectorRequirement{{Key: "tier", Operator: "Near"}}
		}, []string{"spec.selector.matchExpressions[0].operator: Unsupported"}},
		{"In without values", func(d *Deployment) {
			d.Spec.Selector.MatchExpressions = []LabelSelectorRequirement{{Key: "tier", Operator: LabelSelectorOpIn}}
		}, []string{"spec.selector.matchExpressions[0].values: Required"}},
		{"negative replicas", func(d *Deployment) { *d.Spec.Replicas = -1 }, []string{"spec.replicas: Invalid"}},
		{"both zero", func(d *Deployment) {
			d.Spec.Strategy.RollingUpdate = &RollingUpdateDeployment{MaxSurge: ioi(0), MaxUnavailable: ios("0%")}
		}, []string{"spec.strategy.rollingUpdate.maxUnavailable: Invalid"}},
		{"bad percent", func(d *Deployment) {
			d.Spec.Strategy.RollingUpdate = &RollingUpdateDeployment{MaxSurge: ios("x%"), MaxUnavailable: ios("150%")}
		}, []string{"spec.strategy.rollingUpdate.maxSurge: Invalid", "spec.strategy.rollingUpdate.maxUnavailable: Invalid"}},
		{"negative surge", func(d *Deployment) { d.Spec.Strategy.RollingUpdate.MaxSurge = ioi(-1) },
			[]string{"spec.strategy.rollingUpdate.maxSurge: Invalid"}},
		{"recreate with rollingUpdate", func(d *Deployment) { d.Spec.Strategy.Type = RecreateDeploymentStrategyType },
			[]string{"spec.strategy.rollingUpdate: Forbidden"}},
		{"bad strategy", func(d *Deployment) { d.Spec.Strategy.Type = "Blue" }, []string{"spec.strategy.type: Unsupported"}},
		{"restart never", func(d *Deployment) { d.Spec.Template.Spec.RestartPolicy = RestartPolicyNever },
			[]string{"spec.template.spec.restartPolicy: Unsupported"}},
		{"no containers", func(d *Deployment) { d.Spec.Template.Spec.Containers = nil },
			[]string{"spec.template.spec.containers: Required"}},
		{"deadline below minReady", func(d *Deployment) { d.Spec.MinReadySeconds = 700 },
			[]string{"spec.progressDeadlineSeconds: Invalid"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := validDeployment()
			tt.mutate(d)
			checkErrors(t, ValidateDeployment(d), tt.want)
		})
	}
	o, n := validDeployment(), validDeployment()
	n.Spec.Selector = &LabelSelector{MatchLabels: map[string]string{"app": "web", "x": "y"}}
	checkErrors(t, ValidateDeploymentUpdate(n, o), []string{"spec.selector: Invalid"})
}

func TestValidateReplicaSet(t *testing.T) {
	rs := &ReplicaSet{ObjectMeta: ObjectMeta{Name: "web", Namespace: "default"}, Spec: ReplicaSetSpec{
		Selector: &LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "web"}},
			Spec: PodSpec{Containers: []Container{{Name: "c", Image: "busybox"}}}}}}
	DefaultReplicaSet(rs)
	if *rs.Spec.Replicas != 1 {
		t.Fatal("replicas not defaulted to 1")
	}
	checkErrors(t, ValidateReplicaSet(rs), nil)
	*rs.Spec.Replicas = -2
	rs.Spec.Template.Labels = nil
	checkErrors(t, ValidateReplicaSet(rs), []string{"spec.replicas: Invalid", "spec.template.metadata.labels: Invalid"})
}

func TestScaledValue(t *testing.T) {
	for _, tt := range []struct {
		v       IntOrString
		total   int32
		up      bool
		want    int32
		wantErr bool
	}{
		{FromInt(3), 10, true, 3, false},
		{FromString("25%"), 10, true, 3, false},
		{FromString("25%"), 10, false, 2, false},
		{FromString("0%"), 10, true, 0, false},
		{FromString("100%"), 7, false, 7, false},
		{FromString("abc"), 7, false, 0, true},
	} {
		got, err := ScaledValue(&tt.v, tt.total, tt.up)
		if got != tt.want || (err != nil) != tt.wantErr {
			t.Errorf("ScaledValue(%s, %d, %v) = %d, %v; want %d", tt.v.String(), tt.total, tt.up, got, err, tt.want)
		}
	}
}

func TestValidateDaemonSetMinReadySeconds(t *testing.T) {
	d := &DaemonSet{ObjectMeta: ObjectMeta{Name: "agent", Namespace: "default"}, Spec: DaemonSetSpec{
		Selector: &LabelSelector{MatchLabels: map[string]string{"app": "agent"}},
		Template: PodTemplateSpec{ObjectMeta: ObjectMeta{Labels: map[string]string{"app": "agent"}},
			Spec: PodSpec{Containers: []Container{{Name: "c", Image: "busybox"}}}}}}
	DefaultDaemonSet(d)
	d.Spec.MinReadySeconds = 5
	checkErrors(t, ValidateDaemonSet(d), nil)
	d.Spec.MinReadySeconds = -1
	checkErrors(t, ValidateDaemonSet(d), []string{"spec.minReadySeconds"})
}
