package iaas

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results a provider call is counted under.
const (
	ResultOK          = "ok"
	ResultNotFound    = "not_found"
	ResultCapacity    = "capacity"
	ResultQuota       = "quota"
	ResultUnreachable = "unreachable"
	ResultError       = "error"
)

// ResultOf classifies a provider call's error for metrics and conditions.
func ResultOf(err error) string {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, ErrNotFound):
		return ResultNotFound
	case errors.Is(err, ErrInsufficientCapacity):
		return ResultCapacity
	case errors.Is(err, ErrQuota):
		return ResultQuota
	case errors.Is(err, ErrUnreachable):
		return ResultUnreachable
	}
	return ResultError
}

// Instrument wraps p so that every call is timed in the histogram
// cloud_iaas_provider_call_duration_seconds{provider, operation, result}
// registered on reg (reused when another Instrument registered it first).
// The result keeps exactly the optional abilities (PowerManager,
// ConsoleReader, HostInspector) that p has, and answers PlacesItself as p
// does.
func Instrument(p Provider, reg prometheus.Registerer) Provider {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "cloud_iaas_provider_call_duration_seconds",
		Help:    "Duration of calls to IaaS providers by provider, operation and result.",
		Buckets: []float64{.005, .025, .1, .5, 1, 2.5, 5, 10, 30, 60, 120},
	}, []string{"provider", "operation", "result"})
	if reg != nil {
		if err := reg.Register(h); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if existing, ok := are.ExistingCollector.(*prometheus.HistogramVec); ok {
					h = existing
				}
			}
		}
	}
	base := &instrumented{p: p, h: h}
	pm, isPM := p.(PowerManager)
	cr, isCR := p.(ConsoleReader)
	hi, isHI := p.(HostInspector)
	var (
		wpm PowerManager
		wcr ConsoleReader
		whi HostInspector
	)
	if isPM {
		wpm = instrumentedPower{base, pm}
	}
	if isCR {
		wcr = instrumentedConsole{base, cr}
	}
	if isHI {
		whi = instrumentedHost{base, hi}
	}
	switch {
	case isPM && isCR && isHI:
		return struct {
			*instrumented
			PowerManager
			ConsoleReader
			HostInspector
		}{base, wpm, wcr, whi}
	case isPM && isCR:
		return struct {
			*instrumented
			PowerManager
			ConsoleReader
		}{base, wpm, wcr}
	case isPM && isHI:
		return struct {
			*instrumented
			PowerManager
			HostInspector
		}{base, wpm, whi}
	case isCR && isHI:
		return struct {
			*instrumented
			ConsoleReader
			HostInspector
		}{base, wcr, whi}
	case isPM:
		return struct {
			*instrumented
			PowerManager
		}{base, wpm}
	case isCR:
		return struct {
			*instrumented
			ConsoleReader
		}{base, wcr}
	case isHI:
		return struct {
			*instrumented
			HostInspector
		}{base, whi}
	}
	return base
}

type instrumented struct {
	p Provider
	h *prometheus.HistogramVec
}

// Unwrap returns the provider it times, so that iaas.Ability finds the
// optional abilities Instrument does not forward.
func (i *instrumented) Unwrap() Provider { return i.p }

func (i *instrumented) observe(op string, start time.Time, err error) {
	i.h.WithLabelValues(i.p.Name(), op, ResultOf(err)).Observe(time.Since(start).Seconds())
}

func (i *instrumented) Name() string { return i.p.Name() }

// PlacesMachines answers for the wrapped provider (see PlacesItself).
func (i *instrumented) PlacesMachines() bool { return PlacesItself(i.p) }

func (i *instrumented) Create(ctx context.Context, spec MachineSpec) (m Machine, err error) {
	defer func(start time.Time) { i.observe("create", start, err) }(time.Now())
	return i.p.Create(ctx, spec)
}

func (i *instrumented) Delete(ctx context.Context, id string) (err error) {
	defer func(start time.Time) { i.observe("delete", start, err) }(time.Now())
	return i.p.Delete(ctx, id)
}

func (i *instrumented) Get(ctx context.Context, id string) (m Machine, err error) {
	defer func(start time.Time) { i.observe("get", start, err) }(time.Now())
	return i.p.Get(ctx, id)
}

func (i *instrumented) List(ctx context.Context) (ms []Machine, err error) {
	defer func(start time.Time) { i.observe("list", start, err) }(time.Now())
	return i.p.List(ctx)
}

func (i *instrumented) Flavors(ctx context.Context) (fs []Flavor, err error) {
	defer func(start time.Time) { i.observe("flavors", start, err) }(time.Now())
	return i.p.Flavors(ctx)
}

type instrumentedPower struct {
	i  *instrumented
	pm PowerManager
}

func (w instrumentedPower) Start(ctx context.Context, id string) (err error) {
	defer func(start time.Time) { w.i.observe("start", start, err) }(time.Now())
	return w.pm.Start(ctx, id)
}

func (w instrumentedPower) Stop(ctx context.Context, id string) (err error) {
	defer func(start time.Time) { w.i.observe("stop", start, err) }(time.Now())
	return w.pm.Stop(ctx, id)
}

func (w instrumentedPower) Reboot(ctx context.Context, id string) (err error) {
	defer func(start time.Time) { w.i.observe("reboot", start, err) }(time.Now())
	return w.pm.Reboot(ctx, id)
}

type instrumentedConsole struct {
	i  *instrumented
	cr ConsoleReader
}

func (w instrumentedConsole) ConsoleLog(ctx context.Context, id string, maxBytes int) (b []byte, err error) {
	defer func(start time.Time) { w.i.observe("console_log", start, err) }(time.Now())
	return w.cr.ConsoleLog(ctx, id, maxBytes)
}

type instrumentedHost struct {
	i  *instrumented
	hi HostInspector
}

func (w instrumentedHost) InspectHost(ctx context.Context, hypervisor, uri string) (h HostInfo, err error) {
	defer func(start time.Time) { w.i.observe("inspect_host", start, err) }(time.Now())
	return w.hi.InspectHost(ctx, hypervisor, uri)
}
