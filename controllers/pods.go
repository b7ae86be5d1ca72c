package controllers

import (
	"github.com/cloudmgr/cloud/api"
	"github.com/cloudmgr/cloud/client"
)

// PodCache is the manager's shared pod cache with the indexes the
// controllers look pods up by (namespace).
func PodCache(m *Manager) *client.Cache {
	c := CacheFor[api.Pod](m)
	c.AddIndex(client.IndexNamespace, client.NamespaceIndex)
	return c
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
