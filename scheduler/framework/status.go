// Package framework is the placement pipeline of the scheduler, after the
// Kubernetes scheduling framework and Nomad's feasibility and rank
// iterators: pre-filter, filter (feasibility, with the reason a node is
// rejected), pre-score, score, normalize, select. It is generic over the
// item placed (a pod, later a VM) and the candidate it is placed on (a
// node, later a hypervisor), so the IaaS layer reuses the same machinery.
package framework

import (
	"errors"
	"strings"
)

// Code is the outcome of a plugin call.
type Code int

// Status codes.
const (
	// Success: the candidate passes (or the call did its job).
	Success Code = iota
	// Unschedulable: the candidate is rejected now, but preempting
	// lower-priority items on it might make room.
	Unschedulable
	// UnschedulableAndUnresolvable: rejected, and preemption cannot help
	// (a taint, a selector, a NotReady node).
	UnschedulableAndUnresolvable
	// Skip: from PreFilter or PreScore, the plugin has nothing to do for
	// this item; its Filter or Score is not called.
	Skip
	// Error: an internal error, not a property of the candidate.
	Error
)

// String names the code.
func (c Code) String() string {
	switch c {
	case Success:
		return "Success"
	case Unschedulable:
		return "Unschedulable"
	case UnschedulableAndUnresolvable:
		return "UnschedulableAndUnresolvable"
	case Skip:
		return "Skip"
	case Error:
		return "Error"
	}
	return "Unknown"
}

// Status is a plugin's verdict. A nil *Status means Success. Reasons are
// short, stable phrases ("Insufficient cpu", "node(s) were unschedulable")
// that are counted across candidates to tell a user why an item is pending.
type Status struct {
	code    Code
	reasons []string
	err     error
	plugin  string
}

// NewStatus returns a status with a code and reasons.
func NewStatus(code Code, reasons ...string) *Status {
	return &Status{code: code, reasons: reasons}
}

// AsStatus wraps an internal error.
func AsStatus(err error) *Status {
	if err == nil {
		return nil
	}
	return &Status{code: Error, reasons: []string{err.Error()}, err: err}
}

// Code is the status code (Success for nil).
func (s *Status) Code() Code {
	if s == nil {
		return Success
	}
	return s.code
}

// IsSuccess reports a nil or Success status.
func (s *Status) IsSuccess() bool { return s.Code() == Success }

// IsSkip reports a Skip status.
func (s *Status) IsSkip() bool { return s.Code() == Skip }

// IsRejected reports Unschedulable or UnschedulableAndUnresolvable.
func (s *Status) IsRejected() bool {
	c := s.Code()
	return c == Unschedulable || c == UnschedulableAndUnresolvable
}

// Reasons are the phrases explaining the status.
func (s *Status) Reasons() []string {
	if s == nil {
		return nil
	}
	return s.reasons
}

// Plugin names the plugin that returned the status, once the runtime set it.
func (s *Status) Plugin() string {
	if s == nil {
		return ""
	}
	return s.plugin
}

// WithPlugin records which plugin returned the status.
func (s *Status) WithPlugin(name string) *Status {
	if s != nil {
		s.plugin = name
	}
	return s
}

// Err returns the status as an error (nil for Success).
func (s *Status) Err() error {
	if s.IsSuccess() {
		return nil
	}
	if s.err != nil {
		return s.err
	}
	return errors.New(s.Message())
}

// Message joins the reasons.
func (s *Status) Message() string {
	if s == nil {
		return ""
	}
	return strings.Join(s.reasons, ", ")
}
