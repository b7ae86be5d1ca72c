package framework

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// FitError says why an item fits on no candidate: per candidate, the
// status of the filter that rejected it.
type FitError struct {
	NumCandidates int
	// PreFilter, when set, rejected the item before any candidate was looked at.
	PreFilter *Status
	// Statuses maps each rejected candidate to its rejection.
	Statuses map[string]*Status
	// Noun names the candidates in the message ("nodes", "hypervisors").
	Noun string
}

func newFitError[N Candidate](candidates []N, rejected []rejection) *FitError {
	e := &FitError{NumCandidates: len(candidates), Statuses: make(map[string]*Status, len(rejected))}
	for _, r := range rejected {
		e.Statuses[candidates[r.index].CandidateName()] = r.status
	}
	return e
}

// ReasonCounts counts the candidates per rejection reason.
func (e *FitError) ReasonCounts() map[string]int {
	out := map[string]int{}
	if e.PreFilter != nil {
		for _, r := range e.PreFilter.Reasons() {
			out[r] = e.NumCandidates
		}
		return out
	}
	for _, st := range e.Statuses {
		for _, r := range st.Reasons() {
			out[r]++
		}
	}
	return out
}

// Resolvable reports whether any candidate was rejected for a reason that
// preempting lower-priority items could remove.
func (e *FitError) Resolvable() bool {
	if e.PreFilter != nil {
		return false
	}
	for _, st := range e.Statuses {
		if st.Code() == Unschedulable {
			return true
		}
	}
	return false
}

// Error is the summary in the Kubernetes style: "0/12 nodes are available:
// 8 Insufficient cpu, 4 node(s) had untolerated taint." (most frequent
// reason first).
func (e *FitError) Error() string {
	noun := e.Noun
	if noun == "" {
		noun = "nodes"
	}
	if e.NumCandidates == 0 {
		return fmt.Sprintf("0/0 %s are available: no %s to place on.", noun, noun)
	}
	type rc struct {
		reason string
		n      int
	}
	var list []rc
	for r, n := range e.ReasonCounts() {
		list = append(list, rc{r, n})
	}
	slices.SortFunc(list, func(a, b rc) int {
		if c := cmp.Compare(b.n, a.n); c != 0 {
			return c
		}
		return strings.Compare(a.reason, b.reason)
	})
	parts := make([]string, len(list))
	for i, x := range list {
		parts[i] = fmt.Sprintf("%d %s", x.n, x.reason)
	}
	return fmt.Sprintf("0/%d %s are available: %s.", e.NumCandidates, noun, strings.Join(parts, ", "))
}
