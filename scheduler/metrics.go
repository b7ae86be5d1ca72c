package scheduler

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a scheduling attempt, as counted in scheduler_schedule_attempts_total.
const (
	ResultScheduled     = "scheduled"
	ResultUnschedulable = "unschedulable"
	ResultError         = "error"
)

type metrics struct {
	attempts  *prometheus.CounterVec
	e2e       prometheus.Histogram
	algorithm prometheus.Histogram
	binding   prometheus.Histogram
	// preemptions counts pods that preempted others; victims the pods evicted.
	preemptions prometheus.Counter
	victims     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, q *Queue) (*metrics, error) {
	buckets := []float64{.0001, .00025, .0005, .001, .0025, .005, .0075, .01, .015, .02, .03, .05, .075, .1, .15, .25, .5, 1, 2.5, 5, 10, 30, 60}
	m := &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "scheduler_schedule_attempts_total", Help: "Scheduling attempts by result: scheduled (bound), unschedulable, error (a failed bind included).",
		}, []string{"result"}),
		e2e: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scheduler_e2e_scheduling_duration_seconds", Help: "From a pod entering the queue to its binding written, for pods bound.",
			Buckets: buckets,
		}),
		algorithm: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scheduler_scheduling_algorithm_duration_seconds", Help: "Time one cycle spends filtering and scoring nodes.",
			Buckets: buckets,
		}),
		binding: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "scheduler_binding_duration_seconds", Help: "Time the binding write takes.",
			Buckets: buckets,
		}),
		preemptions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scheduler_preemption_attempts_total", Help: "Pods that fit nowhere and were nominated to a node after preempting lower-priority pods.",
		}),
		victims: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "scheduler_preemption_victims_total", Help: "Pods evicted to make room for higher-priority pods.",
		}),
	}
	length := func(part string, f func(a, b, u int) int) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "scheduler_pending_pods", Help: "Pods waiting in each part of the queue.", ConstLabels: prometheus.Labels{"queue": part},
		}, func() float64 { return float64(f(q.Lengths())) })
	}
	cs := []prometheus.Collector{m.attempts, m.e2e, m.algorithm, m.binding, m.preemptions, m.victims,
		length("active", func(a, _, _ int) int { return a }),
		length("backoff", func(_, b, _ int) int { return b }),
		length("unschedulable", func(_, _, u int) int { return u }),
	}
	if reg == nil {
		return m, nil
	}
	for _, c := range cs {
		if err := reg.Register(c); err != nil {
			var are prometheus.AlreadyRegisteredError
			if !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
