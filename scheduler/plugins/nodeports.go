package plugins

import (
	"context"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/scheduler/framework"
	"github.com/cloudmgr/cloud/scheduler/nodeinfo"
)

// ReasonNodePorts rejects nodes where a host port the pod asks for is taken.
const ReasonNodePorts = "node(s) didn't have free ports for the requested pod ports"

// NodePorts keeps a pod off nodes where one of its host ports (protocol
// and port) is already taken. The code is Unschedulable: evicting the pod
// holding the port frees it.
type NodePorts struct{ pods *podInfoCache }

// Name is the plugin's name.
func (NodePorts) Name() string { return "NodePorts" }

// PreFilter skips the filter for a pod with no host ports.
func (p NodePorts) PreFilter(_ context.Context, s *framework.CycleState, pod *api.Pod) *framework.Status {
	if len(p.pods.get(s, pod, true).Ports) == 0 {
		return framework.NewStatus(framework.Skip)
	}
	return nil
}

// Filter rejects a node where a requested host port is in use.
func (p NodePorts) Filter(_ context.Context, s *framework.CycleState, pod *api.Pod, n *nodeinfo.NodeInfo) *framework.Status {
	for _, hp := range p.pods.get(s, pod, false).Ports {
		if n.UsedPorts[hp] > 0 {
			return framework.NewStatus(framework.Unschedulable, ReasonNodePorts)
		}
	}
	return nil
}
