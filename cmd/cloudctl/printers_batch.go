package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// jobColumns are kubectl's: COMPLETIONS is succeeded/completions, DURATION
// runs from the start to completion (or to now while running).
func jobColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "COMPLETIONS", "DURATION", "AGE"},
		wide:    []string{"CONTAINERS", "IMAGES", "SELECTOR"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			j := obj.(*api.Job)
			completions := strconv.Itoa(int(j.Status.Succeeded)) + "/" + strconv.Itoa(int(api.JobCompletionsValue(j)))
			duration := ""
			if st := j.Status.StartTime; st != nil {
				end := now
				if ct := j.Status.CompletionTime; ct != nil {
					end = ct.Time
				}
				duration = humanDuration(end.Sub(st.Time))
			}
			names, images := containersAndImages(&j.Spec.Template.Spec)
			return []string{j.Name, completions, duration, age(j.CreationTimestamp, now)},
				[]string{names, images, selectorString(j.Spec.Selector)}
		},
	}
}

// cronJobColumns are kubectl's, with the time zone in the wide output.
func cronJobColumns() columnSet {
	return columnSet{
		headers: []string{"NAME", "SCHEDULE", "SUSPEND", "ACTIVE", "LAST SCHEDULE", "AGE"},
		wide:    []string{"TIMEZONE", "CONTAINERS", "IMAGES"},
		row: func(obj api.Object, now time.Time) ([]string, []string) {
			cj := obj.(*api.CronJob)
			suspend := cj.Spec.Suspend != nil && *cj.Spec.Suspend
			last := "<none>"
			if t := cj.Status.LastScheduleTime; t != nil {
				last = age(*t, now)
			}
			tz := "<none>"
			if cj.Spec.TimeZone != nil {
				tz = *cj.Spec.TimeZone
			}
			names, images := containersAndImages(&cj.Spec.JobTemplate.Spec.Template.Spec)
			return []string{cj.Name, cj.Spec.Schedule, strconv.FormatBool(suspend), strconv.Itoa(len(cj.Status.Active)), last,
					age(cj.CreationTimestamp, now)},
				[]string{tz, names, images}
		},
	}
}

// selectorString writes a label selector as kubectl does: "a=b,c in (d,e)".
func selectorString(sel *api.LabelSelector) string {
	if sel == nil {
		return "<none>"
	}
	var parts []string
	for _, k := range sortedKeys(sel.MatchLabels) {
		parts = append(parts, k+"="+sel.MatchLabels[k])
	}
	for _, r := range sel.MatchExpressions {
		switch r.Operator {
		case api.LabelSelectorOpIn:
			parts = append(parts, r.Key+" in ("+strings.Join(r.Values, ",")+")")
		case api.LabelSelectorOpNotIn:
			parts = append(parts, r.Key+" notin ("+strings.Join(r.Values, ",")+")")
		case api.LabelSelectorOpExists:
			parts = append(parts, r.Key)
		case api.LabelSelectorOpDoesNotExist:
			parts = append(parts, "!"+r.Key)
		}
	}
	if len(parts) == 0 {
		return "<none>"
	}
	return strings.Join(parts, ",")
}
