package autoscaler

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the autoscaler's Prometheus figures.
type metrics struct {
	decisions *prometheus.CounterVec
	loop      prometheus.Histogram
	latency   *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		decisions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "cloud_autoscaler_decisions_total",
			Help: "Node autoscaler decisions by trigger and outcome.",
		}, []string{"trigger", "outcome"}),
		loop: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "cloud_autoscaler_loop_duration_seconds",
			Help:    "Duration of a node autoscaler loop: snapshot, decision and writes.",
			Buckets: []float64{.001, .005, .01, .05, .1, .25, .5, 1, 2.5, 5},
		}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "cloud_autoscaler_decision_latency_seconds",
			Help:    "From a trigger holding (the utilization window over, or a pod marked unschedulable) to the pool's replicas written, by trigger.",
			Buckets: []float64{.05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60},
		}, []string{"trigger"}),
	}
	if reg != nil {
		m.decisions = register(reg, m.decisions)
		m.loop = register(reg, m.loop)
		m.latency = register(reg, m.latency)
	}
	return m
}

// register registers c on reg, or returns the collector a previous term
// of leadership registered.
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
	}
	return c
}
