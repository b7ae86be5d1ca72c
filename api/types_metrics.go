package api

import (
	"encoding/json"
	"fmt"
	"time"
)

// The metrics API group: read-only figures measured by the node agents,
// shaped like Kubernetes' metrics.k8s.io/v1beta1. Nothing of it is stored:
// the API server asks the node agents for it on each request.
const (
	GroupMetrics      = "metrics.cloudmgr.dev"
	VersionMetrics    = "v1"
	APIVersionMetrics = GroupMetrics + "/" + VersionMetrics

	KindPodMetrics  = "PodMetrics"
	KindNodeMetrics = "NodeMetrics"
)

// Duration is a length of time serialized as a Go duration string ("10s"),
// as Kubernetes' metav1.Duration.
type Duration struct {
	time.Duration
}

// MarshalJSON writes the duration as a string.
func (d Duration) MarshalJSON() ([]byte, error) { return json.Marshal(d.Duration.String()) }

// UnmarshalJSON reads a duration string such as "10s" or "1m30s".
func (d *Duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("duration must be a string like \"10s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	if err != nil {
		return fmt.Errorf("invalid duration %q: %w", s, err)
	}
	d.Duration = v
	return nil
}

// PodMetrics is the resource use of one pod's containers, measured on its
// node: cpu in cores averaged over Window, memory as the working set.
type PodMetrics struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	// Timestamp is when the window ended.
	Timestamp Time `json:"timestamp"`
	// Window is how long the CPU figure was averaged over.
	Window     Duration           `json:"window"`
	Containers []ContainerMetrics `json:"containers"`
}

// ContainerMetrics is one container's resource use.
type ContainerMetrics struct {
	Name  string       `json:"name"`
	Usage ResourceList `json:"usage"`
}

// PodMetricsList is a list of PodMetrics.
type PodMetricsList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta     `json:"metadata"`
	Items    []PodMetrics `json:"items"`
}

// NodeMetrics is the resource use of one whole node.
type NodeMetrics struct {
	TypeMeta   `json:",inline"`
	ObjectMeta `json:"metadata"`
	Timestamp  Time         `json:"timestamp"`
	Window     Duration     `json:"window"`
	Usage      ResourceList `json:"usage"`
}

// NodeMetricsList is a list of NodeMetrics.
type NodeMetricsList struct {
	TypeMeta `json:",inline"`
	Metadata ListMeta      `json:"metadata"`
	Items    []NodeMetrics `json:"items"`
}

// validateNodeUsage checks a node's measured use: cpu and memory only,
// none negative, over a window of positive length.
func validateNodeUsage(u *NodeUsage) ErrorList {
	if u == nil {
		return nil
	}
	var errs ErrorList
	if u.WindowSeconds <= 0 {
		errs = append(errs, invalid("status.usage.windowSeconds", u.WindowSeconds, "must be greater than 0"))
	}
	errs = append(errs, validateResourceList(u.Node, "status.usage.node", ResourceCPU, ResourceMemory)...)
	errs = append(errs, validateResourceList(u.Pods, "status.usage.pods", ResourceCPU, ResourceMemory)...)
	return errs
}
