package api

import "reflect"

// ValidateScaleDecision checks a decision record: a name, a known trigger
// and outcome, and figures that make sense.
func ValidateScaleDecision(d *ScaleDecision) ErrorList {
	errs := ValidateObjectMeta(&d.ObjectMeta, false, false)
	s := &d.Spec
	triggers := []ScaleTriggerType{TriggerUtilization, TriggerPendingPods, TriggerUnderutilized}
	switch {
	case s.Trigger.Type == "":
		errs = append(errs, required("spec.trigger.type", ""))
	case !oneOf(s.Trigger.Type, triggers...):
		errs = append(errs, notSupported("spec.trigger.type", s.Trigger.Type, triggers...))
	}
	if s.Trigger.UtilizationPercent < 0 {
		errs = append(errs, invalid("spec.trigger.utilizationPercent", s.Trigger.UtilizationPercent, "must be greater than or equal to 0"))
	}
	if t := s.Trigger.ThresholdPercent; t < 0 || t > 100 {
		errs = append(errs, invalid("spec.trigger.thresholdPercent", t, "must be between 0 and 100"))
	}
	errs = append(errs, validateNonNegative("spec.trigger.windowSeconds", s.Trigger.WindowSeconds)...)
	errs = append(errs, validateNonNegative("spec.trigger.pendingCount", s.Trigger.PendingCount)...)
	for i, pc := range s.Pools {
		p := fieldPath("spec.pools").index(i)
		if pc.Pool == "" {
			errs = append(errs, required(p.child("pool"), ""))
		}
		if pc.Reason == "" {
			errs = append(errs, required(p.child("reason"), ""))
		}
	}
	for i, c := range s.Calls {
		p := fieldPath("spec.calls").index(i)
		if c.Operation == "" {
			errs = append(errs, required(p.child("operation"), ""))
		}
		errs = append(errs, validateNonNegative(p.child("durationMilliseconds"), c.DurationMilliseconds)...)
	}
	outcomes := []ScaleOutcomeType{OutcomeScaledUp, OutcomeScaledDown, OutcomeNoAction}
	switch o := s.Outcome; {
	case o.Type == "":
		errs = append(errs, required("spec.outcome.type", ""))
	case !oneOf(o.Type, outcomes...):
		errs = append(errs, notSupported("spec.outcome.type", o.Type, outcomes...))
	case o.Type == OutcomeScaledUp && (o.Pool == "" || o.Delta <= 0):
		errs = append(errs, invalid("spec.outcome.delta", o.Delta, "a scale-up names its pool and adds at least one machine"))
	case o.Type == OutcomeScaledDown && (o.Pool == "" || o.Node == ""):
		errs = append(errs, required("spec.outcome.node", "a scale-down names its pool and node"))
	case o.Type == OutcomeNoAction && o.Reason == "":
		errs = append(errs, required("spec.outcome.reason", "a decision not to act says why"))
	}
	if s.DecidedTime.IsZero() {
		errs = append(errs, required("spec.decidedTime", ""))
	}
	return errs
}

// ValidateScaleDecisionUpdate forbids changing a decision: it is a record.
func ValidateScaleDecisionUpdate(newD, oldD *ScaleDecision) ErrorList {
	errs := ValidateObjectMetaUpdate(&newD.ObjectMeta, &oldD.ObjectMeta)
	if !reflect.DeepEqual(newD.Spec, oldD.Spec) {
		errs = append(errs, forbidden("spec", "a decision is a record and may not be changed"))
	}
	return errs
}
