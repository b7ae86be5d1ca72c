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
