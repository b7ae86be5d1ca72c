package controllers

import (
	"time"

	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// IndexPodNode is the name of the index of pods by the node they are
// bound to (PodNodeIndex).
const IndexPodNode = "spec.nodeName"

// PodNodeIndex indexes a pod by its node; an unbound pod is not indexed.
func PodNodeIndex(obj api.Object) []string {
	if p, ok := obj.(*api.Pod); ok && p.Spec.NodeName != "" {
		return []string{p.Spec.NodeName}
	}
	return nil
}

// PodCache is the manager's shared pod cache with the indexes the
// controllers look pods up by: namespace and node.
func PodCache(m *Manager) *client.Cache {
	c := CacheFor[api.Pod](m)
	c.AddIndex(client.IndexNamespace, client.NamespaceIndex)
	c.AddIndex(IndexPodNode, PodNodeIndex)
	return c
}

// PodsOnNode returns the cached pods bound to node. Callers must not
// modify them. It uses the node index of a cache from PodCache, and scans
// any other pod cache.
func PodsOnNode(pods *client.Cache, node string) []*api.Pod {
	objs, err := pods.ByIndex(IndexPodNode, node)
	if err != nil {
		objs = pods.List()
	}
	out := make([]*api.Pod, 0, len(objs))
	for _, o := range objs {
		if p := o.(*api.Pod); p.Spec.NodeName == node {
			out = append(out, p)
		}
	}
	return out
}

// PodsIn returns the cached pods of namespace ns. Callers must not modify
// them. It uses the namespace index of a cache from PodCache, and scans
// any other pod cache.
func PodsIn(pods *client.Cache, ns string) []*api.Pod {
	objs, err := pods.ByIndex(client.IndexNamespace, ns)
	if err != nil {
		objs = pods.List()
	}
	out := make([]*api.Pod, 0, len(objs))
	for _, o := range objs {
		if p := o.(*api.Pod); p.Namespace == ns {
			out = append(out, p)
		}
	}
	return out
}

// PodReadySince is when the pod's Ready condition last turned True; zero
// when the pod is not Ready.
func PodReadySince(p *api.Pod) time.Time {
	if c := api.PodConditionByType(&p.Status, api.PodReady); c != nil && c.Status == api.ConditionTrue {
		return c.LastTransitionTime.Time
	}
	return time.Time{}
}

// PodAvailable reports whether a pod has been Ready for minReady seconds
// by now, as a workload's minReadySeconds asks.
func PodAvailable(p *api.Pod, minReady int32, now time.Time) bool {
	if !IsPodReady(p) {
		return false
	}
	if minReady <= 0 {
		return true
	}
	since := PodReadySince(p)
	return !since.IsZero() && !since.Add(time.Duration(minReady)*time.Second).After(now)
}

// PodAvailableIn is how long until a Ready pod becomes available: 0 when
// it is available already or not Ready at all.
func PodAvailableIn(p *api.Pod, minReady int32, now time.Time) time.Duration {
	since := PodReadySince(p)
	if since.IsZero() || PodAvailable(p, minReady, now) {
		return 0
	}
	return since.Add(time.Duration(minReady) * time.Second).Sub(now)
}
