// Package kit holds the small helpers the IaaS controllers share:
// conditions, finalizers, node readiness and the reasons provider errors
// become.
package kit

import (
	"context"
	"errors"
	"slices"
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
	"github.com/cloudmgr/cloud/controllers"
	"github.com/cloudmgr/cloud/iaas"
)

// Reasons of failed conditions, named after the provider's typed errors.
const (
	ReasonInsufficientCapacity = "InsufficientCapacity"
	ReasonQuota                = "Quota"
	ReasonUnreachable          = "Unreachable"
	ReasonCreateFailed         = "CreateFailed"
)

// CreateReason is the condition reason of a failed create (or placement):
// InsufficientCapacity, Quota, Unreachable (also for a call that timed
// out) or CreateFailed.
func CreateReason(err error) string {
	switch {
	case errors.Is(err, iaas.ErrInsufficientCapacity):
		return ReasonInsufficientCapacity
	case errors.Is(err, iaas.ErrQuota):
		return ReasonQuota
	case errors.Is(err, iaas.ErrUnreachable), errors.Is(err, context.DeadlineExceeded):
		return ReasonUnreachable
	}
	return ReasonCreateFailed
}

// SetCondition sets the condition of type typ in conds, keeping its last
// transition time unless its status changes; it reports whether anything
// changed.
func SetCondition(conds *[]api.Condition, typ string, status api.ConditionStatus, reason, message string, now api.Time) bool {
	for i := range *conds {
		c := &(*conds)[i]
		if c.Type != typ {
			continue
		}
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message = status, reason, message
		return true
	}
	*conds = append(*conds, api.Condition{Type: typ, Status: status, Reason: reason, Message: message, LastTransitionTime: now})
	return true
}

// FindCondition returns the condition of type typ, or nil.
func FindCondition(conds []api.Condition, typ string) *api.Condition {
	for i := range conds {
		if conds[i].Type == typ {
			return &conds[i]
		}
	}
	return nil
}

// NodeReady reports whether a node's Ready condition is True.
func NodeReady(n *api.Node) bool {
	for _, c := range n.Status.Conditions {
		if c.Type == api.NodeReady {
			return c.Status == api.ConditionTrue
		}
	}
	return false
}

// HasFinalizer reports whether m has finalizer f.
func HasFinalizer(m *api.ObjectMeta, f string) bool { return slices.Contains(m.Finalizers, f) }

// RemoveFinalizer drops f from m.
func RemoveFinalizer(m *api.ObjectMeta, f string) {
	m.Finalizers = slices.DeleteFunc(m.Finalizers, func(s string) bool { return s == f })
}

// MemoryMiB is a memory quantity in MiB, rounded up.
func MemoryMiB(q api.Quantity) int64 {
	b := q.Value()
	return (b + (1<<20 - 1)) >> 20
}

// QuietConflict turns a write conflict (the cache was behind) into a quick
// requeue without an error, so that the log keeps only real failures.
func QuietConflict(res controllers.Result, err error) (controllers.Result, error) {
	if err != nil && client.IsConflict(err) {
		return controllers.Result{RequeueAfter: 100 * time.Millisecond}, nil
	}
	return res, err
}
