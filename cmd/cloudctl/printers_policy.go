package main

import (
	"time"

	"github.com/cloudmgr/cloud/api"
)

func podDisruptionBudgetColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "MIN AVAILABLE", "MAX UNAVAILABLE", "AGE"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			b := obj.(*api.PodDisruptionBudget)
			minA, maxU := "N/A", "N/A"
			if b.Spec.MinAvailable != nil {
				minA = b.Spec.MinAvailable.String()
			}
			if b.Spec.MaxUnavailable != nil {
				maxU = b.Spec.MaxUnavailable.String()
			}
			return []string{b.Name, minA, maxU, age(b.CreationTimestamp, now)}, nil
		},
	}
}
