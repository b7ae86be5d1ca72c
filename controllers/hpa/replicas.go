package hpa

import (
	"errors"
	"fmt"
	"math"

	"github.com/cloudmgr/cloud/api"
)

// ErrNoMetrics is returned when none of the target's ready pods has a CPU
// figure, so no utilization can be computed.
var ErrNoMetrics = errors.New("did not receive metrics for any ready pod of the target")

// PodSample is what the algorithm knows of one pod of the target.
type PodSample struct {
	Name string
	// Ignored pods (terminating or finished) count for nothing.
	Ignored bool
	// Ready is false for a pod still Pending or Running but not Ready.
	Ready bool
	// RequestMilli is the sum of its containers' cpu requests.
	RequestMilli int64
	// UsageMilli is its measured cpu, valid when HasMetrics.
	UsageMilli int64
	HasMetrics bool
}

// Calculation is the outcome of the replica calculation.
type Calculation struct {
	// Replicas is the recommendation before stabilization and bounds.
	Replicas int32
	// Utilization is the average utilization (percent of requests) of the
	// ready pods with metrics; AverageMilli their average usage.
	Utilization  int32
	AverageMilli int64
	// The pods by how they were counted.
	ReadyWithMetrics, Unready, Missing, Ignored int
}

// Samples pairs the target's pods with their cpu usage (by pod name) and
// their requests. A pod counted (not ignored) with a container without a
// cpu request is an error: no utilization can be computed for it.
func Samples(pods []*api.Pod, usage map[string]int64) ([]PodSample, error) {
	out := make([]PodSample, 0, len(pods))
	for _, p := range pods {
		s := PodSample{Name: p.Name}
		if p.DeletionTimestamp != nil || p.Status.Phase == api.PodFailed || p.Status.Phase == api.PodSucceeded {
			s.Ignored = true
			out = append(out, s)
			continue
		}
		for _, c := range p.Spec.Containers {
			q, ok := c.Resources.Requests[api.ResourceCPU]
			if !ok {
				return nil, fmt.Errorf("missing request for cpu in container %s of pod %s", c.Name, p.Name)
			}
			s.RequestMilli += q.MilliValue()
		}
		s.Ready = p.Status.Phase == api.PodRunning && podReady(p)
		s.UsageMilli, s.HasMetrics = usage[p.Name]
		out = append(out, s)
	}
	return out, nil
}

func podReady(p *api.Pod) bool {
	c := api.PodConditionByType(&p.Status, api.PodReady)
	return c != nil && c.Status == api.ConditionTrue
}

// Calculate is Kubernetes' replica calculation for a resource utilization
// target (pkg/controller/podautoscaler/replica_calculator.go), simplified
// in one respect: a pod is "unready" when it is Pending or not Ready,
// without Kubernetes' CPU initialization period.
//
//   - Terminating and finished pods are ignored.
//   - utilization = sum(usage) / sum(requests) over the ready pods with
//     metrics; ratio = utilization / target.
//   - With no unready pod and no pod missing metrics: within tolerance of
//     1 nothing changes, else desired = ceil(ratio × ready-with-metrics).
//   - Otherwise the ratio is recomputed conservatively: when scaling down
//     (ratio < 1) a pod without metrics counts as using 100% of its
//     request; when scaling up it counts as 0%, and so do unready pods
//     (which are otherwise left out). If the new ratio is within tolerance
//     or points the other way, nothing changes; desired = ceil(new ratio ×
//     pods counted), never moving against the first ratio's direction.
func Calculate(samples []PodSample, current, targetPercent int32, tolerance float64) (Calculation, error) {
	var c Calculation
	var usage, requests int64
	for _, s := range samples {
		switch {
		case s.Ignored:
			c.Ignored++
		case !s.Ready:
			c.Unready++
		case !s.HasMetrics:
			c.Missing++
		default:
			c.ReadyWithMetrics++
			usage += s.UsageMilli
			requests += s.RequestMilli
		}
	}
	if c.ReadyWithMetrics == 0 {
		return c, ErrNoMetrics
	}
	if requests <= 0 {
		return c, fmt.Errorf("the ready pods request no cpu")
	}
	c.Utilization = int32(usage * 100 / requests)
	c.AverageMilli = usage / int64(c.ReadyWithMetrics)
	ratio := float64(usage) * 100 / float64(requests) / float64(targetPercent)
	scaleUp := ratio > 1
	rebalanceUnready := c.Unready > 0 && scaleUp
	if !rebalanceUnready && c.Missing == 0 {
		if math.Abs(1-ratio) <= tolerance {
			c.Replicas = current
			return c, nil
		}
		c.Replicas = int32(math.Ceil(ratio * float64(c.ReadyWithMetrics)))
		return c, nil
	}
	counted := c.ReadyWithMetrics
	for _, s := range samples {
		switch {
		case s.Ignored:
		case s.Ready && !s.HasMetrics:
			counted++
			requests += s.RequestMilli
			if !scaleUp {
				usage += s.RequestMilli // 100% of its request
			}
		case !s.Ready && rebalanceUnready:
			counted++
			requests += s.RequestMilli // 0% of its request
		}
	}
	newRatio := float64(usage) * 100 / float64(requests) / float64(targetPercent)
	if math.Abs(1-newRatio) <= tolerance || (ratio < 1 && newRatio > 1) || (ratio > 1 && newRatio < 1) {
		c.Replicas = current
		return c, nil
	}
	n := int32(math.Ceil(newRatio * float64(counted)))
	if (newRatio < 1 && n > current) || (newRatio > 1 && n < current) {
		n = current
	}
	c.Replicas = n
	return c, nil
}
