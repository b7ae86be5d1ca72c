package caas

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/cloudmgr/cloud/api"
)

// worker runs one probe of one run of a container until its context ends,
// or until the probe has done its job: a startup probe that passed, a
// liveness or startup probe that killed the container.
type worker struct {
	p         *prober
	kind      probeKind
	probe     *api.Probe
	pod       podRef
	container api.Container
	id        string    // the container run probed
	startedAt time.Time // when that run started; initialDelaySeconds counts from it
	netns     string
	pc        *probedContainer

	lastEvent   string
	lastEventAt time.Time
}

// thresholdState counts results in a row, for success and failure
// thresholds.
type thresholdState struct {
	last bool
	run  int
}

// observe adds one result.
func (s *thresholdState) observe(ok bool) {
	if s.run > 0 && s.last == ok {
		s.run++
		return
	}
	s.last, s.run = ok, 1
}

// passing reports at least n successes in a row.
func (s *thresholdState) passing(n int32) bool { return s.last && s.run >= int(n) }

// failing reports at least n failures in a row.
func (s *thresholdState) failing(n int32) bool { return !s.last && s.run > 0 && s.run >= int(n) }

func (w *worker) secs(n int32) time.Duration { return time.Duration(n) * w.p.unit }

func (w *worker) run(ctx context.Context) {
	delay := w.secs(w.probe.InitialDelaySeconds)
	if !w.startedAt.IsZero() {
		delay = time.Until(w.startedAt.Add(delay))
	}
	if !sleepCtx(ctx, delay) {
		return
	}
	if w.kind != startup {
		// The startup probe holds the others until it passes.
		select {
		case <-w.pc.startedC:
		case <-ctx.Done():
			return
		}
	}
	t := time.NewTicker(w.secs(w.probe.PeriodSeconds))
	defer t.Stop()
	var st thresholdState
	for {
		ok, msg, err := w.check(ctx)
		switch {
		case ctx.Err() != nil:
			return
		case err != nil:
			// Not the container's fault (runtime error, container just
			// stopped): the result does not count.
			w.p.log.Debug("probe error", "pod", w.pod.key(), "container", w.container.Name, "probe", w.kind.String(), "err", err)
		case !w.observe(ctx, &st, ok, msg):
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// observe acts on one result; it reports whether the worker goes on.
func (w *worker) observe(ctx context.Context, st *thresholdState, ok bool, msg string) bool {
	st.observe(ok)
	if ok {
		w.lastEvent = ""
	} else {
		w.unhealthy(ctx, msg)
	}
	switch w.kind {
	case startup:
		if st.passing(1) {
			w.p.setStarted(w.pc, &w.container)
			w.p.wake(w.pod.key())
			return false
		}
		if st.failing(w.probe.FailureThreshold) {
			w.kill(ctx, msg)
			return false
		}
	case liveness:
		if st.failing(w.probe.FailureThreshold) {
			w.kill(ctx, msg)
			return false
		}
	case readiness:
		changed := st.passing(w.probe.SuccessThreshold) && w.p.setReady(w.pc, true) ||
			st.failing(w.probe.FailureThreshold) && w.p.setReady(w.pc, false)
		if changed {
			w.p.wake(w.pod.key())
		}
	}
	return true
}

// unhealthy records a failed probe as a Warning event, not repeating the
// same message more often than every eventRepeat probe seconds.
func (w *worker) unhealthy(ctx context.Context, msg string) {
	text := fmt.Sprintf("%s probe failed: %s", w.kind, msg)
	if text == w.lastEvent && time.Since(w.lastEventAt) < w.secs(eventRepeat) {
		return
	}
	w.lastEvent, w.lastEventAt = text, time.Now()
	w.p.event(ctx, w.pod, w.container.Name, api.EventTypeWarning, "Unhealthy", text)
}

// kill stops the container with the probe's grace period (or the pod's);
// the pod loop then restarts it as its restart policy says.
func (w *worker) kill(ctx context.Context, msg string) {
	w.p.recordKill(w.pod.uid, w.id, fmt.Sprintf("%s probe failed: %s", w.kind, msg))
	text := fmt.Sprintf("Container %s failed %s probe", w.container.Name, strings.ToLower(w.kind.String()))
	if w.pod.restartPolicy != api.RestartPolicyNever {
		text += ", will be restarted"
	}
	w.p.event(ctx, w.pod, w.container.Name, api.EventTypeNormal, "Killing", text)
	grace := w.pod.grace
	if g := w.probe.TerminationGracePeriodSeconds; g != nil {
		grace = *g
	}
	if err := w.p.rt.StopContainer(ctx, w.id, time.Duration(grace)*time.Second); err != nil && ctx.Err() == nil {
		w.p.log.Warn("kill unhealthy container", "pod", w.pod.key(), "container", w.container.Name, "err", err)
	}
	w.p.wake(w.pod.key())
}

// check runs the probe once: ok and a message saying why it failed, or an
// error when it could not be run at all.
func (w *worker) check(ctx context.Context) (ok bool, msg string, err error) {
	timeout := w.secs(w.probe.TimeoutSeconds)
	switch pr := w.probe; {
	case pr.Exec != nil:
		return w.p.execProbe(ctx, w.id, pr.Exec.Command, timeout)
	case pr.HTTPGet != nil:
		return w.p.httpProbe(ctx, w.netns, &w.container, pr.HTTPGet, timeout)
	case pr.TCPSocket != nil:
		return w.p.tcpProbe(ctx, w.netns, &w.container, pr.TCPSocket, timeout)
	}
	return false, "", errors.New("probe has no handler")
}

// sleepCtx waits d; it reports false when ctx ended first.
func sleepCtx(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}
