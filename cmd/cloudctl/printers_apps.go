package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// containersAndImages are the wide columns of workloads.
func containersAndImages(s *api.PodSpec) (string, string) {
	var names, images []string
	for _, c := range s.Containers {
		names, images = append(names, c.Name), append(images, c.Image)
	}
	return strings.Join(names, ","), strings.Join(images, ",")
}

func deploymentColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "READY", "UP-TO-DATE", "AVAILABLE", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			d := obj.(*api.Deployment)
			want := int32(1)
			if d.Spec.Replicas != nil {
				want = *d.Spec.Replicas
			}
			names, images := containersAndImages(&d.Spec.Template.Spec)
			return []string{d.Name, fmt.Sprintf("%d/%d", d.Status.ReadyReplicas, want), fmt.Sprint(d.Status.UpdatedReplicas),
					fmt.Sprint(d.Status.AvailableReplicas), age(d.CreationTimestamp, now)},
				[]string{names, images, formatLabelSelector(d.Spec.Selector)}
		},
	}
}

func replicaSetColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "DESIRED", "CURRENT", "READY", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			rs := obj.(*api.ReplicaSet)
			want := int32(1)
			if rs.Spec.Replicas != nil {
				want = *rs.Spec.Replicas
			}
			names, images := containersAndImages(&rs.Spec.Template.Spec)
			return []string{rs.Name, fmt.Sprint(want), fmt.Sprint(rs.Status.Replicas), fmt.Sprint(rs.Status.ReadyReplicas),
					age(rs.CreationTimestamp, now)},
				[]string{names, images, formatLabelSelector(rs.Spec.Selector)}
		},
	}
}

// podTemplate writes a workload's pod template as kubectl does.
func (d *describer) podTemplate(t *api.PodTemplateSpec) {
	d.line(0, "Pod Template:")
	d.stringMap(1, "Labels", t.Labels)
	if len(t.Annotations) > 0 {
		d.stringMap(1, "Annotations", t.Annotations)
	}
	d.line(1, "Containers:")
	for _, c := range t.Spec.Containers {
		d.line(2, "%s:", c.Name)
		d.line(3, "Image:\t%s", c.Image)
	}
}

// deployment describes a Deployment as kubectl does.
func (d *describer) deployment(k *api.KindInfo, dep *api.Deployment) {
	d.meta(k, &dep.ObjectMeta)
	s, st := &dep.Spec, &dep.Status
	want := int32(1)
	if s.Replicas != nil {
		want = *s.Replicas
	}
	d.line(0, "Selector:\t%s", formatLabelSelector(s.Selector))
	d.line(0, "Replicas:\t%d desired | %d updated | %d total | %d available | %d unavailable",
		want, st.UpdatedReplicas, st.Replicas, st.AvailableReplicas, st.UnavailableReplicas)
	d.line(0, "StrategyType:\t%s", s.Strategy.Type)
	d.line(0, "MinReadySeconds:\t%d", s.MinReadySeconds)
	if ru := s.Strategy.RollingUpdate; ru != nil && ru.MaxSurge != nil && ru.MaxUnavailable != nil {
		d.line(0, "RollingUpdateStrategy:\t%s max unavailable, %s max surge", ru.MaxUnavailable.String(), ru.MaxSurge.String())
	}
	if s.Paused {
		d.line(0, "Paused:\ttrue")
	}
	d.podTemplate(&s.Template)
	if len(st.Conditions) > 0 {
		d.line(0, "Conditions:")
		d.line(1, "Type\tStatus\tReason")
		d.line(1, "----\t------\t------")
		for _, c := range st.Conditions {
			d.line(1, "%s\t%s\t%s", c.Type, c.Status, c.Reason)
		}
	}
}

// replicaSet describes a ReplicaSet as kubectl does.
func (d *describer) replicaSet(k *api.KindInfo, rs *api.ReplicaSet) {
	d.meta(k, &rs.ObjectMeta)
	want := int32(1)
	if rs.Spec.Replicas != nil {
		want = *rs.Spec.Replicas
	}
	d.line(0, "Selector:\t%s", formatLabelSelector(rs.Spec.Selector))
	if ref := controllerName(&rs.ObjectMeta); ref != "" {
		d.line(0, "Controlled By:\t%s", ref)
	}
	d.line(0, "Replicas:\t%d current / %d desired", rs.Status.Replicas, want)
	d.line(0, "Pods Status:\t%d Ready / %d Available", rs.Status.ReadyReplicas, rs.Status.AvailableReplicas)
	d.podTemplate(&rs.Spec.Template)
}

// controllerName is "Kind/name" of an object's controller, or "".
func controllerName(m *api.ObjectMeta) string {
	for _, r := range m.OwnerReferences {
		if r.Controller != nil && *r.Controller {
			return r.Kind + "/" + r.Name
		}
	}
	return ""
}
